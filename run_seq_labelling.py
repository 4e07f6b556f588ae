"""Fine-tune NEZHA for character-level NER: --task_name=ner (`char tag` per line, blank line between
sentences) or cluener (CLUENER2020's JSON lines, spans read as BIO tags).

Outputs in --output_dir: eval_results.txt (entity-level P/R/F1 overall and per type, the original's
token-level P/R/F1), dev_predictions.txt and test_predictions.txt in CoNLL form
(`char gold predicted`, blank line between sentences), cluener_predict.json (cluener with
--do_predict: CLUENER2020's form), label_list.txt, checkpoints (best/ with
--do_train_and_eval); --export_dir: a SavedModel returning per-token label ids `tags`
(ids index label_list.txt from 1; 0 is padding).
"""

from absl import app

from training.finetune.run import run_task
from training.flags import define_tagging_flags, options_from_flags, run_main
from training.tasks.ner import NerOptions, NerTask

define_tagging_flags()


def main(_):
    run_main("run_seq_labelling.py", run_task, NerTask, options_from_flags(NerOptions))


if __name__ == "__main__":
    app.run(main)
