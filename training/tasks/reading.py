"""Span-extraction reading comprehension (CMRC2018, SQuAD v1.1 JSON) as a fine-tuning task.

run_reading.py builds ReadingOptions from its flags and runs this task.
"""
import dataclasses
import json
import os
from typing import Optional

from data.tasks.pipeline import features_to_arrays
from data.tasks.reading import ReadingData, convert_examples, decode_predictions, load_json
from evaluation.reading import reading_metrics
from fileio.atomic import write_json, write_text
from modeling.task_models import SPAN_MASK_ADDER, NezhaForSpanExtraction, span_loss
from training.finetune.options import FineTuneOptions
from training.finetune.task import FineTuneTask, run_model

TRAIN_FIELDS = ("input_ids", "input_mask", "segment_ids", "start_position", "end_position")
INFERENCE_FIELDS = ("input_ids", "input_mask", "segment_ids")
LOGITS = ("start_logits", "end_logits")


@dataclasses.dataclass(kw_only=True)
class ReadingOptions(FineTuneOptions):
    # The original run_squad's defaults: long contexts, and CMRC2018 read cased.
    max_seq_length: int = 384
    do_lower_case: bool = False
    task_name: str = "cmrc2018"  # a key of data.tasks.reading.DEFAULT_FILES
    train_file: Optional[str] = None  # default: by task_name in data_dir
    predict_file: Optional[str] = None  # default: by task_name in data_dir
    doc_stride: int = 128
    max_query_length: int = 64
    n_best_size: int = 20
    max_answer_length: int = 30


class ReadingTask(FineTuneTask):
    main_metric = "F1"
    serving_outputs = LOGITS

    def __init__(self, options: ReadingOptions):
        self.options = options
        self.tokenizer = options.make_tokenizer()
        self.data = ReadingData(options.task_name, options.data_dir, options.train_file, options.predict_file)
        self._inference = None
        self._answers = None  # the dev file as parsed JSON, for the official metrics
        self._last = None

    def _convert(self, examples, training):
        return convert_examples(examples, self.tokenizer, self.options.max_seq_length, self.options.doc_stride,
                                self.options.max_query_length, training)

    def build_model(self, config):
        return NezhaForSpanExtraction(config, recompute_layers=self.options.recompute_layers)

    def train_arrays(self, num_shards=1, index=0):
        # Sharded by question, not by window: a long context gives several windows, known only once
        # converted. The shards' window counts then differ, and the run adds them up.
        return features_to_arrays(self._convert(self.data.examples("train")[index::num_shards], True), TRAIN_FIELDS)

    def loss_fn(self, model, features, training):
        outputs = model(features, training=training)
        return span_loss(outputs, features["start_position"], features["end_position"]), {}

    def _predict(self, model, batch_size):
        if self._inference is None:
            examples = self.data.examples("dev")
            features = self._convert(examples, False)
            self._inference = (examples, features, features_to_arrays(features, INFERENCE_FIELDS))
        examples, features, arrays = self._inference
        # Windows fill max_seq_length but the last ones of short contexts; positions cut from a batch
        # come back with the span mask's value, as a padded position's logit would be (about it).
        logits = run_model(model, arrays, batch_size, LOGITS, self.options.pad_to_multiple, per_position=LOGITS,
                           fill=SPAN_MASK_ADDER)
        results = {f.unique_id: (logits["start_logits"][i], logits["end_logits"][i]) for i, f in enumerate(features)}
        return decode_predictions(examples, features, results, self.options.n_best_size, self.options.max_answer_length)

    def evaluate(self, model):
        self._last = self._predict(model, self.options.eval_batch_size)
        if self._answers is None:  # read once: --do_train_and_eval evaluates at every checkpoint
            self._answers = load_json(self.data.path("dev"))
        result = reading_metrics(self._answers, self._last[0], log=None)
        return {**result, "F1": float(result["F1"])}  # the number compared for the best checkpoint

    def write_eval_results(self, results, output_dir):
        official = dict(results)
        official["F1"] = "%.3f" % official["F1"]
        write_text(os.path.join(output_dir, "eval_results.txt"), json.dumps(official) + "\n")
        self._write_predictions(output_dir, *self._last)

    def predict(self, model, output_dir):
        self._write_predictions(output_dir, *self._predict(model, self.options.predict_batch_size))

    @staticmethod
    def _write_predictions(output_dir, predictions, nbest):
        write_json(os.path.join(output_dir, "predictions.json"), predictions)
        write_json(os.path.join(output_dir, "nbest_predictions.json"), nbest)
