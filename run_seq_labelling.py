"""Fine-tune NEZHA for character-level NER (`char tag` per line, blank line between sentences).

Outputs in --output_dir: eval_results.txt (entity-level P/R/F1 overall and per type, the original's
token-level P/R/F1), dev_predictions.txt and test_predictions.txt in CoNLL form
(`char gold predicted`, blank line between sentences), label_list.txt, checkpoints (best/ with
--do_train_and_eval); --export_dir: a SavedModel returning per-token label ids `tags`
(ids index label_list.txt from 1; 0 is padding).
"""

from absl import app, flags

from training import finetune
from training.tasks.ner import NerTask

FLAGS = flags.FLAGS
finetune.define_common_flags()
flags.DEFINE_bool("use_crf", False, "Decode with a linear-chain CRF (Viterbi) instead of per-token softmax.")


def main(_):
    finetune.main_with_clear_errors(NerTask, FLAGS)


if __name__ == "__main__":
    app.run(main)
