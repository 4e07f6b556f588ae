"""training/finetune/task.py: inference over in-memory arrays compiles the model once per model."""
import numpy as np
import tensorflow as tf

from compat.keras import keras
from training.finetune.task import run_model


class CountingModel(keras.Model):
    """Counts how often its Python `call` runs: once per trace of a compiled caller."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)
        self.calls = 0

    def call(self, features, training=False):
        self.calls += 1
        hidden = tf.cast(features["input_ids"], tf.float32)
        return {"probabilities": tf.nn.softmax(self.dense(hidden))}


def test_evaluating_again_reuses_the_compiled_function():
    """--do_train_and_eval evaluates the dev set at every checkpoint: each evaluation must not
    trace the model again."""
    model = CountingModel()
    arrays = {"input_ids": np.arange(15, dtype=np.int32).reshape(5, 3)}
    first = run_model(model, arrays, 2, ["probabilities"])  # batches of 2, 2, 1
    traces = model.calls
    assert traces >= 1
    for _ in range(3):
        again = run_model(model, arrays, 2, ["probabilities"])
    assert model.calls == traces, "run_model traced the model again"
    np.testing.assert_array_equal(first["probabilities"], again["probabilities"])
    assert first["probabilities"].shape == (5, 2)


def test_each_model_gets_its_own_function():
    a, b = CountingModel(), CountingModel()
    arrays = {"input_ids": np.ones((4, 3), np.int32)}
    run_model(a, arrays, 4, ["probabilities"])
    traced_a = a.calls
    out = run_model(b, arrays, 4, ["probabilities"])["probabilities"]
    assert a.calls == traced_a and b.calls >= 1
    np.testing.assert_allclose(out, b({"input_ids": tf.constant(arrays["input_ids"])})["probabilities"].numpy(),
                               rtol=1e-6)
