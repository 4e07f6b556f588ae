"""One post-LN transformer layer of the original (attention, then feed-forward)."""
from __future__ import annotations

from typing import Optional

import tensorflow as tf

from compat.keras import keras
from modeling.activations import get_activation, plain_form
from modeling.layers.attention import RelativeSelfAttention
from modeling.layers.layer_norm import LayerNorm
from modeling.layers.naming import dense_tf1_variables, truncated_normal
from modeling.layers.relative_position import RelativePositions
from modeling.layers.seeded_dropout import derive_seed, dropout


class TransformerBlock(keras.layers.Layer):
    """attention -> dense -> dropout -> LayerNorm(x + .) -> intermediate dense (hidden_act)
    -> dense -> dropout -> LayerNorm(attention_output + .)."""

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        intermediate_size: int,
        hidden_act: str,
        initializer_range: float,
        hidden_dropout_rate: float,
        attention_dropout_rate: float,
        layer_norm_eps: float = 1e-12,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.initializer_range = initializer_range
        self.hidden_dropout_rate = hidden_dropout_rate
        self.attention_dropout_rate = attention_dropout_rate
        self.layer_norm_eps = layer_norm_eps
        self.attention = RelativeSelfAttention(
            hidden_size, num_heads, initializer_range, attention_dropout_rate, name="self"
        )
        self.attention_output = keras.layers.Dense(
            hidden_size, kernel_initializer=truncated_normal(initializer_range), name="output"
        )
        self.attention_dropout = keras.layers.Dropout(hidden_dropout_rate)
        self.attention_layer_norm = LayerNorm(epsilon=layer_norm_eps, name="attention_LayerNorm")
        # The activation is applied in call: its memory-lean form in training, its plain one otherwise.
        self.activation = get_activation(hidden_act)
        self.intermediate = keras.layers.Dense(
            intermediate_size,
            kernel_initializer=truncated_normal(initializer_range),
            name="intermediate",
        )
        self.output_dense = keras.layers.Dense(
            hidden_size, kernel_initializer=truncated_normal(initializer_range), name="ffn_output"
        )
        self.output_dropout = keras.layers.Dropout(hidden_dropout_rate)
        self.output_layer_norm = LayerNorm(epsilon=layer_norm_eps, name="output_LayerNorm")

    def call(
        self,
        hidden: tf.Tensor,
        mask_adder: tf.Tensor,
        relative_positions: Optional[RelativePositions] = None,
        training=False,
        dropout_seed: Optional[tf.Tensor] = None,
    ) -> tf.Tensor:
        """`dropout_seed` ([2] int32), when given, makes every dropout mask of the layer a function of
        it, so that running the layer twice gives the same numbers (needed for recomputation)."""
        seeds = [None] * 3 if dropout_seed is None else [derive_seed(dropout_seed, site) for site in range(3)]
        attended = self.attention(hidden, mask_adder, relative_positions=relative_positions, training=training,
                                  dropout_seed=seeds[0])
        # The rest works on [b * L, hidden] rows: 2-D Dense layers are a matmul with its bias add fused
        # (a rank-3 Dense goes through tensordot, whose reshape keeps oneDNN from fusing them).
        shape = tf.shape(hidden)
        rows = tf.reshape(hidden, [-1, self.hidden_size])
        attended = tf.reshape(attended, [-1, self.hidden_size])
        attended = dropout(self.attention_output(attended), self.attention_dropout, seeds[1], training)
        # Residual sums in float32: the LayerNorm after them is float32 anyway.
        attention_output = self.attention_layer_norm(tf.cast(rows, tf.float32) + tf.cast(attended, tf.float32),
                                                     training=training)
        activation = self.activation if training else plain_form(self.activation)
        transformed = self.output_dense(activation(self.intermediate(attention_output)))
        transformed = dropout(transformed, self.output_dropout, seeds[2], training)
        output = self.output_layer_norm(attention_output + tf.cast(transformed, tf.float32), training=training)
        return tf.reshape(output, shape)

    def tf1_variables(self, prefix: str) -> dict:
        names = self.attention.tf1_variables(f"{prefix}/attention/self")
        names.update(dense_tf1_variables(self.attention_output, f"{prefix}/attention/output/dense"))
        names.update(self.attention_layer_norm.tf1_variables(f"{prefix}/attention/output/LayerNorm"))
        names.update(dense_tf1_variables(self.intermediate, f"{prefix}/intermediate/dense"))
        names.update(dense_tf1_variables(self.output_dense, f"{prefix}/output/dense"))
        names.update(self.output_layer_norm.tf1_variables(f"{prefix}/output/LayerNorm"))
        return names

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_size=self.hidden_size,
            num_heads=self.num_heads,
            intermediate_size=self.intermediate_size,
            hidden_act=self.hidden_act,
            initializer_range=self.initializer_range,
            hidden_dropout_rate=self.hidden_dropout_rate,
            attention_dropout_rate=self.attention_dropout_rate,
            layer_norm_eps=self.layer_norm_eps,
        )
        return config
