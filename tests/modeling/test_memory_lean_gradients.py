"""The memory-saving custom gradients equal TensorFlow's own gradients of the same formulas."""
import numpy as np
import tensorflow as tf

from modeling.activations import gelu, gelu_reference


def _value_and_gradient(function, x, upstream):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = function(x)
    return y.numpy(), tape.gradient(y, x, output_gradients=upstream).numpy()


def test_gelu_forward_and_gradient_equal_autodiff_of_the_formula():
    rng = np.random.RandomState(0)
    x = tf.constant(np.concatenate([np.linspace(-8, 8, 401), rng.normal(0, 2, 600)]).astype(np.float32))
    upstream = tf.constant(rng.normal(size=x.shape).astype(np.float32))
    value, gradient = _value_and_gradient(gelu, x, upstream)
    expected_value, expected_gradient = _value_and_gradient(gelu_reference, x, upstream)
    np.testing.assert_array_equal(value, expected_value)  # the forward numbers do not move at all
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-6, atol=1e-6)


def test_gelu_gradient_inside_a_compiled_function_and_in_float64():
    x = tf.constant(np.linspace(-5, 5, 64), tf.float64)

    @tf.function
    def gradient_of(function):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.sin(function(x)))
        return tape.gradient(y, x)

    np.testing.assert_allclose(gradient_of(gelu).numpy(), gradient_of(gelu_reference).numpy(), rtol=1e-12, atol=1e-12)
