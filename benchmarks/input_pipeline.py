"""Records/s of the pretraining input pipeline alone (data/pretraining_input.py) on ../shared/data/pretrain_toy.

The training pipeline (file shuffling, interleave, 100-record shuffle, batch, parse, vocabulary
check, prefetch) is iterated with nothing consuming the batches, so the rate is its ceiling:
the step is never starved while this is well above the step's sequences/s.
"""
import sys
import time
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch_size", 32, "Records per batch.")
flags.DEFINE_float("seconds", 3.0, "How long to iterate (after one warm-up second).")

# The toy records: seq 128, 20 predictions, ids from a 30522-entry vocabulary.
TOY_SEQ, TOY_PREDICTIONS, TOY_VOCAB = 128, 20, 30522


def count_batches(iterator, seconds):
    """Batches pulled from `iterator` in `seconds` of wall time, and the exact time taken."""
    batches = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        next(iterator)
        batches += 1
    return batches, time.perf_counter() - started


def main(argv):
    del argv
    common.quiet_tensorflow()
    from data.pretraining_input import expand_input_files, pretraining_dataset

    files = expand_input_files(str(common.PRETRAIN_TOY_DIR / "*.tfrecord"))
    dataset = pretraining_dataset(files, FLAGS.batch_size, TOY_SEQ, TOY_PREDICTIONS, is_training=True,
                                  vocab_size=TOY_VOCAB)
    iterator = iter(dataset)
    count_batches(iterator, 1.0)
    batches, seconds = count_batches(iterator, FLAGS.seconds)
    config = {"files": str(common.PRETRAIN_TOY_DIR), "batch_size": FLAGS.batch_size, "seq": TOY_SEQ,
              "predictions": TOY_PREDICTIONS, "is_training": True}
    common.emit(common.record("input_pipeline", config, {
        "records_per_s": round(batches * FLAGS.batch_size / seconds, 1), "batches": batches,
        "seconds": round(seconds, 2)}))


if __name__ == "__main__":
    app.run(main)
