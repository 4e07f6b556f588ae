"""Span-extraction reading comprehension (CMRC2018, SQuAD v1.1 JSON) as a fine-tuning task.

The entry script defines the flags; this module is what it runs.
"""
import json
import os

from data.tasks.pipeline import features_to_arrays
from data.tasks.reading import convert_examples, decode_predictions, read_examples
from evaluation import cmrc2018
from modeling.task_models import NezhaForSpanExtraction, span_loss
from training import finetune

TRAIN_FIELDS = ("input_ids", "input_mask", "segment_ids", "start_position", "end_position")
INFERENCE_FIELDS = ("input_ids", "input_mask", "segment_ids")
LOGITS = ("start_logits", "end_logits")


class ReadingTask(finetune.FineTuneTask):
    main_metric = "F1"
    serving_outputs = LOGITS

    def __init__(self, flags_values):
        self.flags = flags_values
        self.tokenizer = finetune.make_tokenizer_from_flags(flags_values)
        self.train_file = flags_values.train_file or os.path.join(flags_values.data_dir, "cmrc2018_train.json")
        self.predict_file = flags_values.predict_file or os.path.join(flags_values.data_dir, "cmrc2018_dev.json")
        self._inference = None
        self._last = None

    def _convert(self, examples, training):
        return convert_examples(examples, self.tokenizer, self.flags.max_seq_length, self.flags.doc_stride,
                                self.flags.max_query_length, training)

    def build_model(self, config):
        return NezhaForSpanExtraction(config, recompute_layers=self.flags.recompute_layers)

    def train_arrays(self):
        return features_to_arrays(self._convert(read_examples(self.train_file, training=True), True), TRAIN_FIELDS)

    def loss_fn(self, model, features, training):
        outputs = model(features, training=training)
        return span_loss(outputs, features["start_position"], features["end_position"]), {}

    def _predict(self, model, batch_size):
        if self._inference is None:
            examples = read_examples(self.predict_file, training=False)
            features = self._convert(examples, False)
            self._inference = (examples, features, features_to_arrays(features, INFERENCE_FIELDS))
        examples, features, arrays = self._inference
        logits = finetune.run_model(model, arrays, batch_size, LOGITS)
        results = {f.unique_id: (logits["start_logits"][i], logits["end_logits"][i]) for i, f in enumerate(features)}
        return decode_predictions(examples, features, results, self.flags.n_best_size, self.flags.max_answer_length)

    def evaluate(self, model):
        self._last = self._predict(model, self.flags.eval_batch_size)
        with open(self.predict_file, encoding="utf-8") as f:
            dataset = json.load(f)
        result = cmrc2018.evaluate(dataset, self._last[0], log=None)
        return {**result, "F1": float(result["F1"])}  # the number compared for the best checkpoint

    def write_eval_results(self, results, output_dir):
        official = dict(results)
        official["F1"] = "%.3f" % official["F1"]
        finetune.write_text(os.path.join(output_dir, "eval_results.txt"), json.dumps(official) + "\n")
        self._write_predictions(output_dir, *self._last)

    def predict(self, model, output_dir):
        self._write_predictions(output_dir, *self._predict(model, self.flags.predict_batch_size))

    @staticmethod
    def _write_predictions(output_dir, predictions, nbest):
        finetune.write_json(os.path.join(output_dir, "predictions.json"), predictions)
        finetune.write_json(os.path.join(output_dir, "nbest_predictions.json"), nbest)
