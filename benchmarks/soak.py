"""A long pretraining run's memory: resident set size sampled through thousands of updates, one JSON line.

A tiny-config run of run_pretraining's code (PretrainingRun: the tf.data pipeline over the shared
toy records, the loop, checkpoints every --checkpoint_every updates, an evaluation after each
checkpoint) samples the process's current RSS every --sample_every updates. It prints the growth
per 1,000 updates fitted (least squares) over the samples from the first checkpoint on, when the
pipeline, the compiled step and the checkpoint writer have made their first allocations; a leak
per update, per checkpoint or per evaluation shows as a slope beyond the noise. The two are also
told apart: the growth between checkpoints (per 1,000 updates) and the MB added across each
checkpoint with its evaluation. The host's matmul rate (common.matmul_gflops) is printed beside
it, measured in the same process.
"""
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from nezha_setup import TINY_NEZHA  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("updates", 4000, "Training updates (the default takes a few minutes on a loaded 2-core host).")
flags.DEFINE_integer("checkpoint_every", 500, "Updates between checkpoints; each one is followed by an evaluation.")
flags.DEFINE_integer("sample_every", 100, "Updates between RSS samples.")
flags.DEFINE_integer("eval_batches", 10, "Batches per evaluation.")
flags.DEFINE_integer("batch_size", 8, "Training and evaluation batch size.")
flags.DEFINE_string("input_file", str(common.PRETRAIN_TOY_DIR / "*.tfrecord"),
                    "Pretraining records (seq 128, 20 predictions); the shared toy records by default.")


def current_rss_mb() -> float:
    """Resident set size now (not the high-water mark), from /proc/self/statm."""
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def slope_per_1000(points):
    """Least-squares slope of (update, MB) points, in MB per 1,000 updates (None with fewer than 2)."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return 1000 * sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else None


def split_by_checkpoints(samples, checkpoints):
    """(MB per 1,000 updates between checkpoints, [MB added across each checkpoint and its evaluation]).

    A checkpoint at update c falls between the samples at c (taken before it) and the next one.
    """
    steady_mb = steady_updates = 0.0
    jumps = []
    for (before, mb_before), (after, mb_after) in zip(samples, samples[1:]):
        if any(before <= c < after for c in checkpoints):
            jumps.append(round(mb_after - mb_before, 1))
        else:
            steady_mb += mb_after - mb_before
            steady_updates += after - before
    return (round(1000 * steady_mb / steady_updates, 2) if steady_updates else None), jumps


def soak(output_dir: str):
    from training.loop import Callback
    from training.pretraining import PretrainingOptions, PretrainingRun

    config_file = os.path.join(output_dir, "bert_config.json")
    with open(config_file, "w") as f:
        json.dump(dict(TINY_NEZHA, vocab_size=30522), f)  # the toy records hold ids of a 30522-word vocabulary
    options = PretrainingOptions(
        input_file=FLAGS.input_file, output_dir=os.path.join(output_dir, "run"), bert_config_file=config_file,
        max_seq_length=128, max_predictions_per_seq=20, do_train=True, train_batch_size=FLAGS.batch_size,
        eval_batch_size=FLAGS.batch_size, learning_rate=1e-4, num_train_steps=FLAGS.updates,
        num_warmup_steps=min(100, FLAGS.updates // 10), save_checkpoints_steps=FLAGS.checkpoint_every,
        log_every=FLAGS.sample_every, max_eval_steps=FLAGS.eval_batches, keep_checkpoint_max=2)
    job = PretrainingRun(options)
    samples, checkpoints = [], []

    class Sampler(Callback):
        def on_log(self, step, scalars, trainer):
            samples.append((step, round(current_rss_mb(), 1)))

        def on_checkpoint(self, step, trainer):
            checkpoints.append(step)
            job.evaluate()

    job.trainer.callbacks.append(Sampler())
    started = time.perf_counter()
    job.trainer.train(job.train_dataset)
    seconds = time.perf_counter() - started
    after_first = [(s, mb) for s, mb in samples if checkpoints and s > checkpoints[0]]
    growth = slope_per_1000(after_first)
    between, jumps = split_by_checkpoints(samples, checkpoints)
    return {"updates": FLAGS.updates, "checkpoints": len(checkpoints), "evaluations": len(checkpoints),
            "rss_samples": samples,
            "rss_at_first_checkpoint_mb": next((mb for s, mb in samples if checkpoints and s >= checkpoints[0]), None),
            "rss_end_mb": samples[-1][1] if samples else None,
            "rss_growth_mb_per_1000_updates": None if growth is None else round(growth, 2),
            "rss_growth_between_checkpoints_mb_per_1000_updates": between,
            "rss_added_across_each_checkpoint_and_evaluation_mb": jumps,
            "updates_per_s": round(FLAGS.updates / seconds, 2), "seconds": round(seconds, 1),
            "load_average": common.load_average()}


def main(_):
    common.quiet_tensorflow()
    from absl import logging
    logging.set_verbosity(logging.WARNING)
    common.require_file(next(iter(sorted(Path(FLAGS.input_file).parent.glob(Path(FLAGS.input_file).name))),
                             Path(FLAGS.input_file)))
    with tempfile.TemporaryDirectory() as output_dir:
        fields = soak(output_dir)
    config = {"model": "tiny", "seq": 128, "batch": FLAGS.batch_size, "checkpoint_every": FLAGS.checkpoint_every,
              "sample_every": FLAGS.sample_every, "eval_batches": FLAGS.eval_batches}
    common.emit(common.record("soak", config, fields))


if __name__ == "__main__":
    app.run(main)
