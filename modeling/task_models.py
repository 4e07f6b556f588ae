"""Fine-tuning models: a NezhaModel plus the original's task heads, with the original's losses.

- NezhaForClassification: dropout 0.1 on the pooled output, logits = pooled . output_weights^T +
  output_bias (output_weights [num_labels, hidden]).
- NezhaForTokenTagging: dropout 0.1 on every token, the same dense head per token; softmax
  cross-entropy over the real tokens, or with use_crf a linear-chain CRF (`transitions`,
  modeling/layers/crf.py) decoded with Viterbi at inference only.
- NezhaForSpanExtraction: start/end logits from cls/squad/output_weights [2, hidden]; positions
  that are neither a context token nor [CLS] get -10000 added (the span mask).

Every model takes the encoder's feature dict and exposes tf1_variables() with the head's names.
"""
from __future__ import annotations

import tensorflow as tf

from modeling.config import NezhaConfig
from modeling.encoder import NezhaWithHeads, int_features
from modeling.heads import OutputProjection
from modeling.layers.crf import crf_decode, crf_log_likelihood
from modeling.layers.naming import truncated_normal

HEAD_DROPOUT = 0.1
SPAN_MASK_ADDER = -10000.0


class _TaskModel(NezhaWithHeads):
    """A NezhaModel and one OutputProjection `head` (TF1 names under `head_prefix`)."""

    head_prefix = ""

    def head_tf1_variables(self) -> dict:
        names = self.head.tf1_variables(self.head_prefix)
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

    def extra_config(self):
        return {"num_labels": self.num_labels}


class NezhaForTokenTagging(_TaskModel):
    """Outputs per-token `logits` [batch, seq, num_labels] and, at inference (training=False),
    decoded `tags` [batch, seq] (argmax, or Viterbi with use_crf). Training calls return only the
    logits, all the loss needs, so the Viterbi pass never runs in a training step.
    num_labels counts the padding id 0."""

    def __init__(self, config: NezhaConfig, num_labels: int, use_crf: bool = False, **kwargs):
        kwargs.setdefault("name", "tagger")
        super().__init__(config, **kwargs)
        self.num_labels = num_labels
        self.use_crf = use_crf
        self.head = OutputProjection(num_labels, config.initializer_range, HEAD_DROPOUT, name="tagger_head")
        self.transitions = None
        if use_crf:
            # no autocast: the CRF works in float32 under mixed precision, and a float16 copy of the
            # transitions would round the scores the decoding compares
            self.transitions = self.add_weight(
                "transitions", [num_labels, num_labels], initializer=truncated_normal(config.initializer_range),
                experimental_autocast=False)

    def call(self, inputs, training=False):
        sequence = self.encoder(inputs, training=training)["sequence_output"]
        logits = self.head(sequence, training=training)
        if training:
            return {"logits": logits}
        if self.use_crf:
            tags, _ = crf_decode(logits, self.transitions, _lengths(int_features(inputs, ["input_mask"])[0]))
        else:
            tags = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return {"logits": logits, "tags": tags}

    def extra_tf1_variables(self) -> dict:
        return {"transitions": self.transitions} if self.use_crf else {}

    def extra_config(self):
        return {"num_labels": self.num_labels, "use_crf": self.use_crf}


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


def _lengths(input_mask):
    """[batch] real tokens per row."""
    return tf.reduce_sum(tf.cast(input_mask, tf.int32), axis=-1)


def classification_loss(outputs, label_ids):
    """Mean softmax cross-entropy."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(label_ids, tf.int32), logits=outputs["logits"]))


def tagging_loss(model: NezhaForTokenTagging, outputs, label_ids, input_mask):
    """Softmax cross-entropy averaged over the real tokens, or the mean CRF negative log-likelihood."""
    label_ids = tf.cast(label_ids, tf.int32)
    mask = tf.cast(input_mask, tf.float32)
    if model.use_crf:
        return -tf.reduce_mean(crf_log_likelihood(outputs["logits"], label_ids, _lengths(input_mask),
                                                  model.transitions))
    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=label_ids, logits=outputs["logits"])
    return tf.reduce_sum(per_token * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def span_loss(outputs, start_positions, end_positions):
    """The original's (start cross-entropy + end cross-entropy) / 2, each a batch mean."""
    def cross_entropy(logits, positions):
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.cast(positions, tf.int32), logits=logits))

    return (cross_entropy(outputs["start_logits"], start_positions)
            + cross_entropy(outputs["end_logits"], end_positions)) / 2.0
