"""Dropout whose mask is a pure function of a seed tensor, for layers that are recomputed.

A recomputed layer (`NezhaModel(recompute_layers=True)`) runs its forward pass twice: once
forward, once again in the backward pass. Keras' Dropout draws a fresh mask each time, which would
make the recomputed activations (and so the gradients) differ from the forward ones; a stateless
mask drawn from the same seed is the same both times.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf

from compat.keras import keras


def derive_seed(seed: tf.Tensor, salt: int) -> tf.Tensor:
    """A different, reproducible [2] int32 seed for each `salt` (layer index, dropout site)."""
    return tf.random.experimental.stateless_fold_in(seed, salt)


def new_step_seed() -> tf.Tensor:
    """A fresh [2] int32 seed per forward pass (drawn from the stateful global generator, so a run
    with tf.random.set_seed is reproducible)."""
    return tf.random.uniform([2], minval=0, maxval=tf.int32.max, dtype=tf.int32)


def _random_16bit(shape, seed: tf.Tensor) -> tf.Tensor:
    """uint16 numbers uniform over [0, 2^16), two from each 32-bit draw of the stateless generator."""
    count = tf.reduce_prod(shape)
    words = tf.random.stateless_uniform(tf.reshape((count + 1) // 2, [1]), seed=seed, minval=None, maxval=None,
                                        dtype=tf.uint32)
    return tf.reshape(tf.reshape(tf.bitcast(words, tf.uint16), [-1])[:count], shape)


def dropout_keep_mask(shape, rate: float, seed: Optional[tf.Tensor]) -> tf.Tensor:
    """The boolean keep mask of dropout: True with probability 1 - rate, from 16-bit random numbers.

    tf.nn.dropout compares a float uniform with the rate; 16 bits per element give the same rate to
    within 2^-17 (0.1 becomes 6554 / 65536 = 0.100006) for half the random-number work, which was
    about a tenth of a bf16 training step on a CPU. Stateless from `seed`; without one, from a seed
    drawn from the global generator (so tf.random.set_seed still makes a run reproducible)."""
    if seed is None:
        seed = new_step_seed()
    if rate >= 1.0:
        return tf.zeros(shape, tf.bool)
    threshold = tf.constant(int(round(rate * 65536)), tf.int32)
    return tf.cast(_random_16bit(shape, seed), tf.int32) >= threshold


def apply_keep_mask(x: tf.Tensor, keep: tf.Tensor, rate: float) -> tf.Tensor:
    """Dropout's output for mask `keep`: kept values times 1 / (1 - rate) (in x's dtype, as tf.nn.dropout)."""
    return tf.where(keep, x * tf.cast(1.0 / (1.0 - rate), x.dtype), tf.zeros([], x.dtype))


def dropout(x: tf.Tensor, keras_dropout: keras.layers.Dropout, seed: Optional[tf.Tensor], training) -> tf.Tensor:
    """Dropout at `keras_dropout.rate` (the layer holds the rate) with the mask of `dropout_keep_mask`:
    stateless from `seed` when given (the same mask when the layer is recomputed)."""
    if not training or keras_dropout.rate == 0:
        return x
    return apply_keep_mask(x, dropout_keep_mask(tf.shape(x), keras_dropout.rate, seed), keras_dropout.rate)
