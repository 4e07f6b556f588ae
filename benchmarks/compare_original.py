"""Ours against the original NEZHA-TensorFlow, side by side on this host, step by step; JSON lines.

    bash ../shared/tools/prepare_original.sh MIRROR /tmp/original      # once (see ../shared/tools/README.md)
    .venv/bin/python benchmarks/compare_original.py --original=/tmp/original
    .venv/bin/python benchmarks/compare_original.py --original=/tmp/original --cases=train,128,8 \\
        --variants="fp32=;bf16=--precision=mixed_bfloat16"
    .venv/bin/python benchmarks/compare_original.py --nowith_original --variants="dense=--relative_attention=dense;per_distance=--relative_attention=per_distance"
    git archive HEAD~3 | tar -x -C /tmp/before    # an earlier version of ours against this one:
    .venv/bin/python benchmarks/compare_original.py --nowith_original --variants="before=--code=/tmp/before;now="

For each case (NEZHA-base unless --model=tiny, mode,seq,batch) one worker process per implementation builds its step
and waits: the original (its own TF1 graph through tf.compat.v1, built as ../shared/tools/bench_original.py
builds it: LAMB on masked LM with 20 predictions + next sentence, or the forward pass to the pooled
output), and one per variant of ours (pretraining_throughput.py's step: Trainer.run_update, or the
forward to the pooled output, with the variant's flags). The parent then asks them for one step
each, in turn, `--pairs` times (the order reversed every other time), so that the steps compared
with each other ran seconds apart: on a shared machine whose speed changes by 2-4x within minutes
this is what keeps a ratio meaningful. An idle worker waits on its pipe and takes no CPU.

Each time round, the first of our workers also measures the host's float32 matmul rate in its own
process (best of 3 runs of a 2048-cube tf.matmul). Per case it prints one line per implementation
with its median step time, sequences/s and peak RSS, and one line per comparison: the median of
the per-turn ratios (ours / the reference; the reference is the original, or the first variant
without it) with their min and max, and the share of the matmul rate each step achieves: the
step's matmul FLOPs, counted analytically (`step_matmul_flops`), over its time.

This is a benchmark, never a test: the project does not need the original to install or to pass.
"""
import json
import statistics
import sys
import time
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from nezha_setup import MODELS, PREDICTIONS  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("original", None, "Directory made by ../shared/tools/prepare_original.sh (the original's code).")
flags.DEFINE_string("cases", "train,128,8;train,512,2;forward,128,8;forward,512,2",
                    "Semicolon-separated mode,seq,batch (mode train or forward), NEZHA-base.")
flags.DEFINE_string("variants", "ours=", "Semicolon-separated name=flags of our worker (space-separated: "
                    "--precision, --relative_attention, --xla, --intra_op_threads, --inter_op_threads), one "
                    "worker of ours per variant; e.g. "
                    "'fp32=;bf16=--precision=mixed_bfloat16'.")
flags.DEFINE_enum("model", "nezha-base", list(MODELS), "Model size of every worker (the original's too); tiny only "
                  "checks the output format.")
flags.DEFINE_bool("with_original", True, "Run the original too (off: compare the variants of ours only).")
flags.DEFINE_integer("pairs", 8, "Timed turns per case: each implementation runs one step per turn.")
flags.DEFINE_integer("warmup", 2, "Untimed steps of each worker before the first turn.")
flags.DEFINE_integer("start_timeout_s", 1200, "A worker not ready (built and warmed up) by then fails the case.")
flags.DEFINE_integer("profile_steps", 0, "After the timed turns, trace this many more steps of each worker with "
                     "tf.profiler and print where its time goes by op type (benchmarks/op_profile.py). 0: off.")
flags.DEFINE_string("output", None, "Also append the JSON lines to this file.")
# The worker's own flags (the parent starts workers with them).
flags.DEFINE_enum("worker", None, ["original", "ours"], "Internal: run as a worker of this implementation.")
flags.DEFINE_string("case", None, "Internal (worker): mode,seq,batch.")
flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"],
                  "Worker of ours: the Keras policy (as --use_bf16 / --use_fp16 set it).")
flags.DEFINE_enum("relative_attention", "auto", ["auto", "dense", "per_distance"],
                  "Worker of ours: how the relative-position terms are computed.")
flags.DEFINE_bool("xla", False, "Worker of ours: XLA (jit_compile) as --use_xla sets it.")
flags.DEFINE_integer("intra_op_threads", 0, "Worker (either): TensorFlow's intra-op thread pool size (0: its default, "
                     "the number of cores). For the original pass it in --original_flags.")
flags.DEFINE_integer("inter_op_threads", 0, "Worker (either): TensorFlow's inter-op thread pool size (0: its default).")
flags.DEFINE_string("original_flags", "", "Space-separated worker flags for the original's worker (the thread "
                    "settings), e.g. '--inter_op_threads=1'.")
flags.DEFINE_string("code", None, "Variant of ours: run its worker from this copy of the project (e.g. an earlier "
                    "commit unpacked with `git archive COMMIT | tar -x -C DIR`), to compare code versions.")

HERE = Path(__file__).resolve().parent


def step_matmul_flops(mode: str, seq: int, batch: int, config=MODELS["nezha-base"],
                      predictions: int = PREDICTIONS) -> float:
    """FLOPs (2 per multiply-add) of the matrix products of one step, as the original's algorithm does
    them: per token the four projections and the feed-forward pair (2 (4 H^2 + 2 H I)), per token and
    key the four attention products (scores, relative key term, context, relative value term:
    8 H L), the pooler; in training also the masked-LM transform and tied output over `predictions`
    positions (2 (H^2 + H V) each) and the next-sentence layer, and the backward pass at twice the
    forward. Embedding lookups, the one-hot products the original gathers with and the elementwise
    work are not counted: this is the work any implementation must do."""
    h, inter, layers, vocab = (config[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                                   "vocab_size"))
    tokens = seq * batch
    per_layer = tokens * (2 * (4 * h * h + 2 * h * inter) + 8 * h * seq)
    forward = layers * per_layer + batch * 2 * h * h
    if mode == "forward":
        return float(forward)
    heads = batch * predictions * 2 * (h * h + h * vocab) + batch * 2 * h * 2
    return float(3 * (forward + heads))


def parse_cases(text):
    cases = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        mode, seq, batch = item.split(",")
        if mode not in ("train", "forward"):
            raise app.UsageError(f"--cases: mode must be train or forward, got {mode!r} in {item!r}")
        cases.append((mode, int(seq), int(batch)))
    return cases


def parse_variants(text):
    variants = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        name, _, extra = item.partition("=")
        variants.append((name.strip(), extra.split()))
    if not variants:
        raise app.UsageError("--variants names no variant of ours")
    return variants


# ----------------------------------------------------------------------------------------------- workers
def serve(step, matmul=None):
    """After the warm-up: one step per 'step' line on stdin, its seconds on stdout; 'quit' -> peak RSS."""
    for _ in range(FLAGS.warmup):
        step()
    common.reply({"ready": True})
    for line in sys.stdin:
        command = line.strip()
        if command == "step":
            started = time.perf_counter()
            step()
            common.reply({"seconds": time.perf_counter() - started})
        elif command == "matmul":
            common.reply({"matmul_gflops": matmul()})
        elif command.startswith("profile "):
            from op_profile import profile_steps, summarize
            common.reply(summarize(profile_steps(step, int(command.split()[1]))))
        elif command == "quit":
            common.reply({"peak_rss_mb": common.peak_rss_mb()})
            return


def original_worker(mode, seq, batch):
    """The original's step on random ids, built as ../shared/tools/bench_original.py builds it."""
    import numpy as np
    sys.path.insert(0, str(Path(FLAGS.original).resolve()))
    import tensorflow.compat.v1 as tf
    tf.disable_v2_behavior()
    import modeling
    import optimization
    import run_pretraining

    c = MODELS[FLAGS.model]
    config = modeling.BertConfig(vocab_size=c["vocab_size"], hidden_size=c["hidden_size"],
                                 num_hidden_layers=c["num_hidden_layers"],
                                 num_attention_heads=c["num_attention_heads"],
                                 intermediate_size=c["intermediate_size"], use_relative_position=True)
    rng = np.random.RandomState(0)
    ids = tf.constant(rng.randint(1, c["vocab_size"], (batch, seq)), tf.int32)
    model = modeling.BertModel(config, is_training=mode == "train", input_ids=ids,
                               input_mask=tf.ones((batch, seq), tf.int32),
                               token_type_ids=tf.zeros((batch, seq), tf.int32))
    if mode == "forward":
        op = model.get_pooled_output()
    else:
        positions = tf.constant(rng.randint(0, seq, (batch, PREDICTIONS)), tf.int32)
        labels = tf.constant(rng.randint(0, c["vocab_size"], (batch, PREDICTIONS)), tf.int32)
        mlm, _, _ = run_pretraining.get_masked_lm_output(config, model.get_sequence_output(),
                                                         model.get_embedding_table(), positions, labels,
                                                         tf.ones((batch, PREDICTIONS)))
        nsp, _, _ = run_pretraining.get_next_sentence_output(config, model.get_pooled_output(),
                                                             tf.zeros((batch, 1), tf.int32))
        op = optimization.create_optimizer(mlm + nsp, 1e-4, 1000, 10, optimizer_algo="lamb")
    session = tf.Session(config=tf.ConfigProto(intra_op_parallelism_threads=FLAGS.intra_op_threads,
                                               inter_op_parallelism_threads=FLAGS.inter_op_threads))
    session.run(tf.global_variables_initializer())
    serve(lambda: session.run(op))


def ours_worker(mode, seq, batch):
    import tempfile
    import tensorflow as tf
    from nezha_setup import make_forward, make_trainer, synthetic_batch

    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.intra_op_threads)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.inter_op_threads)
    config = MODELS[FLAGS.model]
    features = synthetic_batch(seq, batch, config["vocab_size"])
    if mode == "forward":
        step = make_forward(config, features, FLAGS.xla, FLAGS.relative_attention, FLAGS.precision, "pooled")
        serve(step, lambda: common.matmul_gflops(repeats=3))
        return
    with tempfile.TemporaryDirectory() as output_dir:
        trainer = make_trainer(config, features, FLAGS.xla, output_dir, FLAGS.relative_attention,
                               precision=FLAGS.precision)
        serve(lambda: trainer.run_update([features]), lambda: common.matmul_gflops(repeats=3))


# ------------------------------------------------------------------------------------------------ parent
class Worker(common.PipeWorker):
    def __init__(self, name, case, extra):
        script = __file__
        for flag in extra:
            if flag.startswith("--code="):
                script = str(Path(flag.split("=", 1)[1]) / "benchmarks" / "compare_original.py")
        extra = [flag for flag in extra if not flag.startswith("--code=")]
        command = [sys.executable, script, f"--case={','.join(map(str, case))}", f"--warmup={FLAGS.warmup}",
                   f"--model={FLAGS.model}"]
        if name == "original":
            command += ["--worker=original", f"--original={FLAGS.original}"] + FLAGS.original_flags.split()
        else:
            command += ["--worker=ours"] + list(extra)
        super().__init__(name, command, "compare_original")


def significant(value: float, digits: int = 4) -> float:
    """`value` to `digits` significant digits: a tiny model's step time or FLOPs do not print as 0.0."""
    return float(f"{value:.{digits}g}")


def emit(result):
    common.emit(result)
    if FLAGS.output:
        with open(FLAGS.output, "a") as out:
            out.write(json.dumps(result) + "\n")


def run_case(case, runners):
    mode, seq, batch = case
    label = f"{mode}_{seq}x{batch}"
    workers = [Worker(name, case, extra) for name, extra in runners]
    try:
        for worker in workers:  # all build at once; each answers when warmed up
            worker.ask()
        seconds = {worker.name: [] for worker in workers}
        gflops = []
        ours = [worker for worker in workers if worker.name != "original"][0]
        for turn in range(FLAGS.pairs):
            order = workers if turn % 2 == 0 else workers[::-1]
            for worker in order:
                seconds[worker.name].append(worker.ask("step")["seconds"])
            gflops.append(ours.ask("matmul")["matmul_gflops"])
        profiles = {worker.name: worker.ask(f"profile {FLAGS.profile_steps}") for worker in workers
                    if FLAGS.profile_steps}
        rss = {worker.name: worker.ask("quit")["peak_rss_mb"] for worker in workers}
    except RuntimeError as error:
        emit({"case": label, "error": str(error)})
        return
    finally:
        for worker in workers:
            worker.close()
    flops = step_matmul_flops(mode, seq, batch, MODELS[FLAGS.model])
    shares = {name: [flops / t / (g * 1e9) for t, g in zip(times, gflops)] for name, times in seconds.items()}
    for name, times in seconds.items():
        median = statistics.median(times)
        emit({"case": label, "model": FLAGS.model, "impl": name, "seq_per_s": round(batch / median, 3),
              "seconds_median": significant(median), "seconds_min": significant(min(times)),
              "seconds_max": significant(max(times)), "turns": len(times), "peak_rss_mb": rss[name],
              "step_matmul_gflop": significant(flops / 1e9),
              "matmul_share_median": significant(statistics.median(shares[name])),
              "matmul_gflops_median": round(statistics.median(gflops), 1),
              "matmul_gflops_min": min(gflops), "matmul_gflops_max": max(gflops),
              "load_average_1min": common.load_average()})
    for name, profile in profiles.items():
        emit({"case": label, "impl": name, "profile": profile})
    names = [name for name, _ in runners]
    references = [names[0]] + ([names[1]] if names[0] == "original" and len(names) > 2 else [])
    for reference in references:
        for name in names[names.index(reference) + 1:]:
            ratios = [r / t for r, t in zip(seconds[reference], seconds[name])]
            emit({"case": label, "model": FLAGS.model, "variant": name, "against": reference,
                  "speed_ratio_median": round(statistics.median(ratios), 3),
                  "speed_ratio_min": round(min(ratios), 3), "speed_ratio_max": round(max(ratios), 3),
                  "turns": len(ratios), "peak_rss_ratio": round(rss[name] / rss[reference], 3),
                  "matmul_gflops_median": round(statistics.median(gflops), 1)})


def main(argv):
    del argv
    common.quiet_tensorflow()
    if FLAGS.worker:
        mode, seq, batch = FLAGS.case.split(",")
        (original_worker if FLAGS.worker == "original" else ours_worker)(mode, int(seq), int(batch))
        return
    if FLAGS.with_original and (not FLAGS.original or not (Path(FLAGS.original) / "modeling.py").is_file()):
        raise app.UsageError("--original must be the directory made by ../shared/tools/prepare_original.sh "
                             f"(with modeling.py in it); got {FLAGS.original!r}")
    runners = parse_variants(FLAGS.variants)
    if FLAGS.with_original:
        runners.insert(0, ("original", []))
    for case in parse_cases(FLAGS.cases):
        run_case(case, runners)


if __name__ == "__main__":
    app.run(main)
