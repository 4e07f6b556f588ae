"""Character-level NER (BIO tags, softmax or CRF; People's Daily style `char tag` files or CLUENER2020) as a
fine-tuning task.

run_seq_labelling.py builds NerOptions from its flags and runs this task.
"""
import dataclasses
import json
import os

from data.tasks.label_list import save_labels
from data.tasks.ner import NerData, char_predictions, cluener_prediction, convert_sentences
from data.tasks.pipeline import features_to_arrays
from evaluation.ner import entity_level_metrics, token_level_metrics
from fileio.atomic import write_text
from modeling.task_models import NezhaForTokenTagging, tagging_loss
from training.finetune.options import FineTuneOptions
from training.finetune.task import FineTuneTask, format_key_values, run_model

FEATURE_FIELDS = ("input_ids", "input_mask", "segment_ids", "label_ids")


@dataclasses.dataclass(kw_only=True)
class NerOptions(FineTuneOptions):
    task_name: str = "ner"  # a key of data.tasks.ner.TASKS: ner (the original's format) or cluener
    use_crf: bool = False  # decode with a linear-chain CRF instead of per-token softmax


class NerTask(FineTuneTask):
    main_metric = "entity_f1"
    serving_outputs = ("tags",)

    def __init__(self, options: NerOptions):
        self.options = options
        self.data = NerData(options.data_dir, options.output_dir, options.task_name,
                            training=options.do_train or options.do_train_and_eval)
        self.tokenizer = options.make_tokenizer()
        self._splits = {}
        self._last_dev_tags = None

    def split(self, name):
        """(sentences, features, arrays) of one split, converted once."""
        if name not in self._splits:
            sentences = self.data.sentences(name)
            features = convert_sentences(sentences, self.data.labels, self.options.max_seq_length, self.tokenizer,
                                         source=self.data.path(name))
            self._splits[name] = (sentences, features, features_to_arrays(features, FEATURE_FIELDS))
        return self._splits[name]

    def build_model(self, config):
        # + 1: id 0 is padding
        return NezhaForTokenTagging(config, num_labels=len(self.data.labels) + 1, use_crf=self.options.use_crf,
                                    recompute_layers=self.options.recompute_layers)

    def hf_labels(self):
        # tag ids start at 1: id 0 is the padding the model never predicts at real positions
        return ["[PAD]"] + list(self.data.labels)

    def train_arrays(self, num_shards=1, index=0):
        if index == 0:
            save_labels(self.options.output_dir, self.data.labels)
        if num_shards == 1:
            return self.split("train")[2]
        features = convert_sentences(self.data.sentences("train")[index::num_shards], self.data.labels,
                                     self.options.max_seq_length, self.tokenizer, source=self.data.path("train"))
        return features_to_arrays(features, FEATURE_FIELDS)

    def loss_fn(self, model, features, training):
        outputs = model(features, training=training)
        return tagging_loss(model, outputs, features["label_ids"], features["input_mask"]), {}

    def _predict_chars(self, model, name, batch_size):
        sentences, features, arrays = self.split(name)
        tags = run_model(model, arrays, batch_size, ["tags"], self.options.pad_to_multiple, per_position=["tags"])["tags"]
        predicted = [char_predictions(f, row, self.data.labels) for f, row in zip(features, tags)]
        return sentences, arrays, tags, predicted

    def evaluate(self, model):
        sentences, arrays, tags, predicted = self._predict_chars(model, "dev", self.options.eval_batch_size)
        self._last_dev_tags = predicted
        entity = entity_level_metrics([s.tags for s in sentences], predicted)
        token = token_level_metrics(arrays["label_ids"], tags, arrays["input_mask"], self.data.labels)
        results = {"entity_precision": entity["precision"], "entity_recall": entity["recall"],
                   "entity_f1": entity["f1"], "token_precision": token["precision"],
                   "token_recall": token["recall"], "token_f1": token["f1"]}
        for entity_type, metric in entity["per_type"].items():
            for name in ("precision", "recall", "f1"):
                results[f"{entity_type}_{name}"] = metric[name]
        return results

    def write_eval_results(self, results, output_dir):
        write_text(os.path.join(output_dir, "eval_results.txt"), format_key_values(results))
        self._write_conll(os.path.join(output_dir, "dev_predictions.txt"), self.split("dev")[0], self._last_dev_tags)

    def has_test_data(self):
        return os.path.isfile(self.data.path("test"))

    def predict(self, model, output_dir):
        sentences, _, _, predicted = self._predict_chars(model, "test", self.options.predict_batch_size)
        self._write_conll(os.path.join(output_dir, "test_predictions.txt"), sentences, predicted)
        if self.data.format.submission_file:
            lines = [json.dumps(cluener_prediction(s, tags), ensure_ascii=False) + "\n"
                     for s, tags in zip(sentences, predicted)]
            write_text(os.path.join(output_dir, self.data.format.submission_file), "".join(lines))

    @staticmethod
    def _write_conll(path, sentences, predicted):
        blocks = ["".join(f"{c} {g} {p}\n" for c, g, p in zip(s.chars, s.tags, tags))
                  for s, tags in zip(sentences, predicted)]
        write_text(path, "\n".join(blocks))
