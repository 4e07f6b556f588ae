"""Layer normalisation as the original computes it, always in float32."""
from __future__ import annotations

import tensorflow as tf


class LayerNorm(tf.keras.layers.Layer):
    """Normalises over the last axis with epsilon 1e-12 (the original's), variables `gamma` and `beta`.

    The layer's dtype policy is float32 whatever the global policy, so under mixed precision the
    statistics are computed in float32 and the output is float32.
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

    def call(self, inputs):
        inputs = tf.cast(inputs, tf.float32)
        mean, variance = tf.nn.moments(inputs, axes=[-1], keepdims=True)
        return tf.nn.batch_normalization(inputs, mean, variance, self.beta, self.gamma, self.epsilon)

    def tf1_variables(self, prefix: str) -> dict:
        return {f"{prefix}/gamma": self.gamma, f"{prefix}/beta": self.beta}

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon)
        return config
