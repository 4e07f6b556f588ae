"""Turns text (one sentence per line, blank line between documents) into pretraining TFRecords.

With --num_workers=1 (the default) the output is byte for byte the original's for the same
flags. See data/pretraining_workers.py for what more workers do.
"""

import sys
import time

from absl import app, flags

from data.pretraining_data import MIN_MAX_SEQ_LENGTH, GeneratorConfig, PretrainingDataError
from data.pretraining_workers import generate

FLAGS = flags.FLAGS

flags.DEFINE_string("input_file", None, "Input text file(s): comma-separated paths or globs (each glob's matches "
                    "sorted). One sentence per line, a blank line between documents.")
flags.DEFINE_string("output_file", None, "Output TFRecord file(s), comma-separated; instances are written to them "
                    "round-robin. With --num_workers=N > 1: if at least N files are named, worker w writes files "
                    "w, w+N, ...; otherwise each NAME becomes N shards NAME-00000-of-0000N ... NAME-0000(N-1)-of-0000N.")
flags.DEFINE_string("vocab_file", None, "The WordPiece vocabulary file the model was trained with.")
flags.DEFINE_string("spm_model_file", None, "A SentencePiece model to tokenize with instead of --vocab_file; its "
                    "pieces are the vocabulary and must include [CLS], [SEP] and [MASK].")
flags.DEFINE_bool("do_lower_case", True, "Lower-case the input (and strip accents with WordPiece). True for "
                  "uncased models.")
flags.DEFINE_bool("do_whole_word_mask", False, "Mask whole words: '##' pieces are masked with the piece before them "
                  "(Google BERT's rule, reproduced exactly).")
flags.DEFINE_bool("chinese_wwm", False, "Chinese whole-word masking: segment each line with jieba and mask the "
                  "characters of a word together; the ids written stay those of the characters.")
flags.DEFINE_bool("dynamic_masking", False, "Write the sequence pairs without masks, with each position's whole-word "
                  "number instead, for run_pretraining.py --dynamic_masking, which draws new masks every time a "
                  "record is read (RoBERTa/MacBERT style; typically with --dupe_factor=1). The word grouping "
                  "flags (--do_whole_word_mask, --chinese_wwm) apply; --max_predictions_per_seq and "
                  "--masked_lm_prob are then run_pretraining.py's. See data/unmasked_instances.py.")
flags.DEFINE_integer("max_seq_length", 128, f"Maximum sequence length, [CLS] and [SEP]s included (>= "
                     f"{MIN_MAX_SEQ_LENGTH}: [CLS] A [SEP] B [SEP] with one token in A and in B).")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Maximum number of masked LM predictions per sequence.")
flags.DEFINE_integer("random_seed", 12345, "Random seed for data generation.")
flags.DEFINE_integer("dupe_factor", 10, "Number of times to duplicate the input data (with different masks).")
flags.DEFINE_float("masked_lm_prob", 0.15, "Masked LM probability, in (0, 1].")
flags.DEFINE_float("short_seq_prob", 0.1, "Probability of creating sequences shorter than the maximum length.")
flags.DEFINE_integer("num_workers", 1, "Processes to split the work over, by input file (or by byte ranges cut at "
                     "document boundaries when there are fewer files than workers). Deterministic for a given "
                     "(seed, num_workers); 1 reproduces the original exactly. Random next sentences come from the "
                     "worker's own documents.")
flags.DEFINE_bool("progress", True, "Report progress on stderr.")


def main(argv):
    del argv
    started = time.monotonic()
    config = GeneratorConfig(
        max_seq_length=FLAGS.max_seq_length,
        max_predictions_per_seq=FLAGS.max_predictions_per_seq,
        masked_lm_prob=FLAGS.masked_lm_prob,
        short_seq_prob=FLAGS.short_seq_prob,
        dupe_factor=FLAGS.dupe_factor,
        do_whole_word_mask=FLAGS.do_whole_word_mask,
        chinese_wwm=FLAGS.chinese_wwm,
        dynamic_masking=FLAGS.dynamic_masking,
    )
    try:
        if not FLAGS.input_file:
            raise PretrainingDataError("--input_file is required")
        if not FLAGS.output_file:
            raise PretrainingDataError("--output_file is required")
        if not FLAGS.vocab_file and not FLAGS.spm_model_file:
            raise PretrainingDataError("--vocab_file (or --spm_model_file) is required")
        outputs = [p.strip() for p in FLAGS.output_file.split(",") if p.strip()]
        summary, results = generate(FLAGS.input_file, outputs, FLAGS.vocab_file, FLAGS.spm_model_file,
                                    FLAGS.do_lower_case, config, FLAGS.random_seed, FLAGS.num_workers,
                                    show_progress=FLAGS.progress)
    except PretrainingDataError as err:
        print(f"create_pretraining_data: error: {err}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    for result in results:
        for path, (count, first_line) in sorted(result.read_stats.bad_utf8_files.items()):
            where = f" (first at line {first_line})" if first_line else ""
            print(f"warning: {path}: {count} line(s) of invalid UTF-8, bad bytes replaced{where}", file=sys.stderr)
    total = sum(summary.values())
    documents = sum(r.documents for r in results)
    print(f"wrote {total} instances from {documents} documents in {elapsed:.1f}s "
          f"({total / max(elapsed, 1e-9):.0f} instances/s):", file=sys.stderr)
    for path, count in summary.items():
        print(f"  {path}: {count} instances", file=sys.stderr)
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
