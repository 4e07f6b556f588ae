"""Fine-tune NEZHA for sentence / sentence-pair classification: TSV tasks (lcqmc, chnsenti, text_clf,
xnli, mrpc), CLUE's JSON lines (afqmc, cmnli, ocnli, tnews, iflytek, csl, cluewsc2020) and the user's
own files (custom, by the columns --*_column name).

Outputs in --output_dir: eval_results.txt (accuracy, loss, per-class precision/recall/F1),
test_results.tsv (class probabilities per test example), <task>_predict.json (CLUE's submission
form, CLUE tasks with --do_predict), label_list.txt (text_clf, custom without --labels), checkpoints
(and best/ with --do_train_and_eval); --export_dir: a SavedModel returning `probabilities`.
"""

from absl import app

from training.finetune.run import run_task
from training.flags import define_classification_flags, options_from_flags, run_main
from training.tasks.classification import ClassificationOptions, ClassificationTask

define_classification_flags()


def main(_):
    run_main("run_clf.py", run_task, ClassificationTask, options_from_flags(ClassificationOptions))


if __name__ == "__main__":
    app.run(main)
