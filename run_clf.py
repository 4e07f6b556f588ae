"""Fine-tune NEZHA for sentence / sentence-pair classification (lcqmc, chnsenti, text_clf, xnli, mrpc).

Outputs in --output_dir: eval_results.txt (accuracy, loss, per-class precision/recall/F1),
test_results.tsv (class probabilities per test example), checkpoints (and best/ with
--do_train_and_eval); --export_dir: a SavedModel returning `probabilities`.
"""

from absl import app, flags

from training import finetune
from training.tasks.classification import ClassificationTask

FLAGS = flags.FLAGS
finetune.define_common_flags()


def main(_):
    finetune.main_with_clear_errors(ClassificationTask, FLAGS)


if __name__ == "__main__":
    app.run(main)
