"""NezhaForPretraining and the original's pretraining losses and evaluation quantities."""
from __future__ import annotations

import tensorflow as tf

from modeling.config import NezhaConfig
from modeling.encoder import NezhaWithHeads, int_features
from modeling.heads import MaskedLMHead, NextSentenceHead


class NezhaForPretraining(NezhaWithHeads):
    """Encoder + masked-LM head + next-sentence head (the original's run_pretraining model).

    Input: the encoder's features plus `masked_lm_positions` [batch, max_predictions].
    Output: the encoder's outputs plus `mlm_log_probs` [batch, max_predictions, vocab] and
    `nsp_log_probs` [batch, 2] (float32).
    """

    def __init__(self, config: NezhaConfig, relative_attention: str = "auto", recompute_layers: bool = False,
                 **kwargs):
        kwargs.setdefault("name", "nezha_for_pretraining")
        super().__init__(config, relative_attention=relative_attention, recompute_layers=recompute_layers, **kwargs)
        self.masked_lm = MaskedLMHead(
            self.encoder.embeddings, config.hidden_act, config.initializer_range, config.layer_norm_eps,
            name="predictions"
        )
        self.next_sentence = NextSentenceHead(config.initializer_range, name="seq_relationship")

    def dummy_inputs(self) -> dict:
        features = super().dummy_inputs()
        features["masked_lm_positions"] = tf.zeros([1, 1], tf.int32)
        return features

    def call(self, inputs, training=False):
        (masked_lm_positions,) = int_features(inputs, ["masked_lm_positions"])
        outputs = dict(self.encoder(inputs, training=training))
        outputs["mlm_log_probs"] = self.masked_lm(outputs["sequence_output"], masked_lm_positions)
        outputs["nsp_log_probs"] = self.next_sentence(outputs["pooled_output"])
        return outputs

    def head_tf1_variables(self) -> dict:
        names = self.masked_lm.tf1_variables("cls/predictions")
        names.update(self.next_sentence.tf1_variables("cls/seq_relationship"))
        return names


def _masked_lm_example_losses(outputs, features):
    """Per prediction: -log p[label], labels and weights, all [batch * max_predictions]."""
    log_probs = outputs["mlm_log_probs"]
    vocab_size = tf.shape(log_probs)[-1]
    log_probs = tf.reshape(log_probs, [-1, vocab_size])
    labels = tf.reshape(tf.cast(features["masked_lm_ids"], tf.int32), [-1])
    weights = tf.reshape(tf.cast(features["masked_lm_weights"], tf.float32), [-1])
    losses = -tf.gather(log_probs, labels, batch_dims=1)
    return losses, log_probs, labels, weights


def _next_sentence_example_losses(outputs, features):
    log_probs = outputs["nsp_log_probs"]
    labels = tf.reshape(tf.cast(features["next_sentence_labels"], tf.int32), [-1])
    return -tf.gather(log_probs, labels, batch_dims=1), log_probs, labels


def pretraining_losses(outputs, features) -> dict:
    """The original's losses: masked-LM sum(w * -log p) / (sum(w) + 1e-5), next-sentence mean, and their sum."""
    mlm_losses, _, _, weights = _masked_lm_example_losses(outputs, features)
    mlm_loss = tf.reduce_sum(weights * mlm_losses) / (tf.reduce_sum(weights) + 1e-5)
    nsp_losses, _, _ = _next_sentence_example_losses(outputs, features)
    nsp_loss = tf.reduce_mean(nsp_losses)
    return {"mlm_loss": mlm_loss, "nsp_loss": nsp_loss, "total_loss": mlm_loss + nsp_loss}


def pretraining_metrics(outputs, features) -> dict:
    """The original's evaluation quantities for one batch, as (numerator, denominator) pairs.

    Sum the numerators and the denominators over batches, then divide (`finish_metrics`), to get
    exactly what the original's tf.metrics report over the whole evaluation set:
    masked_lm_accuracy and masked_lm_loss are weighted by masked_lm_weights; next_sentence_accuracy
    and next_sentence_loss are plain means over examples.
    """
    mlm_losses, mlm_log_probs, mlm_labels, weights = _masked_lm_example_losses(outputs, features)
    mlm_correct = tf.cast(tf.equal(tf.argmax(mlm_log_probs, axis=-1, output_type=tf.int32), mlm_labels), tf.float32)
    nsp_losses, nsp_log_probs, nsp_labels = _next_sentence_example_losses(outputs, features)
    nsp_correct = tf.cast(tf.equal(tf.argmax(nsp_log_probs, axis=-1, output_type=tf.int32), nsp_labels), tf.float32)
    weight_sum = tf.reduce_sum(weights)
    examples = tf.cast(tf.size(nsp_labels), tf.float32)
    return {
        "masked_lm_accuracy": (tf.reduce_sum(weights * mlm_correct), weight_sum),
        "masked_lm_loss": (tf.reduce_sum(weights * mlm_losses), weight_sum),
        "next_sentence_accuracy": (tf.reduce_sum(nsp_correct), examples),
        "next_sentence_loss": (tf.reduce_sum(nsp_losses), examples),
    }


def finish_metrics(totals) -> dict:
    """{name: (numerator, denominator)} summed over batches -> {name: float} (0 when nothing was counted)."""
    return {name: float(num) / float(den) if float(den) else 0.0 for name, (num, den) in totals.items()}
