"""Word + token-type (+ absolute position) embeddings, then LayerNorm and dropout."""
from __future__ import annotations

import tensorflow as tf

from compat.keras import keras
from modeling.layers.layer_norm import LayerNorm
from modeling.layers.naming import truncated_normal


class NezhaEmbeddings(keras.layers.Layer):
    """The original's embedding_lookup + embedding_postprocessor.

    Absolute position embeddings exist only when `use_relative_position` is false (Google BERT);
    NEZHA puts all position information in the attention instead.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        type_vocab_size: int,
        max_position_embeddings: int,
        use_relative_position: bool,
        initializer_range: float,
        dropout_rate: float,
        layer_norm_eps: float = 1e-12,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.type_vocab_size = type_vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.use_relative_position = use_relative_position
        self.initializer_range = initializer_range
        self.dropout_rate = dropout_rate
        self.layer_norm_eps = layer_norm_eps
        self.layer_norm = LayerNorm(epsilon=layer_norm_eps, name="LayerNorm")
        self.dropout = keras.layers.Dropout(dropout_rate)

    def build(self, input_shape):
        self.word_embeddings = self.add_weight(
            "word_embeddings",
            shape=[self.vocab_size, self.hidden_size],
            initializer=truncated_normal(self.initializer_range),
        )
        self.token_type_embeddings = self.add_weight(
            "token_type_embeddings",
            shape=[self.type_vocab_size, self.hidden_size],
            initializer=truncated_normal(self.initializer_range),
        )
        self.position_embeddings = None
        if not self.use_relative_position:
            self.position_embeddings = self.add_weight(
                "position_embeddings",
                shape=[self.max_position_embeddings, self.hidden_size],
                initializer=truncated_normal(self.initializer_range),
            )
        super().build(input_shape)

    def call(self, input_ids, segment_ids, training=False):
        embeddings = tf.gather(self.word_embeddings, input_ids)
        embeddings += tf.gather(self.token_type_embeddings, segment_ids)
        if self.position_embeddings is not None:
            length = tf.shape(input_ids)[1]
            tf.debugging.assert_less_equal(
                length,
                self.max_position_embeddings,
                message="sequence longer than max_position_embeddings of this absolute-position model",
            )
            embeddings += self.position_embeddings[None, :length, :]
        return self.dropout(self.layer_norm(embeddings), training=training)

    def tf1_variables(self, prefix: str) -> dict:
        names = {
            f"{prefix}/word_embeddings": self.word_embeddings,
            f"{prefix}/token_type_embeddings": self.token_type_embeddings,
        }
        if self.position_embeddings is not None:
            names[f"{prefix}/position_embeddings"] = self.position_embeddings
        names.update(self.layer_norm.tf1_variables(f"{prefix}/LayerNorm"))
        return names

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            type_vocab_size=self.type_vocab_size,
            max_position_embeddings=self.max_position_embeddings,
            use_relative_position=self.use_relative_position,
            initializer_range=self.initializer_range,
            dropout_rate=self.dropout_rate,
            layer_norm_eps=self.layer_norm_eps,
        )
        return config
