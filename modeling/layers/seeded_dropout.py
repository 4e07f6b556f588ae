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


def dropout_keep_mask(shape, rate: float, seed: Optional[tf.Tensor]) -> tf.Tensor:
    """The boolean mask of tf.nn.dropout (uniform >= rate): stateless from `seed`, else from the
    global generator."""
    if seed is None:
        uniform = tf.random.uniform(shape, dtype=tf.float32)
    else:
        uniform = tf.random.stateless_uniform(shape, seed=seed, dtype=tf.float32)
    return uniform >= rate


def dropout(x: tf.Tensor, keras_dropout: keras.layers.Dropout, seed: Optional[tf.Tensor], training) -> tf.Tensor:
    """`keras_dropout(x)` when no seed is given (the default path), else a stateless mask from `seed`."""
    if seed is None:
        return keras_dropout(x, training=training)
    if not training or keras_dropout.rate == 0:
        return x
    return tf.nn.experimental.stateless_dropout(x, keras_dropout.rate, seed=seed)
