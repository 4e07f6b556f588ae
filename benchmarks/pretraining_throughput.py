"""NEZHA-base throughput on synthetic data: the training step and the forward pass; one JSON line per case.

train: the loop's own compiled update (Trainer.run_update: LAMB, MLM + NSP, 20 predictions,
global-norm clipping), as run_pretraining.py runs it. forward: the pretraining model called with
training=False in one tf.function of fixed input signature. Each at seq 128 x batch 8 and seq
512 x batch 2, with and without XLA (jit_compile). Run alone, each case is its own subprocess so
its peak RSS is its own; run_all.py does the same.
"""
import subprocess
import sys
import tempfile
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from nezha_setup import MODELS, PREDICTIONS, make_forward, make_trainer, synthetic_batch  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("case", None, "mode,seq,batch,xla (mode train or forward, xla 0/1): run one case in this "
                                  "process. Without it every case runs, each in a subprocess.")
flags.DEFINE_integer("warmup", 2, "Untimed calls per case (tracing, compilation, first allocations).")
flags.DEFINE_integer("steps", 3, "Timed calls per case; the rate is from the median call.")
flags.DEFINE_enum("relative_attention", "auto", ["auto", "dense", "per_distance"],
                  "How the relative-position terms are computed (auto, the default of every model: dense up to "
                  "512 tokens, per_distance beyond; see RelativePositions).")
flags.DEFINE_bool("recompute_layers", False, "Train with NezhaModel(recompute_layers=True): each transformer layer "
                  "recomputed in the backward pass (less memory, more compute). Training cases only.")
flags.DEFINE_enum("model", "nezha-base", list(MODELS), "Model size; tiny only checks the output format.")
flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"],
                  "Keras policy the model is built under, as run_pretraining.py's --use_bf16 / --use_fp16 set it "
                  "(fp16 training also gets the original's dynamic loss scale).")
flags.DEFINE_enum("forward_output", "pretraining", ["pretraining", "pooled"],
                  "Forward cases: what the timed call returns. pretraining: the masked-LM log-probs of the 20 "
                  "predictions and the next-sentence log-probs (NezhaForPretraining); pooled: the encoder's "
                  "pooled output only (the same work as the original's forward in bench_original.py).")

SHAPES = [(128, 8), (512, 2)]
CASES = [(mode, seq, batch, xla) for mode in ("train", "forward") for seq, batch in SHAPES for xla in (False, True)]


def train_seconds(model_config, features, xla, warmup, steps, relative_attention):
    with tempfile.TemporaryDirectory() as output_dir:
        trainer = make_trainer(model_config, features, xla, output_dir, relative_attention,
                               recompute_layers=FLAGS.recompute_layers, precision=FLAGS.precision)
        return common.time_calls(lambda: trainer.run_update([features]), warmup, steps)


def forward_seconds(model_config, features, xla, warmup, steps, relative_attention):
    forward = make_forward(model_config, features, xla, relative_attention, FLAGS.precision, FLAGS.forward_output)
    return common.time_calls(forward, warmup, steps)


def run_case(model, mode, seq, batch, xla, warmup, steps, relative_attention):
    common.quiet_tensorflow()
    features = synthetic_batch(seq, batch, MODELS[model]["vocab_size"])
    measure = train_seconds if mode == "train" else forward_seconds
    seconds = measure(MODELS[model], features, xla, warmup, steps, relative_attention)
    config = {"model": model, "seq": seq, "batch": batch, "xla": xla,
              "relative_attention": relative_attention, "precision": FLAGS.precision}
    name = f"{mode}_{seq}x{batch}" + ("_xla" if xla else "")
    if FLAGS.precision != "float32":
        name += "_" + FLAGS.precision.replace("mixed_", "")
    if mode == "forward":
        config.update(output=FLAGS.forward_output)
    if mode == "train":
        config.update(optimizer="lamb", predictions=PREDICTIONS, losses="mlm+nsp")
        if FLAGS.recompute_layers:
            config.update(recompute_layers=True)
            name += "_recompute"
    return common.record(name, config,
                         common.timing_fields(seconds, batch, "sequences_per_s"))


def case_argument(mode, seq, batch, xla):
    return f"--case={mode},{seq},{batch},{int(xla)}"


def main(argv):
    del argv
    if FLAGS.case:
        mode, seq, batch, xla = FLAGS.case.split(",")
        if mode not in ("train", "forward"):
            raise app.UsageError(f"--case: mode must be train or forward, got {mode!r}")
        common.emit(run_case(FLAGS.model, mode, int(seq), int(batch), bool(int(xla)), FLAGS.warmup, FLAGS.steps,
                             FLAGS.relative_attention))
        return
    for case in CASES:
        command = [sys.executable, __file__, case_argument(*case), f"--warmup={FLAGS.warmup}",
                   f"--steps={FLAGS.steps}", f"--relative_attention={FLAGS.relative_attention}",
                   f"--recompute_layers={FLAGS.recompute_layers}", f"--precision={FLAGS.precision}",
                   f"--forward_output={FLAGS.forward_output}",
                   f"--model={FLAGS.model}"]
        completed = subprocess.run(command, capture_output=True, text=True)
        if completed.returncode != 0:
            common.emit({"name": case[0], "config": {"case": case}, "error": completed.stderr.strip()[-500:]})
            continue
        print(completed.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    app.run(main)
