"""Under the mixed policies: float32 variables, float32 outputs, and results close to float32's."""
import numpy as np
import pytest
import tensorflow as tf

from modeling import NezhaForPretraining, pretraining_losses
from tests.helpers import random_batch, tiny_config


def float32_reference(config, batch, method):
    model = NezhaForPretraining(config, relative_attention=method)
    model.ensure_built()
    return model, model(batch)


@pytest.mark.parametrize("method", ["dense", "per_distance"])
@pytest.mark.parametrize(
    "policy, activation_tolerance, loss_tolerance",
    [("mixed_float16", 1e-2, 2e-3), ("mixed_bfloat16", 5e-2, 1e-2)],
)
def test_close_to_float32(global_policy, method, policy, activation_tolerance, loss_tolerance):
    config = tiny_config()
    batch = random_batch(config, length=24)
    reference_model, reference = float32_reference(config, batch, method)
    reference_losses = pretraining_losses(reference, batch)

    global_policy(policy)
    model = NezhaForPretraining(config, relative_attention=method)
    names = model.tf1_variables()
    for name, variable in reference_model.tf1_variables().items():
        names[name].assign(variable)
    assert all(v.dtype == tf.float32 for v in model.variables)
    outputs = model(batch)
    losses = pretraining_losses(outputs, batch)

    for name in ("embedding_output", "sequence_output", "pooled_output", "mlm_log_probs", "nsp_log_probs"):
        assert outputs[name].dtype == tf.float32, name
        error = np.abs(outputs[name].numpy() - reference[name].numpy()).max()
        assert error <= activation_tolerance * max(1.0, np.abs(reference[name].numpy()).max()), (name, error)
    for name in ("mlm_loss", "nsp_loss", "total_loss"):
        assert float(losses[name]) == pytest.approx(float(reference_losses[name]), rel=loss_tolerance)


def test_mixed_float16_training_step_has_finite_gradients(global_policy):
    global_policy("mixed_float16")
    config = tiny_config()
    model = NezhaForPretraining(config)
    batch = random_batch(config)
    with tf.GradientTape() as tape:
        loss = pretraining_losses(model(batch, training=True), batch)["total_loss"]
    gradients = tape.gradient(loss, model.trainable_variables)
    gradients = [tf.convert_to_tensor(g) for g in gradients]  # embedding lookups give IndexedSlices
    assert all(g.dtype == tf.float32 and np.isfinite(g.numpy()).all() for g in gradients)
