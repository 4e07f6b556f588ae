"""Fine-tuning models: a NezhaModel plus the original's task heads, with the original's losses.

- NezhaForClassification: dropout 0.1 on the pooled output, logits = pooled . output_weights^T +
  output_bias (output_weights [num_labels, hidden]).
- NezhaForTokenTagging: dropout 0.1 on every token, the same dense head per token; softmax
  cross-entropy over the real tokens, or with use_crf a linear-chain CRF (`transitions`) decoded
  with Viterbi.
- NezhaForSpanExtraction: start/end logits from cls/squad/output_weights [2, hidden]; positions
  that are neither a context token nor [CLS] get -10000 added (the span mask).

Every model takes the encoder's feature dict and exposes tf1_variables() with the head's names.
"""
from __future__ import annotations

import tensorflow as tf

from modeling.config import NezhaConfig
from modeling.encoder import ENCODER_INPUTS, NezhaModel, dummy_features, int_features
from modeling.layers.naming import truncated_normal
from modeling.layers.projection import project_transposed

HEAD_DROPOUT = 0.1
SPAN_MASK_ADDER = -10000.0


class OutputProjection(tf.keras.layers.Layer):
    """x . output_weights^T + output_bias, stored in the original's [num_outputs, hidden] layout."""

    def __init__(self, num_outputs: int, initializer_range: float = 0.02, dropout_rate: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_outputs = num_outputs
        self.initializer_range = initializer_range
        self.dropout_rate = dropout_rate
        self.dropout = tf.keras.layers.Dropout(dropout_rate)

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


class _TaskModel(tf.keras.Model):
    """A NezhaModel (`self.encoder`) and a head; subclasses define `head_outputs`."""

    head_prefix = ""

    def __init__(self, config: NezhaConfig, relative_attention: str = "auto", recompute_layers: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.encoder = NezhaModel(config, relative_attention=relative_attention, recompute_layers=recompute_layers)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        return cls(NezhaConfig.from_dict(config.pop("config")), **config)

    def _base_config(self) -> dict:
        return {"config": self.config.to_dict(), "relative_attention": self.encoder.relative_attention,
                "recompute_layers": self.encoder.recompute_layers, "name": self.name}

    def ensure_built(self) -> None:
        if not self.built:
            self(dummy_features(ENCODER_INPUTS), training=False)

    def tf1_variables(self) -> dict:
        self.ensure_built()
        names = dict(self.encoder.tf1_variables())
        names.update(self.head.tf1_variables(self.head_prefix))
        names.update(self.extra_tf1_variables())
        return names

    def extra_tf1_variables(self) -> dict:
        return {}


class NezhaForClassification(_TaskModel):
    """Outputs `logits` and `probabilities` [batch, num_labels]."""

    def __init__(self, config: NezhaConfig, num_labels: int, **kwargs):
        kwargs.setdefault("name", "classifier")
        super().__init__(config, **kwargs)
        self.num_labels = num_labels
        self.head = OutputProjection(num_labels, config.initializer_range, HEAD_DROPOUT, name="classifier_head")

    def call(self, inputs, training=False):
        pooled = self.encoder(inputs, training=training)["pooled_output"]
        logits = self.head(pooled, training=training)
        return {"logits": logits, "probabilities": tf.nn.softmax(logits, axis=-1)}

    def get_config(self):
        return {**self._base_config(), "num_labels": self.num_labels}


class NezhaForTokenTagging(_TaskModel):
    """Outputs per-token `logits` [batch, seq, num_labels] and decoded `tags` [batch, seq]
    (argmax, or Viterbi with use_crf). num_labels counts the padding id 0."""

    def __init__(self, config: NezhaConfig, num_labels: int, use_crf: bool = False, **kwargs):
        kwargs.setdefault("name", "tagger")
        super().__init__(config, **kwargs)
        self.num_labels = num_labels
        self.use_crf = use_crf
        self.head = OutputProjection(num_labels, config.initializer_range, HEAD_DROPOUT, name="tagger_head")
        self.transitions = None
        if use_crf:
            self.transitions = self.add_weight(
                "transitions", [num_labels, num_labels], initializer=truncated_normal(config.initializer_range))

    def call(self, inputs, training=False):
        sequence = self.encoder(inputs, training=training)["sequence_output"]
        logits = self.head(sequence, training=training)
        if self.use_crf:
            from tensorflow_addons.text import crf_decode  # imported only when a CRF is asked for

            lengths = tf.reduce_sum(int_features(inputs, ["input_mask"])[0], axis=-1)
            tags, _ = crf_decode(logits, self.transitions, lengths)
        else:
            tags = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return {"logits": logits, "tags": tf.cast(tags, tf.int32)}

    def extra_tf1_variables(self) -> dict:
        return {"transitions": self.transitions} if self.use_crf else {}

    def get_config(self):
        return {**self._base_config(), "num_labels": self.num_labels, "use_crf": self.use_crf}


class NezhaForSpanExtraction(_TaskModel):
    """Outputs `start_logits` and `end_logits` [batch, seq], span-masked."""

    head_prefix = "cls/squad/"

    def __init__(self, config: NezhaConfig, **kwargs):
        kwargs.setdefault("name", "span_extractor")
        super().__init__(config, **kwargs)
        self.head = OutputProjection(2, config.initializer_range, 0.0, name="span_head")

    def call(self, inputs, training=False):
        sequence = self.encoder(inputs, training=training)["sequence_output"]
        logits = self.head(sequence, training=training)
        input_mask, segment_ids = int_features(inputs, ["input_mask", "segment_ids"])
        # Context tokens are segment 1; [CLS] stays selectable because it is the training target
        # of windows that do not contain the answer.
        allowed = tf.cast(input_mask * segment_ids, tf.float32)
        allowed = tf.maximum(allowed, tf.one_hot(tf.zeros_like(input_mask[:, 0]), tf.shape(input_mask)[1]))
        adder = (1.0 - allowed) * SPAN_MASK_ADDER
        return {"start_logits": logits[:, :, 0] + adder, "end_logits": logits[:, :, 1] + adder}

    def get_config(self):
        return self._base_config()


def classification_loss(outputs, label_ids):
    """Mean softmax cross-entropy."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(label_ids, tf.int32), logits=outputs["logits"]))


def tagging_loss(model: NezhaForTokenTagging, outputs, label_ids, input_mask):
    """Softmax cross-entropy averaged over the real tokens, or the mean CRF negative log-likelihood."""
    label_ids = tf.cast(label_ids, tf.int32)
    mask = tf.cast(input_mask, tf.float32)
    if model.use_crf:
        from tensorflow_addons.text import crf_log_likelihood

        lengths = tf.reduce_sum(tf.cast(input_mask, tf.int32), axis=-1)
        log_likelihood, _ = crf_log_likelihood(outputs["logits"], label_ids, lengths, model.transitions)
        return -tf.reduce_mean(log_likelihood)
    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=label_ids, logits=outputs["logits"])
    return tf.reduce_sum(per_token * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def span_loss(outputs, start_positions, end_positions):
    """The original's (start cross-entropy + end cross-entropy) / 2, each a batch mean."""
    def cross_entropy(logits, positions):
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.cast(positions, tf.int32), logits=logits))

    return (cross_entropy(outputs["start_logits"], start_positions)
            + cross_entropy(outputs["end_logits"], end_positions)) / 2.0
