"""Every head: the pretraining heads (masked-LM tied to the word embeddings, next-sentence prediction)
and the task models' output projection."""
from __future__ import annotations

import tensorflow as tf

from compat.keras import keras
from modeling.activations import get_activation
from modeling.layers.embeddings import NezhaEmbeddings
from modeling.layers.layer_norm import LayerNorm
from modeling.layers.naming import dense_tf1_variables, truncated_normal
from modeling.layers.projection import project_transposed


class TiedOutputProjection(keras.layers.Layer):
    """log_softmax(x . word_embeddings^T + output_bias): the product in the policy's compute dtype
    (the largest matmul of a pretraining step), the bias and log-softmax in float32.

    Under mixed precision the logits are cast to float32 before the bias is added, and the bias is
    read unrounded; in float32 the numbers are the original's.
    """

    def __init__(self, embeddings: NezhaEmbeddings, **kwargs):
        super().__init__(**kwargs)
        self.embeddings = embeddings

    def build(self, input_shape):
        self.output_bias = self.add_weight(
            "output_bias", shape=[self.embeddings.vocab_size], initializer="zeros",
            experimental_autocast=False)  # added to the float32 logits as the float32 variable it is
        super().build(input_shape)

    def call(self, hidden):
        table = tf.cast(self.embeddings.word_embeddings, self.compute_dtype)
        logits = tf.cast(project_transposed(tf.cast(hidden, self.compute_dtype), table), tf.float32)
        return tf.nn.log_softmax(logits + self.output_bias, axis=-1)


class MaskedLMHead(keras.layers.Layer):
    """Gathers the hidden states at `masked_lm_positions` -> dense(hidden_act) -> LayerNorm -> tied output.

    Returns log-probabilities [batch, max_predictions, vocab].
    """

    def __init__(self, embeddings: NezhaEmbeddings, hidden_act: str, initializer_range: float,
                 layer_norm_eps: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        self.hidden_act = hidden_act
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.transform = keras.layers.Dense(
            embeddings.hidden_size,
            activation=get_activation(hidden_act),
            kernel_initializer=truncated_normal(initializer_range),
            name="transform",
        )
        self.layer_norm = LayerNorm(epsilon=layer_norm_eps, name="transform_LayerNorm")
        self.output_projection = TiedOutputProjection(embeddings, name="output")

    def call(self, sequence_output, masked_lm_positions):
        selected = tf.gather(sequence_output, masked_lm_positions, batch_dims=1)
        return self.output_projection(self.layer_norm(self.transform(selected)))

    def tf1_variables(self, prefix: str) -> dict:
        names = dense_tf1_variables(self.transform, f"{prefix}/transform/dense")
        names.update(self.layer_norm.tf1_variables(f"{prefix}/transform/LayerNorm"))
        names[f"{prefix}/output_bias"] = self.output_projection.output_bias
        return names

    def get_config(self):
        # The embedding layer is shared, not serialisable: rebuild heads through NezhaForPretraining.
        config = super().get_config()
        config.update(hidden_act=self.hidden_act, initializer_range=self.initializer_range,
                      layer_norm_eps=self.layer_norm_eps)
        return config


class NextSentenceHead(keras.layers.Layer):
    """log_softmax(pooled . W^T + b) with W [2, hidden] as the original stores it; float32."""

    def __init__(self, initializer_range: float, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.initializer_range = initializer_range

    def build(self, input_shape):
        self.output_weights = self.add_weight(
            "output_weights",
            shape=[2, int(input_shape[-1])],
            initializer=truncated_normal(self.initializer_range),
        )
        self.output_bias = self.add_weight("output_bias", shape=[2], initializer="zeros")
        super().build(input_shape)

    def call(self, pooled_output):
        logits = tf.matmul(tf.cast(pooled_output, tf.float32), self.output_weights, transpose_b=True)
        return tf.nn.log_softmax(logits + self.output_bias, axis=-1)

    def tf1_variables(self, prefix: str) -> dict:
        return {f"{prefix}/output_weights": self.output_weights, f"{prefix}/output_bias": self.output_bias}

    def get_config(self):
        config = super().get_config()
        config.update(initializer_range=self.initializer_range)
        return config


class OutputProjection(keras.layers.Layer):
    """x . output_weights^T + output_bias, stored in the original's [num_outputs, hidden] layout."""

    def __init__(self, num_outputs: int, initializer_range: float = 0.02, dropout_rate: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_outputs = num_outputs
        self.initializer_range = initializer_range
        self.dropout_rate = dropout_rate
        self.dropout = keras.layers.Dropout(dropout_rate)

    def build(self, input_shape):
        hidden = int(input_shape[-1])
        self.output_weights = self.add_weight(
            "output_weights", [self.num_outputs, hidden], initializer=truncated_normal(self.initializer_range))
        self.output_bias = self.add_weight("output_bias", [self.num_outputs], initializer="zeros")
        super().build(input_shape)

    def call(self, inputs, training=False):
        inputs = self.dropout(tf.cast(inputs, self.compute_dtype), training=training)
        weights = tf.cast(self.output_weights, self.compute_dtype)
        logits = project_transposed(inputs, weights) + tf.cast(self.output_bias, self.compute_dtype)
        return tf.cast(logits, tf.float32)

    def tf1_variables(self, prefix: str = "") -> dict:
        return {f"{prefix}output_weights": self.output_weights, f"{prefix}output_bias": self.output_bias}

    def get_config(self):
        config = super().get_config()
        config.update(num_outputs=self.num_outputs, initializer_range=self.initializer_range,
                      dropout_rate=self.dropout_rate)
        return config
