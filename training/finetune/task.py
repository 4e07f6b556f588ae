"""What a fine-tuning task supplies to the run (FineTuneTask), inference over in-memory arrays,
and the original's `key = value` results layout."""
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf

from compat.keras import keras
from data.tasks.pipeline import make_dataset
from modeling.config import NezhaConfig


def format_key_values(results: Dict[str, float]) -> str:
    """The original's eval_results.txt layout: `key = value` per line, in the given order."""
    return "".join(f"{key} = {value}\n" for key, value in results.items())


def run_model(model, arrays: Dict, batch_size: int, output_keys) -> Dict:
    """The model's named outputs over arrays, in order, concatenated as NumPy."""
    step = tf.function(lambda features: {k: model(features, training=False)[k] for k in output_keys},
                       reduce_retracing=True)
    collected = {key: [] for key in output_keys}
    for features in make_dataset(arrays, batch_size, training=False):
        for key, value in step(features).items():
            collected[key].append(value.numpy())
    return {key: np.concatenate(values, axis=0) for key, values in collected.items()}


class FineTuneTask:
    """What a task supplies, built from its options. Feature arrays are dicts of int32 NumPy arrays."""

    main_metric = "accuracy"  # the key of evaluate()'s result that --do_train_and_eval maximises
    serving_outputs = ("probabilities",)

    def build_model(self, config: NezhaConfig) -> keras.Model:
        raise NotImplementedError

    def train_arrays(self) -> Dict:
        raise NotImplementedError

    def loss_fn(self, model, features, training):
        """(loss, metrics dict), as training.loop expects."""
        raise NotImplementedError

    def evaluate(self, model) -> Dict:
        """Metrics on the dev set (the main metric at top level)."""
        raise NotImplementedError

    def write_eval_results(self, results: Dict, output_dir: str) -> None:
        raise NotImplementedError

    def predict(self, model, output_dir: str) -> None:
        """Predictions on the test set, written to output_dir."""
        raise NotImplementedError

    def hf_labels(self) -> Optional[List[str]]:
        """The class names --export_hf_dir writes as transformers' id2label (index order), if any."""
        return None

    def has_test_data(self) -> bool:
        """--do_train_and_eval predicts only when the test file is there; --do_predict requires it."""
        return True
