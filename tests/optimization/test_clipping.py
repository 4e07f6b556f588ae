"""Global-norm clipping as the original does it, non-finite gradients included."""
import numpy as np
import pytest
import tensorflow as tf

from optimization import clip_factor


def clip_by_factor(grads, clip_norm):
    """The clipped gradients the loop applies: each gradient times clip_factor's scalar."""
    factor, finite = clip_factor(grads, clip_norm)
    return [g * factor for g in grads], finite


def test_clipping_uses_norm_one_when_a_gradient_is_not_finite():
    grads = [tf.constant([3.0, 4.0]), tf.constant([0.5])]
    clipped, finite = clip_by_factor(grads, 1.0)
    assert bool(finite)
    np.testing.assert_allclose(tf.concat(clipped, 0).numpy(), np.array([3, 4, 0.5]) / np.sqrt(25.25), rtol=1e-6)
    clipped, finite = clip_by_factor([tf.constant([3.0, np.inf]), tf.constant([0.5])], 1.0)
    assert not bool(finite)
    assert clipped[1].numpy()[0] == pytest.approx(0.5)  # divided by 1.0, not by inf



@pytest.mark.parametrize("values, expected", [
    ([[1e30, 1e30], [2.0]], True),       # finite gradients whose squares overflow: the norm is inf
    ([[1.0, np.nan], [2.0]], False),
    ([[1.0, 2.0], [-np.inf]], False),
])
def test_finite_is_decided_per_element_when_the_norm_is_not_finite(values, expected):
    grads = [tf.constant(v, tf.float32) for v in values]
    _, finite = clip_factor(grads, 1.0)
    assert bool(finite) is expected
    _, finite = tf.function(lambda *g: clip_factor(list(g), 1.0))(*grads)
    assert bool(finite) is expected
