import numpy as np
import pytest
import tensorflow as tf

from compat.keras import keras
from modeling.task_models import (NezhaForClassification, NezhaForSpanExtraction, NezhaForTokenTagging,
                                  classification_loss, span_loss, tagging_loss)
from tests.helpers import smallest_config, tiny_config


@pytest.fixture(scope="module")
def config():
    return tiny_config(vocab_size=50, max_position_embeddings=64, max_relative_position=64)


def batch(seq=8):
    return {"input_ids": tf.constant([[2, 5, 6, 3, 7, 8, 3, 0], [2, 9, 3, 4, 3, 0, 0, 0]], tf.int32),
            "input_mask": tf.constant([[1] * 7 + [0], [1] * 5 + [0] * 3], tf.int32),
            "segment_ids": tf.constant([[0, 0, 0, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 0, 0, 0]], tf.int32)}


def test_classifier_head_names_and_shapes(config):
    model = NezhaForClassification(config, num_labels=3)
    names = model.tf1_variables()
    assert names["output_weights"].shape == (3, 32) and names["output_bias"].shape == (3,)
    assert "bert/pooler/dense/kernel" in names and "bert/embeddings/word_embeddings" in names
    outputs = model(batch())
    assert outputs["probabilities"].shape == (2, 3)
    np.testing.assert_allclose(tf.reduce_sum(outputs["probabilities"], -1), [1, 1], rtol=1e-6)
    logits = model.encoder(batch())["pooled_output"] @ tf.transpose(names["output_weights"]) + names["output_bias"]
    np.testing.assert_allclose(outputs["logits"], logits, atol=1e-6)
    loss = classification_loss(outputs, tf.constant([0, 2]))
    expected = -np.mean(np.log(outputs["probabilities"].numpy()[[0, 1], [0, 2]]))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_span_head_masks_non_context_positions(config):
    model = NezhaForSpanExtraction(config)
    names = model.tf1_variables()
    assert names["cls/squad/output_weights"].shape == (2, 32) and names["cls/squad/output_bias"].shape == (2,)
    outputs = model(batch())
    start = outputs["start_logits"].numpy()
    # row 0: positions 4..6 are context, 0 is [CLS]; 1..3 and padding are masked
    assert (start[0, [1, 2, 3, 7]] < -5000).all() and (start[0, [0, 4, 5, 6]] > -5000).all()
    assert (start[1, [1, 2, 5, 6, 7]] < -5000).all() and (start[1, [0, 3, 4]] > -5000).all()
    assert float(span_loss(outputs, tf.constant([4, 3]), tf.constant([5, 4]))) > 0


@pytest.mark.parametrize("use_crf", [False, True])
def test_tagger_loss_and_decoding(config, use_crf):
    model = NezhaForTokenTagging(config, num_labels=5, use_crf=use_crf)
    names = model.tf1_variables()
    assert names["output_weights"].shape == (5, 32)
    assert ("transitions" in names) == use_crf
    features = batch()
    labels = tf.constant([[3, 1, 1, 2, 1, 1, 4, 0], [3, 2, 4, 1, 4, 0, 0, 0]])
    optimizer = keras.optimizers.Adam(1e-2)
    losses = []
    for _ in range(15):
        with tf.GradientTape() as tape:
            outputs = model(features, training=True)
            loss = tagging_loss(model, outputs, labels, features["input_mask"])
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        losses.append(float(loss))
    assert losses[-1] < losses[0] * 0.5
    tags = model(features)["tags"].numpy()
    mask = features["input_mask"].numpy().astype(bool)
    np.testing.assert_array_equal(tags[mask], labels.numpy()[mask])


def test_token_loss_ignores_padding(config):
    model = NezhaForTokenTagging(config, num_labels=5)
    features = batch()
    outputs = model(features)
    labels = tf.constant([[3, 1, 1, 2, 1, 1, 4, 0], [3, 2, 4, 1, 4, 0, 0, 0]])
    log_probs = tf.nn.log_softmax(outputs["logits"]).numpy()
    mask = features["input_mask"].numpy().astype(bool)
    picked = np.take_along_axis(log_probs, labels.numpy()[..., None], -1)[..., 0]
    expected = -picked[mask].mean()
    assert float(tagging_loss(model, outputs, labels, features["input_mask"])) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("make", [
    lambda c: NezhaForClassification(c, num_labels=3, recompute_layers=True),
    lambda c: NezhaForTokenTagging(c, num_labels=4, use_crf=True, relative_attention="per_distance"),
    lambda c: NezhaForSpanExtraction(c),
])
def test_task_models_rebuild_from_their_config(make):
    config = smallest_config(use_relative_position=False)
    model = make(config)
    rebuilt = type(model).from_config(model.get_config())
    assert rebuilt.get_config() == model.get_config()
    assert rebuilt.encoder.recompute_layers == model.encoder.recompute_layers
    assert rebuilt.encoder.relative_attention == model.encoder.relative_attention
