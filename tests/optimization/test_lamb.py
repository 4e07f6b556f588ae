"""Lamb against a NumPy reference of the original's formula, and its layer-adaptation option."""
import numpy as np
import pytest
import tensorflow as tf

from optimization import Lamb
from tests.optimization.optimization_helpers import B1, B2, EPS, WD, excluded, grads, reference_lr, run


@pytest.mark.parametrize("exclude_from_layer_adaptation", [False, True])
def test_lamb_matches_numpy_reference(exclude_from_layer_adaptation):
    values, result = run(Lamb, exclude_from_layer_adaptation=exclude_from_layer_adaptation)
    for name, w in values.items():
        w = w.astype(np.float64)
        m = np.zeros_like(w)
        v = np.zeros_like(w)
        for step in range(3):
            t = step + 1
            g = grads(step)[name]
            m = B1 * m + (1 - B1) * g
            v = B2 * v + (1 - B2) * g * g
            m_hat, v_hat = m / (1 - B1 ** t), v / (1 - B2 ** t)
            w_norm, g_norm = np.linalg.norm(w), np.linalg.norm(g)
            ratio = w_norm / np.linalg.norm(m_hat / np.sqrt(v_hat + EPS) + WD * w) if w_norm > 0 and g_norm > 0 else 1.0
            ratio = np.clip(ratio, 0, 10)
            if exclude_from_layer_adaptation and excluded(name):
                ratio = 1.0  # plain Adam steps for LayerNorm parameters and biases
            update = m_hat / (np.sqrt(v_hat) + EPS) + (0 if excluded(name) else WD * w)
            w = w - ratio * reference_lr(t, 1e-2, 10, 2) * update
        np.testing.assert_allclose(result[name], w, atol=1e-6, err_msg=name)


def zero_bias_after(steps, **options):
    bias = tf.Variable(tf.zeros([8]))
    optimizer = Lamb(1e-3, name_of=lambda variable: "layer/bias", **options)
    for _ in range(steps):
        optimizer.apply_gradients([(tf.ones([8]), bias)])
    return np.abs(bias.numpy()).max()


def test_lamb_ratio_keeps_a_zero_initialised_bias_near_zero_unless_excluded():
    # The original's rule: one step of lr from zero, then at most a factor (1 + lr) per update.
    assert zero_bias_after(200) < 1e-3 * (1 + 1e-3) ** 200
    # Excluded from layer adaptation: a plain Adam step of lr every update.
    np.testing.assert_allclose(zero_bias_after(200, exclude_from_layer_adaptation=True), 0.2, rtol=1e-3)

