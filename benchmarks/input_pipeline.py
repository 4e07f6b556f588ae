"""Records/s of the pretraining input pipeline alone (data/input/pretraining_dataset.py) on ../shared/data/pretrain_toy.

The training pipeline (file shuffling, interleave, 100-record shuffle, batch, parse, vocabulary
check, prefetch) is iterated with nothing consuming the batches, so the rate is its ceiling:
the step is never starved while this is well above the step's sequences/s.

With --dynamic_masking: the same pipeline over unmasked records written from
../shared/data/zh_corpus/clue_small.txt (create_pretraining_data --dynamic_masking, dupe 1,
--do_whole_word_mask) with a new mask drawn for every record read (data/input/dynamic_masking.py); the
static pipeline is measured in the same process, in alternating slices, for the ratio.
"""
import sys
import tempfile
import time
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch_size", 32, "Records per batch.")
flags.DEFINE_float("seconds", 3.0, "How long to iterate (after one warm-up second).")
flags.DEFINE_bool("dynamic_masking", False, "Measure the dynamic-masking pipeline (and the static one beside it).")
flags.DEFINE_bool("deterministic", False, "Both pipelines as under --deterministic (records in order; dynamic "
                  "masks seeded per record).")

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


def records_per_s(dataset, batch_size):
    iterator = iter(dataset)
    count_batches(iterator, 1.0)
    batches, seconds = count_batches(iterator, FLAGS.seconds)
    return {"records_per_s": round(batches * batch_size / seconds, 1), "batches": batches,
            "seconds": round(seconds, 2)}


def static_dataset(files):
    from data.input.pretraining_dataset import pretraining_dataset

    return pretraining_dataset(files, FLAGS.batch_size, TOY_SEQ, TOY_PREDICTIONS, is_training=True,
                               vocab_size=TOY_VOCAB, deterministic=FLAGS.deterministic)


def dynamic_case(static_files):
    from data.generation.config import GeneratorConfig
    from data.generation.generator import generate
    from data.input.dynamic_masking import DynamicMasking
    from data.input.pretraining_dataset import pretraining_dataset

    with tempfile.TemporaryDirectory() as directory:
        outputs = [f"{directory}/unmasked_{i}.tfrecord" for i in range(4)]
        config = GeneratorConfig(max_seq_length=TOY_SEQ, dupe_factor=1, do_whole_word_mask=True, dynamic_masking=True)
        generate(str(common.CORPUS_FILE), outputs, str(common.VOCAB_FILE), None, True, config, 12345,
                 show_progress=False)
        masking = DynamicMasking.from_vocab_file(str(common.VOCAB_FILE))
        dataset = pretraining_dataset(outputs, FLAGS.batch_size, TOY_SEQ, TOY_PREDICTIONS, is_training=True,
                                      vocab_size=21128, masking=masking, deterministic=FLAGS.deterministic)
        # Alternating slices of a quarter second: both pipelines see the same load of a shared host.
        pipelines = [iter(dataset), iter(static_dataset(static_files))]
        for iterator in pipelines:
            count_batches(iterator, 1.0)
        totals = [[0, 0.0], [0, 0.0]]
        for _ in range(max(1, round(FLAGS.seconds / 0.25))):
            for total, iterator in zip(totals, pipelines):
                batches, seconds = count_batches(iterator, 0.25)
                total[0] += batches
                total[1] += seconds
    (batches, seconds), (static_batches, static_seconds) = totals
    fields = {"records_per_s": round(batches * FLAGS.batch_size / seconds, 1), "batches": batches,
              "seconds": round(seconds, 2),
              "static_records_per_s": round(static_batches * FLAGS.batch_size / static_seconds, 1)}
    fields["dynamic_over_static"] = round(fields["records_per_s"] / fields["static_records_per_s"], 3)
    config = {"files": f"{common.CORPUS_FILE} -> 4 unmasked files (dupe 1, do_whole_word_mask)",
              "static_files": str(common.PRETRAIN_TOY_DIR), "batch_size": FLAGS.batch_size, "seq": TOY_SEQ,
              "predictions": TOY_PREDICTIONS, "masked_lm_prob": masking.masked_lm_prob, "is_training": True,
              "deterministic": FLAGS.deterministic}
    return common.record("input_pipeline_dynamic" + ("_deterministic" if FLAGS.deterministic else ""), config, fields)


def main(argv):
    del argv
    common.quiet_tensorflow()
    from data.input.records import expand_input_files

    files = expand_input_files(str(common.PRETRAIN_TOY_DIR / "*.tfrecord"))
    if FLAGS.dynamic_masking:
        common.emit(dynamic_case(files))
        return
    fields = records_per_s(static_dataset(files), FLAGS.batch_size)
    config = {"files": str(common.PRETRAIN_TOY_DIR), "batch_size": FLAGS.batch_size, "seq": TOY_SEQ,
              "predictions": TOY_PREDICTIONS, "is_training": True}
    common.emit(common.record("input_pipeline", config, fields))


if __name__ == "__main__":
    app.run(main)
