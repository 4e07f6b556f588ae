"""Fine-tune NEZHA for span-extraction reading comprehension (CMRC2018, SQuAD v1.1 JSON).

Outputs in --output_dir: predictions.json (id -> answer, an exact substring of the context),
nbest_predictions.json, eval_results.txt (the official CMRC2018 metric as JSON:
AVERAGE, F1, EM, TOTAL, SKIP), checkpoints (best/ with --do_train_and_eval);
--export_dir: a SavedModel returning `start_logits` and `end_logits`.
"""

from absl import app, flags

from training import finetune
from training.tasks.reading import ReadingTask

FLAGS = flags.FLAGS
finetune.define_common_flags()
flags.DEFINE_string("train_file", None, "SQuAD-style training JSON (default: <data_dir>/cmrc2018_train.json).")
flags.DEFINE_string("predict_file", None, "SQuAD-style JSON to evaluate / predict on "
                    "(default: <data_dir>/cmrc2018_dev.json).")
flags.DEFINE_integer("doc_stride", 128, "When splitting a long context into windows, the stride between them.")
flags.DEFINE_integer("max_query_length", 64, "Questions longer than this many tokens are truncated.")
flags.DEFINE_integer("n_best_size", 20, "How many n-best predictions to consider and write.")
flags.DEFINE_integer("max_answer_length", 30, "The longest answer, in word pieces, that can be predicted.")


def main(_):
    finetune.main_with_clear_errors(ReadingTask, FLAGS)


if __name__ == "__main__":
    app.run(main)
