"""The Keras models: inputs, outputs, variable names, long sequences, layers' configs."""
import numpy as np
import pytest
import tensorflow as tf

from modeling import NezhaForPretraining, NezhaModel
from modeling.layers import LayerNorm, NezhaEmbeddings, RelativeSelfAttention, TransformerBlock
from tests.helpers import random_batch, tiny_config


def test_outputs_and_shapes():
    config = tiny_config()
    outputs = NezhaForPretraining(config)(random_batch(config, batch=2, length=20, predictions=3))
    assert outputs["embedding_output"].shape == (2, 20, 32)
    assert len(outputs["encoder_layers"]) == 2
    assert outputs["sequence_output"].shape == (2, 20, 32)
    assert outputs["pooled_output"].shape == (2, 32)
    assert outputs["mlm_log_probs"].shape == (2, 3, config.vocab_size)
    assert outputs["nsp_log_probs"].shape == (2, 2)
    np.testing.assert_allclose(tf.reduce_sum(tf.exp(outputs["mlm_log_probs"]), -1).numpy(), 1.0, rtol=1e-5)


def test_any_integer_dtype_is_accepted():
    config = tiny_config()
    model = NezhaModel(config)
    batch = random_batch(config)
    as_int64 = {name: tf.constant(value, tf.int64) for name, value in batch.items() if name != "masked_lm_weights"}
    np.testing.assert_array_equal(model(as_int64)["sequence_output"].numpy(), model(batch)["sequence_output"].numpy())


def test_missing_input_is_named():
    with pytest.raises(KeyError, match="segment_ids"):
        NezhaModel(tiny_config())({"input_ids": tf.zeros([1, 3], tf.int32), "input_mask": tf.ones([1, 3], tf.int32)})


def test_tf1_names_cover_every_variable_once():
    for relative in (True, False):
        model = NezhaForPretraining(tiny_config(use_relative_position=relative))
        names = model.tf1_variables()  # builds the model itself
        assert len({id(v) for v in names.values()}) == len(names) == len(model.trainable_variables)
        assert ("bert/embeddings/position_embeddings" in names) is not relative
        assert names["bert/encoder/layer_1/attention/self/query/kernel"].shape == (32, 32)
        assert names["bert/encoder/layer_0/intermediate/dense/kernel"].shape == (32, 64)
        assert names["cls/predictions/output_bias"].shape == (97,)
        assert model.encoder.word_embeddings is names["bert/embeddings/word_embeddings"]


def test_unseeded_initialisers_are_not_shared():
    names = NezhaModel(tiny_config()).tf1_variables()
    query = names["bert/encoder/layer_0/attention/self/query/kernel"].numpy()
    key = names["bert/encoder/layer_0/attention/self/key/kernel"].numpy()
    assert not np.array_equal(query, key)
    assert 0.01 < query.std() < 0.03  # truncated normal with initializer_range 0.02


def test_padding_does_not_leak_into_real_tokens():
    config = tiny_config()
    model = NezhaModel(config)
    batch = random_batch(config, batch=1, length=12)
    batch["input_mask"][:, 8:] = 0
    changed = {name: value.copy() for name, value in batch.items()}
    changed["input_ids"][:, 8:] = (changed["input_ids"][:, 8:] + 1) % config.vocab_size
    first = model(batch)["sequence_output"].numpy()[:, :8]
    second = model(changed)["sequence_output"].numpy()[:, :8]
    np.testing.assert_allclose(first, second, atol=1e-6)


def test_600_tokens_with_relative_positions():
    config = tiny_config(max_position_embeddings=512, max_relative_position=64)
    batch = random_batch(config, batch=1, length=600, predictions=2)
    outputs = NezhaForPretraining(config)(batch)
    assert outputs["sequence_output"].shape == (1, 600, 32)
    assert np.isfinite(outputs["mlm_log_probs"].numpy()).all()


def test_absolute_positions_refuse_sequences_beyond_the_table():
    config = tiny_config(use_relative_position=False, max_position_embeddings=16)
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_position_embeddings"):
        NezhaModel(config)(random_batch(config, length=17))


def test_both_relative_methods_agree_inside_a_compiled_function():
    config = tiny_config()
    batch = random_batch(config, length=30)
    dense = NezhaModel(config, relative_attention="dense")
    per_distance = NezhaModel(config, relative_attention="per_distance")
    per_distance.ensure_built()
    for target, source in zip(per_distance.tf1_variables().values(), dense.tf1_variables().values()):
        target.assign(source)
    compiled = tf.function(lambda features: per_distance(features)["sequence_output"])
    np.testing.assert_allclose(compiled(batch).numpy(), dense(batch)["sequence_output"].numpy(), atol=1e-5)


def test_dropout_only_in_training():
    config = tiny_config(hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)
    model = NezhaModel(config)
    batch = random_batch(config)
    inference = [model(batch, training=False)["sequence_output"].numpy() for _ in range(2)]
    np.testing.assert_array_equal(*inference)
    assert not np.allclose(model(batch, training=True)["sequence_output"].numpy(), inference[0])


def test_gradients_reach_every_variable():
    config = tiny_config()
    model = NezhaForPretraining(config)
    batch = random_batch(config)
    with tf.GradientTape() as tape:
        outputs = model(batch, training=True)
        loss = tf.reduce_sum(outputs["mlm_log_probs"]) + tf.reduce_sum(outputs["nsp_log_probs"])
    gradients = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None for g in gradients)


def test_unknown_relative_method():
    with pytest.raises(ValueError, match="relative_attention"):
        NezhaModel(tiny_config(), relative_attention="fast")


@pytest.mark.parametrize(
    "layer",
    [
        LayerNorm(name="LayerNorm"),
        NezhaEmbeddings(50, 16, 2, 32, False, 0.02, 0.1),
        RelativeSelfAttention(16, 4, 0.02, 0.1),
        TransformerBlock(16, 4, 32, "gelu", 0.02, 0.1, 0.1),
    ],
)
def test_layers_round_trip_their_config(layer):
    rebuilt = type(layer).from_config(layer.get_config())
    assert rebuilt.get_config() == layer.get_config()


def test_models_round_trip_their_config():
    model = NezhaForPretraining(tiny_config(), relative_attention="per_distance")
    rebuilt = NezhaForPretraining.from_config(model.get_config())
    assert rebuilt.config == model.config and rebuilt.encoder.relative_attention == "per_distance"
    encoder = NezhaModel.from_config(NezhaModel(tiny_config()).get_config())
    assert encoder.config == tiny_config()
