"""modeling/layers/attention.py under float16: the scores' 1/sqrt(d) is applied to the query first."""
import numpy as np
import pytest
import tensorflow as tf

from modeling.layers.attention import RelativeSelfAttention, scaled_query


def test_scaled_query_divides_by_the_square_root_of_the_head_size():
    query = tf.constant(np.random.RandomState(0).normal(size=[2, 3, 5, 16]), tf.float32)
    np.testing.assert_array_equal(scaled_query(query, 16).numpy(), query.numpy() / 4.0)
    half = scaled_query(tf.cast(query, tf.float16), 12)
    assert half.dtype == tf.float16
    np.testing.assert_array_equal(half.numpy(), (tf.cast(query, tf.float16).numpy().astype(np.float32)
                                                 / np.float32(np.sqrt(12.0))).astype(np.float16))


def test_float16_scores_whose_unscaled_sums_overflow_stay_finite_forward_and_backward(global_policy):
    """Queries and keys of about 80 over a head of 16: q.k^T is about 100000 (over float16's 65504),
    the scaled score about 25000."""
    global_policy("mixed_float16")
    size, length = 16, 6
    layer = RelativeSelfAttention(size, num_heads=1, initializer_range=0.02, dropout_rate=0.0)
    hidden = tf.constant(np.random.RandomState(1).uniform(70.0, 90.0, size=[2, length, size]), tf.float32)
    mask_adder = tf.zeros([2, 1, 1, length], tf.float32)
    layer(hidden, mask_adder)
    for dense in (layer.query, layer.key, layer.value):
        dense.kernel.assign(tf.eye(size))
        dense.bias.assign(tf.zeros([size]))
    with tf.GradientTape() as tape:
        tape.watch(hidden)
        output = layer(hidden, mask_adder, training=True)
        loss = tf.reduce_sum(tf.cast(output, tf.float32)) * 1e-3
    gradients = tape.gradient(loss, [hidden] + layer.trainable_variables)
    assert output.dtype == tf.float16
    assert np.isfinite(output.numpy()).all()
    for gradient in gradients:
        assert np.isfinite(tf.convert_to_tensor(gradient).numpy()).all()


@pytest.mark.parametrize("dtype", [tf.bfloat16, tf.float16])
@pytest.mark.parametrize("with_relative", [True, False])
def test_masked_softmax_in_narrow_types_equals_the_float32_one(dtype, with_relative):
    """Under bf16 / fp16 the scores' softmax is a fused XLA loop with a fused gradient: float32
    probabilities as from the float32 ops, gradients in the narrow type within one rounding."""
    from modeling.layers.attention import masked_softmax

    rng = np.random.RandomState(5)
    shape = [2, 3, 5, 7]
    scores = tf.cast(rng.normal(0, 3, shape).astype(np.float32), dtype)
    relative = tf.cast(rng.normal(0, 3, shape).astype(np.float32), dtype) if with_relative else None
    mask_adder = tf.constant(((1 - np.array([[1] * 7, [1] * 4 + [0] * 3], np.float32)) * -10000)[:, None, None, :])
    upstream = tf.constant(rng.normal(size=shape).astype(np.float32))

    def probs_and_gradients(scores, relative):
        inputs = [scores] + ([relative] if relative is not None else [])
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            probs = masked_softmax(scores, relative, mask_adder)
        return probs, tape.gradient(probs, inputs, output_gradients=upstream)

    probs, grads = probs_and_gradients(scores, relative)
    wide = tf.cast(relative, tf.float32) if with_relative else None
    expected_probs, expected_grads = probs_and_gradients(tf.cast(scores, tf.float32), wide)
    assert probs.dtype == tf.float32 and all(g.dtype == dtype for g in grads)
    np.testing.assert_allclose(probs.numpy(), expected_probs.numpy(), atol=1e-6)
    ulp = 2.0 ** -8 if dtype == tf.bfloat16 else 2.0 ** -11
    for got, want in zip(grads, expected_grads):
        np.testing.assert_allclose(tf.cast(got, tf.float32).numpy(), want.numpy(), rtol=2 * ulp, atol=1e-6)
