"""The relative-position terms against a direct NumPy transcription of the original's formulas."""
import numpy as np
import pytest
import tensorflow as tf

from modeling.layers.relative_position import (
    RelativePositions,
    relative_position_index,
    relative_position_table,
)


def reference_terms(query, probs, max_relative_position):
    """The original's way: R[r_ij] as an [L, L, d] array, r_ij = clip(j - i, -K, K) + K."""
    length, depth = query.shape[-2], query.shape[-1]
    positions = np.arange(length)
    index = np.clip(positions[None, :] - positions[:, None], -max_relative_position, max_relative_position)
    per_pair = relative_position_table(max_relative_position, depth).astype(np.float64)[index + max_relative_position]
    return np.einsum("bhid,ijd->bhij", query, per_pair), np.einsum("bhij,ijd->bhid", probs, per_pair)


def test_table_is_the_shifted_sinusoid():
    table = relative_position_table(4, 6)
    assert table.shape == (9, 6) and table.dtype == np.float32
    r, t = 7, 1
    assert table[r, 2 * t] == pytest.approx(np.sin(r / 10000 ** (2 * t / 6)), abs=1e-7)
    assert table[r, 2 * t + 1] == pytest.approx(np.cos(r / 10000 ** (2 * t / 6)), abs=1e-7)
    np.testing.assert_array_equal(table[0, 1::2], 1.0)  # row 0 is distance -K, yet holds sin(0), cos(0)


def test_index_is_clipped_and_shifted():
    index = relative_position_index(5, 2).numpy()
    assert index[0].tolist() == [2, 3, 4, 4, 4]
    assert index[4].tolist() == [0, 0, 0, 1, 2]


@pytest.mark.parametrize("method", RelativePositions.METHODS)
@pytest.mark.parametrize("length, max_relative_position", [(1, 3), (3, 3), (4, 3), (5, 3), (11, 3), (7, 64)])
def test_terms_match_the_original(method, length, max_relative_position):
    rng = np.random.default_rng(length)
    depth = 4
    query = rng.standard_normal([2, 3, length, depth])
    probs = rng.standard_normal([2, 3, length, length])
    table = tf.constant(relative_position_table(max_relative_position, depth))
    positions = RelativePositions(table, length, max_relative_position, method=method)
    expected_keys, expected_values = reference_terms(query, probs, max_relative_position)
    keys = positions.key_logits(tf.constant(query, tf.float32))
    values = positions.value_context(tf.constant(probs, tf.float32))
    np.testing.assert_allclose(keys.numpy(), expected_keys, atol=1e-5)
    np.testing.assert_allclose(values.numpy(), expected_values, atol=1e-5)


@pytest.mark.parametrize("length", [3, 12])
def test_per_distance_gradients_match_dense(length):
    """The per-distance method defines its own gradients: they must equal the dense method's."""
    rng = np.random.default_rng(1)
    k, depth = 4, 6
    table = tf.constant(relative_position_table(k, depth))
    query = tf.constant(rng.standard_normal([2, 2, length, depth]), tf.float32)
    probs = tf.constant(rng.standard_normal([2, 2, length, length]), tf.float32)
    key_weights = tf.constant(rng.standard_normal([2, 2, length, length]), tf.float32)
    value_weights = tf.constant(rng.standard_normal([2, 2, length, depth]), tf.float32)

    def gradients(method):
        with tf.GradientTape() as tape:
            tape.watch([query, probs])
            positions = RelativePositions(table, length, k, method=method)
            loss = tf.reduce_sum(positions.key_logits(query) * key_weights)
            loss += tf.reduce_sum(positions.value_context(probs) * value_weights)
        return tape.gradient(loss, [query, probs])

    for got, expected in zip(gradients("per_distance"), gradients("dense")):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)


def test_per_distance_works_with_an_unknown_length_in_a_graph():
    k, depth = 3, 4
    table = tf.constant(relative_position_table(k, depth))

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, depth], tf.float32)])
    def keys(query):
        return RelativePositions(table, tf.shape(query)[2], k, method="per_distance").key_logits(query)

    query = np.random.default_rng(2).standard_normal([1, 2, 9, depth])
    np.testing.assert_allclose(keys(tf.constant(query, tf.float32)).numpy(), reference_terms(query, np.zeros([1, 2, 9, 9]), k)[0], atol=1e-5)


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown relative attention method"):
        RelativePositions(tf.zeros([3, 2]), 4, 1, method="fast")


def test_auto_picks_one_method_per_length_for_every_model():
    """One rule, inside the model: pretraining, task models and inference all resolve "auto" by length."""
    from modeling import NezhaForPretraining, NezhaModel
    from modeling.task_models import _TaskModel
    from training.pretraining import PretrainingOptions

    limit = RelativePositions.DENSE_UP_TO
    assert RelativePositions.resolve("auto", 128) == "dense"
    assert RelativePositions.resolve("auto", limit) == "dense"
    assert RelativePositions.resolve("auto", limit + 1) == "per_distance"
    assert RelativePositions.resolve("auto", tf.constant(128)) == "dense"  # a known scalar tensor
    assert RelativePositions.resolve("dense", 4 * limit) == "dense"  # explicit choices stay
    table = tf.constant(relative_position_table(2, 4))
    assert RelativePositions(table, 8, 2).method == "dense"
    assert RelativePositions(table, limit + 8, 2).method == "per_distance"

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32)])
    def unknown(length):
        return tf.constant(RelativePositions.METHODS.index(RelativePositions.resolve("auto", length)))

    assert RelativePositions.METHODS[int(unknown(tf.constant(8)))] == "per_distance"  # no [L, L, d] table
    import inspect
    for model in (NezhaModel, NezhaForPretraining, _TaskModel):
        assert inspect.signature(model.__init__).parameters["relative_attention"].default == "auto"
    assert PretrainingOptions.__dataclass_fields__["relative_attention"].default == "auto"
