"""The original's gradient clipping: global norm 1.0, and norm 1.0 itself when a gradient is non-finite."""
from typing import Optional, Sequence, Tuple

import tensorflow as tf

from optimization.base import dense_gradient


def all_finite(grads: Sequence[tf.Tensor]) -> tf.Tensor:
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads if g is not None])


def clip_factor(grads: Sequence[tf.Tensor], clip_norm: float = 1.0, finite: tf.Tensor = None,
                prescale: Optional[tf.Tensor] = None) -> Tuple[tf.Tensor, tf.Tensor]:
    """The scalar that global-norm clipping multiplies (prescale * grads) by, without making copies.

    With a non-finite gradient the global norm is itself non-finite; the original then uses 1.0
    as the norm so the (discarded or diverging) update does not turn every weight into NaN.

    Returns (factor, finite); the factor includes `prescale` (e.g. 1/loss_scale), so the clipped
    gradients are `g * factor`. Same arithmetic as tf.clip_by_global_norm with use_norm.
    """
    grads = [dense_gradient(g) for g in grads]
    norm = tf.linalg.global_norm(grads)
    if finite is None:
        # A NaN or inf anywhere makes the norm NaN or inf, so a finite norm proves every gradient
        # finite without a second pass over them; only a non-finite norm (which finite gradients
        # give when their squares overflow float32) needs the element-wise check.
        finite = tf.cond(tf.math.is_finite(norm), lambda: tf.constant(True), lambda: all_finite(grads))
    if prescale is not None:
        norm = norm * prescale
    use_norm = tf.where(finite, norm, tf.constant(1.0, norm.dtype))
    factor = clip_norm * tf.minimum(1.0 / use_norm, 1.0 / clip_norm)
    if prescale is not None:
        factor = factor * prescale
    return factor, finite
