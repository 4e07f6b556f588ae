import math

import numpy as np
import pytest
import tensorflow as tf

from modeling import get_activation


def test_gelu_is_the_tanh_approximation():
    x = np.linspace(-6, 6, 101).astype(np.float32)
    expected = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(get_activation("gelu")(tf.constant(x)).numpy(), expected, atol=1e-6)
    # and differs from the exact erf form, which the original does not use
    exact = tf.nn.gelu(tf.constant(x), approximate=False).numpy()
    assert np.abs(exact - expected).max() > 1e-4


@pytest.mark.parametrize("name, expected", [("relu", [0.0, 2.0]), ("tanh", list(np.tanh([-1.0, 2.0]))), ("linear", [-1.0, 2.0])])
def test_other_activations(name, expected):
    np.testing.assert_allclose(get_activation(name)(tf.constant([-1.0, 2.0])).numpy(), expected, rtol=1e-6)


def test_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        get_activation("swish")


def test_gelu_erf_is_the_exact_form():
    """transformers' "gelu" (read from Hugging Face configs as gelu_erf): x * Phi(x) with the erf."""
    x = np.linspace(-6, 6, 101)
    expected = 0.5 * x * (1 + np.array([math.erf(v / math.sqrt(2)) for v in x]))
    got = get_activation("gelu_erf")(tf.constant(x, tf.float32)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert np.abs(got - get_activation("gelu")(tf.constant(x, tf.float32)).numpy()).max() > 1e-4


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
@pytest.mark.parametrize("form", ["gelu", "reference"])
def test_gelu_stays_finite_and_exact_where_float16_powers_overflow(dtype, form):
    """x^3 overflows float16 for |x| > 40 and the derivative's x^2 for |x| > 256, where the backward
    pass gave 0 * inf = NaN: the polynomial is computed in float32."""
    from modeling.activations import gelu_reference
    function = get_activation("gelu") if form == "gelu" else gelu_reference
    values = [-60000.0, -1000.0, -300.0, -257.0, -41.0, -1.5, 0.0, 0.7, 41.0, 257.0, 300.0, 1000.0, 60000.0]
    x = tf.constant(values, dtype)
    wide = tf.cast(x, tf.float32)  # the same inputs, as float32
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, wide])
        y, y_wide = function(x), function(wide)
    gradient, gradient_wide = tape.gradient(y, x), tape.gradient(y_wide, wide)
    assert y.dtype == gradient.dtype == dtype
    for reduced, exact in ((y, y_wide), (gradient, gradient_wide)):
        reduced = tf.cast(reduced, tf.float32).numpy()
        assert np.isfinite(reduced).all(), reduced
        # the float32 result within two roundings to the reduced type
        np.testing.assert_allclose(reduced, exact.numpy(), rtol=2 * float(np.finfo(np.float16).eps)
                                   if dtype == tf.float16 else 2 * 2.0 ** -7, atol=0)
