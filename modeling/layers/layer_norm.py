"""Layer normalisation as the original computes it, always in float32."""
from __future__ import annotations

import tensorflow as tf

from compat.keras import keras


def layer_norm_reference(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: float) -> tf.Tensor:
    """The original's formula, differentiated by TensorFlow: the reference `layer_norm` is tested against."""
    mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
    return tf.nn.batch_normalization(x, mean, variance, beta, gamma, epsilon)


def layer_norm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: float) -> tf.Tensor:
    """Same forward numbers as `layer_norm_reference`; the backward pass keeps only x (and per-row
    statistics) and recomputes the normalised values, instead of TensorFlow's intermediates."""

    @tf.custom_gradient
    def normalise(x, gamma, beta):
        def gradient(upstream):
            mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
            inverse_std = tf.math.rsqrt(variance + epsilon)
            normalised = x * inverse_std - mean * inverse_std  # as batch_normalization rounds it
            outer_axes = list(range(len(x.shape) - 1))
            scaled = upstream * gamma
            dx = inverse_std * (scaled - tf.reduce_mean(scaled, axis=-1, keepdims=True)
                                - normalised * tf.reduce_mean(scaled * normalised, axis=-1, keepdims=True))
            return (dx, tf.reduce_sum(upstream * normalised, axis=outer_axes),
                    tf.reduce_sum(upstream, axis=outer_axes))

        return layer_norm_reference(x, gamma, beta, epsilon), gradient

    return normalise(x, tf.convert_to_tensor(gamma), tf.convert_to_tensor(beta))


class LayerNorm(keras.layers.Layer):
    """Normalises over the last axis with epsilon 1e-12 (the original's), variables `gamma` and `beta`.

    The layer's dtype policy is float32 whatever the global policy, so under mixed precision the
    statistics are computed in float32 and the output is float32. In training (and when `training`
    is not given) it uses the memory-lean gradient of `layer_norm`; with training=False the plain
    formula (same numbers), which leaves the optimised inference graph free of the custom-gradient
    wrapper.
    """

    def __init__(self, epsilon: float = 1e-12, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        size = int(input_shape[-1])
        self.gamma = self.add_weight("gamma", shape=[size], initializer="ones")
        self.beta = self.add_weight("beta", shape=[size], initializer="zeros")
        super().build(input_shape)

    def call(self, inputs, training=None):
        normalise = layer_norm_reference if training is not None and not training else layer_norm
        return normalise(tf.cast(inputs, tf.float32), self.gamma, self.beta, self.epsilon)

    def tf1_variables(self, prefix: str) -> dict:
        return {f"{prefix}/gamma": self.gamma, f"{prefix}/beta": self.beta}

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon)
        return config
