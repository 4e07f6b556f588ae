"""The collapse detector: silent on working encoders, loud on one whose outputs ignore the input."""
import numpy as np
import pytest
import tensorflow as tf

from modeling import NezhaModel
from modeling.diagnostics import collapse_warning, representation_spread
from tests.helpers import tiny_config


def batch(seed=0, size=4, length=12):
    rng = np.random.RandomState(seed)
    mask = np.ones((size, length), np.int32)
    mask[1, 8:] = 0
    return {"input_ids": rng.randint(5, 99, size=(size, length)).astype(np.int32) * mask, "input_mask": mask,
            "segment_ids": np.zeros((size, length), np.int32)}


def test_a_fresh_encoder_is_not_collapsed():
    model = NezhaModel(tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    features = batch()
    spread = representation_spread(model(features, training=False), features["input_mask"])
    assert set(spread) == {"pooled_across_inputs", "sequence_across_positions"}
    assert min(spread.values()) > 1e-2
    assert collapse_warning(spread) is None


def test_an_encoder_whose_output_ignores_the_input_is_reported():
    model = NezhaModel(tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    features = batch()
    model(features, training=False)
    # gamma 0 in the last LayerNorm: every position of every input gets the same vector (beta)
    gamma = model.tf1_variables()[f"bert/encoder/layer_{model.config.num_hidden_layers - 1}/output/LayerNorm/gamma"]
    gamma.assign(tf.zeros_like(gamma))
    spread = representation_spread(model(features, training=False), features["input_mask"])
    assert spread["sequence_across_positions"] < 1e-6 and spread["pooled_across_inputs"] < 1e-6
    message = collapse_warning(spread, source="ckpt-7")
    assert message.startswith("ckpt-7 looks collapsed") and "sequence_across_positions" in message


def test_only_the_spread_across_positions_decides():
    # a random encoder's [CLS] may barely depend on short packed inputs: not a collapse by itself
    assert collapse_warning({"sequence_across_positions": 0.85, "pooled_across_inputs": 6e-4}) is None
    assert collapse_warning({"sequence_across_positions": 8e-5, "pooled_across_inputs": 9e-6}) is not None


def test_padding_does_not_count_as_variation():
    # identical real positions, different padding values: no spread across the real positions
    sequence = np.tile(np.arange(4, dtype=np.float32), (2, 6, 1))
    sequence[0, 3:] = 100.0
    mask = np.array([[1, 1, 1, 0, 0, 0], [1] * 6], np.int32)
    spread = representation_spread({"sequence_output": sequence, "pooled_output": np.ones((2, 4), np.float32)}, mask)
    assert spread["sequence_across_positions"] == pytest.approx(0.0, abs=1e-7)
    assert spread["pooled_across_inputs"] == 0.0
