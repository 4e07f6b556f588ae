"""Pretrain NEZHA (masked LM + next sentence) on TFRecords from create_pretraining_data.py.

Single process:  python run_pretraining.py --input_file=... --output_dir=... --bert_config_file=... --do_train
Horovod:         horovodrun -np 4 -H host1:2,host2:2 python run_pretraining.py --horovod ...
"""
import sys

from absl import app, flags, logging

from training.flags import define_loop_flags

FLAGS = flags.FLAGS
define_loop_flags()

flags.DEFINE_string("input_file", None, "Input TFRecord files: comma-separated globs.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Masked-LM predictions per sequence in the records.")
flags.DEFINE_integer("num_train_steps", 100000, "Number of updates.")
flags.DEFINE_integer("num_warmup_steps", 10000, "Number of warmup updates.")
flags.DEFINE_integer("max_eval_steps", 100, "Maximum number of evaluation batches.")
flags.DEFINE_bool("report_loss", True, "Accepted for compatibility with the original: losses are always logged.")
flags.DEFINE_enum("optimizer", "lamb", ["lamb", "adam"], "lamb, or adam (AdamWeightDecay).")
flags.DEFINE_bool("deterministic", False,
                  "Read files and records in order, no shuffling, fixed seeds: for reproducing numbers.")
flags.DEFINE_integer("seed", 12345, "Random seed (model initialisation, shuffling, dynamic masks).")
flags.DEFINE_bool("dynamic_masking", False,
                  "Read unmasked records (create_pretraining_data.py --dynamic_masking) and draw a new whole-word "
                  "mask every time a record is read, with the original generator's rule; with --deterministic "
                  "the masks depend only on --seed, the record and the epoch. Needs --vocab_file.")
flags.DEFINE_float("masked_lm_prob", 0.15, "With --dynamic_masking: the share of tokens masked (at most "
                   "--max_predictions_per_seq per sequence), as create_pretraining_data.py's flag.")
flags.DEFINE_string("vocab_file", None, "With --dynamic_masking: the vocabulary the records were written with "
                    "([MASK]'s id; random replacements are drawn from all of its ids).")


def main(argv):
    del argv
    from training.pretraining import PretrainingOptions, PretrainingError, run
    options = PretrainingOptions(**{name: FLAGS[name].value for name in PretrainingOptions.__dataclass_fields__
                                    if name in FLAGS})
    try:
        run(options)
    except PretrainingError as error:
        logging.error("%s", error)
        print(f"run_pretraining.py: error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "output_dir", "bert_config_file"])
    app.run(main)
