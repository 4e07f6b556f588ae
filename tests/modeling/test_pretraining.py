"""pretraining_metrics aggregates exactly over batches (sums of numerators and denominators)."""
import numpy as np
import pytest
import tensorflow as tf

from modeling import finish_metrics, pretraining_metrics


def fake_outputs(mlm_log_probs, nsp_log_probs):
    return {"mlm_log_probs": tf.constant(mlm_log_probs, tf.float32), "nsp_log_probs": tf.constant(nsp_log_probs, tf.float32)}


def test_two_batches_aggregate_to_the_weighted_means():
    # batch 1: predictions 0 (right, w=1), 1 (wrong, w=1), 2 (right, w=0); batch 2: one right prediction, w=1.
    vocab = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]], np.float32))
    batch1 = (fake_outputs(vocab[None], np.log([[0.9, 0.1]])), {
        "masked_lm_ids": np.array([[0, 1, 0]]), "masked_lm_weights": np.array([[1.0, 1.0, 0.0]]),
        "next_sentence_labels": np.array([[0]])})
    batch2 = (fake_outputs(vocab[None, :1], np.log([[0.3, 0.7], [0.6, 0.4]])), {
        "masked_lm_ids": np.array([[0]]), "masked_lm_weights": np.array([[1.0]]),
        "next_sentence_labels": np.array([[0], [0]])})
    totals = {}
    for outputs, features in (batch1, batch2):
        for name, (num, den) in pretraining_metrics(outputs, features).items():
            old = totals.get(name, (0.0, 0.0))
            totals[name] = (old[0] + float(num), old[1] + float(den))
    metrics = finish_metrics(totals)
    assert metrics["masked_lm_accuracy"] == pytest.approx(2 / 3)
    assert metrics["masked_lm_loss"] == pytest.approx(-(np.log(0.7) + np.log(0.1) + np.log(0.7)) / 3, rel=1e-6)
    assert metrics["next_sentence_accuracy"] == pytest.approx(2 / 3)
    assert metrics["next_sentence_loss"] == pytest.approx(-(np.log(0.9) + np.log(0.3) + np.log(0.6)) / 3, rel=1e-6)


def test_nothing_counted_gives_zero():
    assert finish_metrics({"masked_lm_accuracy": (0.0, 0.0)}) == {"masked_lm_accuracy": 0.0}
