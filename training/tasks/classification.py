"""Sentence and sentence-pair classification (the formats of data.tasks.classification: lcqmc, chnsenti,
text_clf, xnli, mrpc, the CLUE classification tasks, custom) as a fine-tuning task.

run_clf.py builds ClassificationOptions from its flags and runs this task.
"""
import dataclasses
import json
import os
from typing import Optional

import numpy as np

from data.tasks.classification import ClassificationData, convert_examples
from data.tasks.custom import CustomColumns, parse_label_list
from data.tasks.label_list import save_labels
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
    # --task_name=custom only (data.tasks.custom): the files' format, where the texts and label are, the labels
    input_format: str = "tsv"
    text_a_column: str = "text_a"
    text_b_column: Optional[str] = None
    label_column: str = "label"
    has_header: bool = False
    labels: Optional[str] = None  # comma-separated, in id order; None: the training file's, sorted

    def custom_columns(self) -> CustomColumns:
        return CustomColumns(input_format=self.input_format, text_a=self.text_a_column, text_b=self.text_b_column,
                             label=self.label_column, header=self.has_header)


class ClassificationTask(FineTuneTask):
    main_metric = "accuracy"
    serving_outputs = ("probabilities",)

    def __init__(self, options: ClassificationOptions):
        self.options = options
        custom = options.task_name.lower() == "custom"
        self.data = ClassificationData(options.task_name, options.data_dir, options.output_dir,
                                       custom_columns=options.custom_columns() if custom else None,
                                       labels=parse_label_list(options.labels) if custom else None,
                                       training=options.do_train or options.do_train_and_eval)
        self.tokenizer = options.make_tokenizer()
        self._examples = {}
        self._arrays = {}

    def examples(self, split):
        if split not in self._examples:
            self._examples[split] = self.data.examples(split)
        return self._examples[split]

    def arrays(self, split):
        if split not in self._arrays:
            features = convert_examples(self.examples(split), self.data.labels, self.options.max_seq_length,
                                        self.tokenizer)
            self._arrays[split] = features_to_arrays(features, FEATURE_FIELDS)
        return self._arrays[split]

    def build_model(self, config):
        return NezhaForClassification(config, num_labels=len(self.data.labels),
                                      recompute_layers=self.options.recompute_layers)

    def train_arrays(self, num_shards=1, index=0):
        if self.data.labels_derived and index == 0:
            save_labels(self.options.output_dir, self.data.labels)  # prediction must map labels to the same ids
        if num_shards == 1:
            return self.arrays("train")
        features = convert_examples(self.data.examples("train")[index::num_shards], self.data.labels,
                                    self.options.max_seq_length, self.tokenizer)
        return features_to_arrays(features, FEATURE_FIELDS)

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
        if self.data.format.submission_file:
            self._write_submission(os.path.join(output_dir, self.data.format.submission_file),
                                   outputs["probabilities"].argmax(-1))

    def _write_submission(self, path, predicted_ids):
        """CLUE's submission form: one {"id", "label"} per test line, the id the line's own (its index
        when it has none), the label as the task writes it."""
        lines = []
        for index, (example, label_id) in enumerate(zip(self.examples("test"), predicted_ids)):
            example_id = index if example.example_id is None else example.example_id
            lines.append(json.dumps({"id": example_id, "label": self.data.labels[int(label_id)]},
                                    ensure_ascii=False) + "\n")
        write_text(path, "".join(lines))
