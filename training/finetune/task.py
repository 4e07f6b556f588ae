"""What a fine-tuning task supplies to the run (FineTuneTask), inference over in-memory arrays,
and the original's `key = value` results layout."""
import dataclasses
import weakref
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

from compat.keras import keras
from data.tasks.pipeline import make_dataset, padded_lengths
from modeling.config import NezhaConfig


def format_key_values(results: Dict[str, float]) -> str:
    """The original's eval_results.txt layout: `key = value` per line, in the given order."""
    return "".join(f"{key} = {value}\n" for key, value in results.items())


# model -> {output keys: compiled inference}: one tf.function per model, so that evaluating at every
# checkpoint (--do_train_and_eval) and then predicting reuse one trace instead of tracing anew each time.
COMPILED_INFERENCE = weakref.WeakKeyDictionary()


def inference_function(model, output_keys) -> Callable:
    """The compiled function from a batch of features to the model's named outputs (built once per
    model and keys; it holds the model weakly, so a dropped model is not kept alive by the cache)."""
    keys = tuple(output_keys)
    by_keys = COMPILED_INFERENCE.setdefault(model, {})
    if keys not in by_keys:
        model_ref = weakref.ref(model)

        def outputs(features):
            results = model_ref()(features, training=False)
            return {key: results[key] for key in keys}
        # one trace for every sequence length (dynamic padding): the graph does not depend on it
        by_keys[keys] = tf.function(outputs, reduce_retracing=True)
    return by_keys[keys]


@dataclasses.dataclass(frozen=True)
class InferenceRun:
    """What the run that built a model asks of every inference over it (training.finetune.run sets it
    with `attach_run`): the tasks call run_model from evaluate and predict, which the run cannot see into."""
    on_own_threads: Callable[[tf.data.Dataset], tf.data.Dataset]  # the process's share of the cores
    check_segment_ids: Callable[[int], None]  # the largest segment id -> an error if the config cannot hold it


# model -> its run's InferenceRun; a model used outside a run (tests, benchmarks) has none.
INFERENCE_RUNS = weakref.WeakKeyDictionary()


def attach_run(model, run: InferenceRun) -> None:
    INFERENCE_RUNS[model] = run


def in_length_order(arrays: Dict) -> Tuple[Dict, np.ndarray]:
    """(arrays with the examples sorted by length, shortest first and ties in input order; the order:
    sorted[i] is arrays[order[i]])."""
    order = np.argsort(np.asarray(arrays["input_mask"]).sum(axis=1), kind="stable")
    return {key: np.asarray(value)[order] for key, value in arrays.items()}, order


def run_model(model, arrays: Dict, batch_size: int, output_keys, pad_to_multiple: Optional[int] = None,
              per_position=(), fill: float = 0.0) -> Dict:
    """The model's named outputs over arrays, in order, concatenated as NumPy.

    pad_to_multiple: each batch cut to its longest example rounded up to this multiple (None: the
    stored length). The examples are then batched in order of length (shortest first) and the
    outputs put back in input order: batched in file order, one long example makes its whole batch
    long. The outputs named in `per_position` ([batch, seq, ...]) of shorter batches are padded back
    to the stored length with `fill` (padding positions carry no result: every metric masks them).
    """
    run = INFERENCE_RUNS.get(model)
    if run is not None:
        # Runs with only --do_eval or --do_predict never see training data: this is their check.
        run.check_segment_ids(int(np.asarray(arrays["segment_ids"]).max(initial=0)))
    step = inference_function(model, output_keys)
    width = arrays["input_ids"].shape[1]
    order = None
    if pad_to_multiple:
        arrays, order = in_length_order(arrays)
        logging.info("dynamic padding: %d batches of %d examples padded to %d distinct lengths (max %d)",
                     -(-len(arrays["input_mask"]) // batch_size), len(arrays["input_mask"]),
                     len(set(padded_lengths(arrays, batch_size, pad_to_multiple).tolist())), width)
    collected = {key: [] for key in output_keys}
    dataset = make_dataset(arrays, batch_size, training=False, pad_to_multiple=pad_to_multiple)
    for features in run.on_own_threads(dataset) if run is not None else dataset:
        for key, value in step(features).items():
            value = value.numpy()
            if key in per_position and value.shape[1] < width:
                pad = [(0, 0), (0, width - value.shape[1])] + [(0, 0)] * (value.ndim - 2)
                value = np.pad(value, pad, constant_values=np.asarray(fill).astype(value.dtype))
            collected[key].append(value)
    outputs = {key: np.concatenate(values, axis=0) for key, values in collected.items()}
    if order is not None:
        in_input_order = np.empty_like(order)
        in_input_order[order] = np.arange(len(order))
        outputs = {key: value[in_input_order] for key, value in outputs.items()}
    return outputs


class FineTuneTask:
    """What a task supplies, built from its options. Feature arrays are dicts of int32 NumPy arrays."""

    main_metric = "accuracy"  # the key of evaluate()'s result that --do_train_and_eval maximises
    serving_outputs = ("probabilities",)

    def build_model(self, config: NezhaConfig) -> keras.Model:
        raise NotImplementedError

    def train_arrays(self, num_shards: int = 1, index: int = 0) -> Dict:
        """The training features of shard `index` of `num_shards`: those of examples[index::num_shards],
        the only examples it tokenizes, so that several processes tokenize the training set once between
        them rather than once each. The shards together hold every feature once; the run sums their
        sizes over the processes (training.finetune.run.training_set_size)."""
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
