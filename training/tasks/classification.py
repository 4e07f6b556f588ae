"""Sentence and sentence-pair classification (lcqmc, chnsenti, text_clf, xnli, mrpc) as a fine-tuning task.

run_clf.py builds ClassificationOptions from its flags and runs this task.
"""
import dataclasses
import os

import numpy as np

from data.tasks.classification import ClassificationData, convert_examples
from data.tasks.pipeline import features_to_arrays
from evaluation.classification import classification_metrics
from fileio.atomic import write_text
from modeling.task_models import NezhaForClassification, classification_loss
from training.finetune.options import FineTuneOptions
from training.finetune.task import FineTuneTask, format_key_values, run_model

FEATURE_FIELDS = ("input_ids", "input_mask", "segment_ids", "label_id")


@dataclasses.dataclass(kw_only=True)
class ClassificationOptions(FineTuneOptions):
    """--task_name picks the data format and labels (data.tasks.classification)."""
    save_checkpoints_steps: int = 100  # the original run_classifier's default


class ClassificationTask(FineTuneTask):
    main_metric = "accuracy"
    serving_outputs = ("probabilities",)

    def __init__(self, options: ClassificationOptions):
        self.options = options
        self.data = ClassificationData(options.task_name, options.data_dir)
        self.tokenizer = options.make_tokenizer()
        self._arrays = {}

    def arrays(self, split):
        if split not in self._arrays:
            features = convert_examples(self.data.examples(split), self.data.labels, self.options.max_seq_length,
                                        self.tokenizer)
            self._arrays[split] = features_to_arrays(features, FEATURE_FIELDS)
        return self._arrays[split]

    def build_model(self, config):
        return NezhaForClassification(config, num_labels=len(self.data.labels),
                                      recompute_layers=self.options.recompute_layers)

    def train_arrays(self, num_shards=1, index=0):
        if num_shards == 1:
            return self.arrays("train"), len(self.arrays("train")["label_id"])
        examples = self.data.examples("train")  # one feature per example
        features = convert_examples(examples[index::num_shards], self.data.labels, self.options.max_seq_length,
                                    self.tokenizer)
        return features_to_arrays(features, FEATURE_FIELDS), len(examples)

    def hf_labels(self):
        return list(self.data.labels)

    def loss_fn(self, model, features, training):
        loss = classification_loss(model(features, training=training), features["label_id"])
        return loss, {}

    def evaluate(self, model):
        arrays = self.arrays("dev")
        outputs = run_model(model, arrays, self.options.eval_batch_size, ["probabilities"],
                            self.options.pad_to_multiple)
        probabilities = outputs["probabilities"].astype(np.float64)
        gold = arrays["label_id"]
        loss = float(-np.mean(np.log(np.maximum(probabilities[np.arange(len(gold)), gold], 1e-30))))
        metrics = classification_metrics(gold, probabilities.argmax(-1), self.data.labels)
        return {"accuracy": metrics["accuracy"], "loss": loss, "macro_f1": metrics["macro_f1"],
                "per_class": metrics["per_class"], "num_examples": int(len(gold))}

    def write_eval_results(self, results, output_dir):
        lines = {"eval_accuracy": results["accuracy"], "eval_loss": results["loss"],
                 "eval_macro_f1": results["macro_f1"], "num_examples": results["num_examples"]}
        for label, metric in results["per_class"].items():
            for name in ("precision", "recall", "f1"):
                lines[f"{name}_{label}"] = metric[name]
        write_text(os.path.join(output_dir, "eval_results.txt"), format_key_values(lines))

    def has_test_data(self):
        return os.path.isfile(self.data.path("test"))

    def predict(self, model, output_dir):
        outputs = run_model(model, self.arrays("test"), self.options.predict_batch_size, ["probabilities"],
                            self.options.pad_to_multiple)
        text = "".join("\t".join(str(float(p)) for p in row) + "\n" for row in outputs["probabilities"])
        write_text(os.path.join(output_dir, "test_results.tsv"), text)
