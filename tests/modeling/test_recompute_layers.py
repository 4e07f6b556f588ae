"""NezhaModel(recompute_layers=True): same numbers without dropout, reproducible masks with it."""
import numpy as np
import tensorflow as tf

from modeling import NezhaModel
from modeling.layers import RelativePositions, TransformerBlock, attention_mask_adder, relative_position_table
from tests.helpers import random_batch, tiny_config

ENCODER_INPUTS = ("input_ids", "input_mask", "segment_ids")


def _encoder_inputs(config):
    batch = random_batch(config)
    return {name: tf.constant(batch[name]) for name in ENCODER_INPUTS}


def _loss_and_gradients(model, inputs):
    @tf.function
    def step():
        with tf.GradientTape() as tape:
            outputs = model(inputs, training=True)
            # weights per position so that every gradient path matters
            loss = tf.reduce_sum(outputs["sequence_output"] * tf.sin(tf.range(32, dtype=tf.float32)))
            loss += tf.reduce_sum(outputs["pooled_output"])
        return loss, tape.gradient(loss, model.trainable_variables)

    loss, gradients = step()
    return loss.numpy(), [tf.convert_to_tensor(g).numpy() for g in gradients]


def _twin_models(config):
    plain = NezhaModel(config, relative_attention="per_distance")
    recomputed = NezhaModel(config, relative_attention="per_distance", recompute_layers=True)
    plain.ensure_built()
    recomputed.ensure_built()
    recomputed.set_weights(plain.get_weights())
    return plain, recomputed


def test_without_dropout_recomputation_gives_the_same_loss_and_gradients():
    config = tiny_config()
    plain, recomputed = _twin_models(config)
    inputs = _encoder_inputs(config)
    loss, gradients = _loss_and_gradients(plain, inputs)
    loss_r, gradients_r = _loss_and_gradients(recomputed, inputs)
    np.testing.assert_allclose(loss_r, loss, rtol=1e-6)
    assert len(gradients) == len(gradients_r) == len(plain.trainable_variables)
    for g, g_r in zip(gradients, gradients_r):
        np.testing.assert_allclose(g_r, g, rtol=1e-5, atol=1e-6)


def test_with_dropout_the_recomputed_layer_reproduces_its_masks():
    # The gradient through tf.recompute_grad must equal the plain gradient of the same seeded forward
    # pass: it would not if the recomputation drew different dropout masks.
    config = tiny_config(hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)
    block = TransformerBlock(32, 4, 64, "gelu", 0.02, 0.3, 0.3)
    hidden = tf.random.stateless_normal([2, 20, 32], seed=[1, 2])
    mask_adder = attention_mask_adder(_encoder_inputs(config)["input_mask"])
    relative = RelativePositions(tf.constant(relative_position_table(8, 8)), 20, 8, method="per_distance")
    block(hidden, mask_adder, relative_positions=relative)
    seed = tf.constant([7, 11])
    upstream = tf.random.stateless_normal([2, 20, 32], seed=[3, 4])

    def run(h):
        return block(h, mask_adder, relative_positions=relative, training=True, dropout_seed=seed)

    @tf.function
    def gradients(function):
        with tf.GradientTape() as tape:
            tape.watch(hidden)
            out = function(hidden)
        return [out] + tape.gradient(out, [hidden] + block.trainable_variables, output_gradients=upstream)

    plain = gradients(run)
    recomputed = gradients(tf.recompute_grad(run))
    for a, b in zip(plain, recomputed):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6)
    # and dropout really was on: another seed gives another output
    other = block(hidden, mask_adder, relative_positions=relative, training=True, dropout_seed=tf.constant([8, 11]))
    assert np.abs(other.numpy() - plain[0].numpy()).max() > 1e-3


def test_with_dropout_a_seeded_run_is_deterministic():
    config = tiny_config(hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2)
    inputs = _encoder_inputs(config)
    _, model = _twin_models(config)
    results = []
    for seed in (5, 5, 6):
        tf.random.set_seed(seed)
        results.append(_loss_and_gradients(model, inputs))
    (loss_a, gradients_a), (loss_b, gradients_b), (loss_c, _) = results
    assert loss_a == loss_b
    assert loss_c != loss_a  # the masks do change with the seed (dropout is on)
    for a, b in zip(gradients_a, gradients_b):
        np.testing.assert_array_equal(a, b)


def test_recompute_layers_is_off_by_default_and_kept_in_the_config():
    config = tiny_config()
    assert NezhaModel(config).recompute_layers is False
    model = NezhaModel(config, recompute_layers=True)
    assert NezhaModel.from_config(model.get_config()).recompute_layers is True
