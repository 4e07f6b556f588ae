"""Fine-tuning and prediction speed with the original's fixed shapes against dynamic padding,
--group_by_length and bf16, side by side on this host on the shared task data; JSON lines.

    .venv/bin/python benchmarks/finetune_speed.py                      # LCQMC, XNLI, People's Daily NER
    .venv/bin/python benchmarks/finetune_speed.py --original=/tmp/original   # also the original's steps
    .venv/bin/python benchmarks/finetune_speed.py --tasks=lcqmc --model=tiny --train_steps=1 --turns=1

Per task (LCQMC and XNLI at max_seq_length 128, the original's; People's Daily NER at 256, the
original's NER script's) one worker process per variant builds the task's model on the task's
shared file (LCQMC, XNLI and NER ship a dev file only: it serves as training data here, for speed
alone), its training stream (shuffled, as run_clf / run_seq_labelling make it) and a prediction
slice (the file's first examples; with dynamic padding batched in order of length, as the scripts
batch prediction), then waits. The parent asks each worker in turn for
--train_steps updates and for one prediction pass, --turns times, the order reversed every other
turn, as compare_original.py does: on a shared host whose speed changes within minutes, steps run
seconds apart are what a ratio can be taken of. Variants: (a) --pad_to_max_seq_length (the
original's shapes), (b) dynamic padding (the default), (c) dynamic + --group_by_length, each in
float32 and with --use_bf16. Rates are examples per second over all timed steps; the ratio lines
divide every variant's rate by (a)'s. With --original, ../shared/tools/bench_original.py then runs
the original's pretraining step and forward pass at the same size, batch and length (its
sequences/s ties (a) to the original; its heads and optimizer differ from a fine-tuning step's).

The model is smaller than NEZHA-base by default (--model; named in every line): base takes minutes
per step on a shared 2-core host. This is a benchmark, never a test.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from nezha_setup import NEZHA_BASE, TINY_NEZHA  # noqa: E402

FLAGS = flags.FLAGS
# 4 layers of 256: the base model's shape (relative positions, 21128 ids) at about a fifteenth of its work.
SMALL = dict(NEZHA_BASE, hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
MODELS = {"nezha-base": NEZHA_BASE, "small-4l-256h": SMALL, "tiny": dict(TINY_NEZHA, vocab_size=21128)}
# task -> (script's task, shared file, max_seq_length)
TASKS = {"lcqmc": ("lcqmc", "lcqmc/dev.tsv", 128), "xnli": ("xnli", "xnli_zh/dev.tsv", 128),
         "ner": ("ner", "peoples_daily_ner/dev.txt", 256)}
VARIANTS = ("fixed=--pad_to_max_seq_length;dynamic=;grouped=--group_by_length;"
            "fixed_bf16=--pad_to_max_seq_length --use_bf16;dynamic_bf16=--use_bf16;grouped_bf16=--group_by_length --use_bf16")

flags.DEFINE_string("tasks", "lcqmc,xnli,ner", "Comma-separated tasks: lcqmc, xnli, ner.")
flags.DEFINE_string("variants", VARIANTS, "Semicolon-separated name=flags (--pad_to_max_seq_length, --group_by_length, "
                    "--use_bf16); the first is the reference of the ratio lines.")
flags.DEFINE_enum("model", "small-4l-256h", list(MODELS), "Model size of every worker (tiny: output format only).")
flags.DEFINE_integer("batch_size", 16, "Training and prediction batch size.")
flags.DEFINE_integer("train_steps", 3, "Timed updates per worker per turn.")
flags.DEFINE_integer("predict_batches", 3, "Batches of the prediction slice (timed once per turn).")
flags.DEFINE_integer("turns", 2, "Timed turns per task.")
flags.DEFINE_integer("max_examples", 3000, "Training examples read from each task's file (its first ones).")
flags.DEFINE_string("original", None, "Directory made by ../shared/tools/prepare_original.sh: also run "
                    "../shared/tools/bench_original.py at the same size, batch and length.")
flags.DEFINE_string("output", None, "Also append the JSON lines to this file.")
flags.DEFINE_string("worker", None, "Internal: run as the worker of this task.")
flags.DEFINE_bool("pad_to_max_seq_length", False, "Worker: the original's fixed shapes.")
flags.DEFINE_bool("group_by_length", False, "Worker: length-grouped training batches.")
flags.DEFINE_bool("use_bf16", False, "Worker: mixed_bfloat16.")


# ----------------------------------------------------------------------------------------------- worker
def build_task(name, data_dir, output_dir):
    """(task, options) of `name` reading the shared file as its train and dev splits."""
    from training.tasks.classification import ClassificationOptions, ClassificationTask
    from training.tasks.ner import NerOptions, NerTask

    task_name, shared_file, max_seq_length = TASKS[name]
    source = common.require_file(common.SHARED / "data" / shared_file)
    for split in ("train", "dev"):
        (Path(data_dir) / f"{split}{source.suffix}").symlink_to(source)
    options = dict(data_dir=data_dir, output_dir=output_dir, bert_config_file="unused",
                   vocab_file=str(common.VOCAB_FILE), max_seq_length=max_seq_length,
                   train_batch_size=FLAGS.batch_size, pad_to_max_seq_length=FLAGS.pad_to_max_seq_length,
                   group_by_length=FLAGS.group_by_length, use_bf16=FLAGS.use_bf16)
    if name == "ner":
        options = NerOptions(**options)
        return NerTask(options), options
    options = ClassificationOptions(task_name=task_name, **options)
    return ClassificationTask(options), options


def head(arrays, count):
    return {key: value[:count] for key, value in arrays.items()}


def worker(name):
    import tensorflow as tf
    from data.tasks.pipeline import example_lengths, make_dataset
    from modeling.config import NezhaConfig
    from optimization import create_optimizer
    from training.loop import LoopSettings, Trainer
    from training.finetune.task import in_length_order
    from training.precision import Precision

    with tempfile.TemporaryDirectory() as data_dir, tempfile.TemporaryDirectory() as output_dir:
        task, options = build_task(name, data_dir, output_dir)
        precision = Precision.create(use_bf16=options.use_bf16)
        precision.apply_policy()
        model = task.build_model(NezhaConfig.from_dict(MODELS[FLAGS.model]))
        model.ensure_built()
        arrays = head(task.train_arrays(), FLAGS.max_examples)
        predict = head(arrays, FLAGS.batch_size * FLAGS.predict_batches)
        trainer = Trainer(model, task.loss_fn, create_optimizer("adam", 3e-5, 10 ** 6, 0),
                          LoopSettings(output_dir=output_dir, num_train_steps=10 ** 6), precision=precision)
        stream = trainer.prepare(lambda consumed: make_dataset(
            arrays, FLAGS.batch_size, training=True, seed=12345, consumed_batches=consumed,
            pad_to_multiple=options.pad_to_multiple, group_by_length=options.group_by_length))
        batches = iter(stream)
        output = "tags" if name == "ner" else "probabilities"
        forward = tf.function(lambda features: model(features, training=False)[output], reduce_retracing=True)
        lengths = example_lengths(arrays)

        def train():
            tokens = 0
            for _ in range(FLAGS.train_steps):
                batch = next(batches)
                tokens += int(tf.size(batch["input_ids"]))
                trainer.run_update([batch])
            return {"examples": FLAGS.train_steps * FLAGS.batch_size, "padded_tokens": tokens}

        # Built once: a real prediction pass builds its pipeline once for thousands of examples.
        # With dynamic padding the scripts batch prediction examples in order of length (run_model).
        if options.pad_to_multiple:
            predict = in_length_order(predict)[0]
        predict_batches = list(make_dataset(predict, FLAGS.batch_size, training=False,
                                            pad_to_multiple=options.pad_to_multiple))

        def infer():
            for batch in predict_batches:
                forward(batch).numpy()
            return {"examples": len(predict["input_ids"]),
                    "padded_tokens": sum(int(tf.size(batch["input_ids"])) for batch in predict_batches)}

        train()  # warm-up: traces and first allocations
        infer()
        warmed = warm_every_length(trainer, forward, next(batches), options)
        common.reply({"ready": True, "mean_length": float(lengths.mean()), "examples": len(lengths),
                      "first_time_seconds": warmed})
        for line in sys.stdin:
            command = line.strip()
            if command in ("train", "predict"):
                started = time.perf_counter()
                done = train() if command == "train" else infer()
                common.reply(dict(done, seconds=time.perf_counter() - started))
            elif command == "matmul":
                common.reply({"matmul_gflops": common.matmul_gflops(repeats=3)})
            elif command == "quit":
                common.reply({"peak_rss_mb": common.peak_rss_mb()})
                return


def at_length(batch, length):
    """The batch with its [batch, length] features cut or zero-padded to `length`."""
    import tensorflow as tf

    width = int(batch["input_ids"].shape[1])
    resized = {}
    for key, value in batch.items():
        if value.shape.rank >= 2 and value.shape[1] == width:
            if length <= width:
                value = value[:, :length]
            else:
                value = tf.pad(value, [[0, 0], [0, length - width]] + [[0, 0]] * (value.shape.rank - 2))
        resized[key] = value
    return resized


def warm_every_length(trainer, forward, batch, options):
    """One update and one prediction at every length a batch can be padded to; returns their seconds.

    Each new shape costs work once per run: oneDNN builds its kernels for it, and under bf16 XLA
    compiles the fused gelu and softmax loops for it. A fine-tuning epoch of thousands of batches
    over at most max_seq_length / 8 lengths pays that once; the few timed batches here would pay it
    again and again, and measure start-up instead of the steady rate. So it is paid here, and its
    total reported apart (first_time_seconds)."""
    multiple = options.pad_to_multiple or options.max_seq_length
    started = time.perf_counter()
    for length in range(multiple, options.max_seq_length + 1, multiple):
        resized = at_length(batch, length)
        trainer.run_update([resized])
        forward(resized).numpy()
    return round(time.perf_counter() - started, 2)


# ----------------------------------------------------------------------------------------------- parent
class Worker(common.PipeWorker):
    def __init__(self, task, name, extra):
        command = [sys.executable, __file__, f"--worker={task}", f"--model={FLAGS.model}",
                   f"--batch_size={FLAGS.batch_size}", f"--train_steps={FLAGS.train_steps}",
                   f"--predict_batches={FLAGS.predict_batches}", f"--max_examples={FLAGS.max_examples}"] + extra
        super().__init__(name, command, "finetune_speed")


def emit(result):
    common.emit(result)
    if FLAGS.output:
        with open(FLAGS.output, "a") as out:
            out.write(json.dumps(result) + "\n")


def run_task(task, variants):
    max_seq_length = TASKS[task][2]
    workers = [Worker(task, name, extra) for name, extra in variants]
    try:
        ready = [worker.ask() for worker in workers]
        first_time = {worker.name: answer["first_time_seconds"] for worker, answer in zip(workers, ready)}
        totals = {worker.name: {mode: {"seconds": 0.0, "examples": 0, "padded_tokens": 0}
                                for mode in ("train", "predict")} for worker in workers}
        gflops = []
        for turn in range(FLAGS.turns):
            for worker in (workers if turn % 2 == 0 else workers[::-1]):
                for mode in ("train", "predict"):
                    for key, value in worker.ask(mode).items():
                        totals[worker.name][mode][key] += value
            gflops.append(workers[0].ask("matmul")["matmul_gflops"])
        rss = {worker.name: worker.ask("quit")["peak_rss_mb"] for worker in workers}
    except RuntimeError as error:
        emit({"task": task, "error": str(error)})
        return
    finally:
        for worker in workers:
            worker.close()
    base = {"task": task, "model": FLAGS.model, "max_seq_length": max_seq_length, "batch_size": FLAGS.batch_size,
            "mean_length": round(ready[0]["mean_length"], 1), "matmul_gflops_median": statistics.median(gflops),
            "load_average_1min": common.load_average()}
    reference = variants[0][0]
    for name, _ in variants:
        line = dict(base, variant=name, peak_rss_mb=rss[name], first_time_seconds=first_time[name])
        for mode, total in totals[name].items():
            line[f"{mode}_examples_per_s"] = round(total["examples"] / total["seconds"], 2)
            line[f"{mode}_padded_length_mean"] = round(total["padded_tokens"] / total["examples"], 1)
            mine = total["examples"] / total["seconds"]
            theirs = totals[reference][mode]["examples"] / totals[reference][mode]["seconds"]
            line[f"{mode}_speed_over_{reference}"] = round(mine / theirs, 2)
        emit(line)
    if FLAGS.original:
        run_original(task, max_seq_length)


def run_original(task, seq):
    """The original's pretraining step and forward pass at this size, batch and length (bench_original.py)."""
    config = MODELS[FLAGS.model]
    tool = common.SHARED / "tools" / "bench_original.py"
    for forward in (False, True):
        command = [sys.executable, str(tool), "--layers", str(config["num_hidden_layers"]),
                   "--hidden", str(config["hidden_size"]), "--heads", str(config["num_attention_heads"]),
                   "--seq", str(seq), "--batch", str(FLAGS.batch_size), "--steps", "2"] + (["--forward"] if forward else [])
        done = subprocess.run(command, capture_output=True, text=True,
                              env=dict(os.environ, ORIG=FLAGS.original, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES=""))
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            emit({"task": task, "original": "error", "stderr": done.stderr[-800:]})
            continue
        result = json.loads(lines[-1])
        emit({"task": task, "model": FLAGS.model, "variant": "original-tf1 " + result["mode"], "max_seq_length": seq,
              "batch_size": FLAGS.batch_size, "examples_per_s": result["seq_per_s"],
              "note": "pretraining heads and LAMB (train), pooled output (forward)",
              "load_average_1min": common.load_average()})


def main(argv):
    del argv
    common.quiet_tensorflow()
    if FLAGS.worker:
        worker(FLAGS.worker)
        return
    variants = []
    for item in filter(None, (part.strip() for part in FLAGS.variants.split(";"))):
        name, _, extra = item.partition("=")
        variants.append((name.strip(), extra.split()))
    for task in filter(None, FLAGS.tasks.split(",")):
        if task not in TASKS:
            raise app.UsageError(f"--tasks: unknown task {task!r}; known: {', '.join(TASKS)}")
        run_task(task, variants)


if __name__ == "__main__":
    app.run(main)
