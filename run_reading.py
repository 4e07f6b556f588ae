"""Fine-tune NEZHA for span-extraction reading comprehension (CMRC2018, SQuAD v1.1 JSON).

Outputs in --output_dir: predictions.json (id -> answer, an exact substring of the context),
nbest_predictions.json, eval_results.txt (the official CMRC2018 metric as JSON:
AVERAGE, F1, EM, TOTAL, SKIP), checkpoints (best/ with --do_train_and_eval);
--export_dir: a SavedModel returning `start_logits` and `end_logits`.
"""

from absl import app

from training.finetune.run import run_task
from training.flags import define_reading_flags, options_from_flags, run_main
from training.tasks.reading import ReadingOptions, ReadingTask

define_reading_flags()


def main(_):
    run_main("run_reading.py", run_task, ReadingTask, options_from_flags(ReadingOptions))


if __name__ == "__main__":
    app.run(main)
