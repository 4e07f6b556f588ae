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


@pytest.mark.parametrize("policy, compute_dtype", [("mixed_float16", tf.float16), ("mixed_bfloat16", tf.bfloat16),
                                                   ("float32", tf.float32)])
def test_masked_lm_output_projection_multiplies_in_the_compute_dtype(global_policy, policy, compute_dtype):
    """The product with the word embeddings (vocab x hidden) runs in the compute dtype; the logits
    are cast to float32 before the float32 bias and the log-softmax."""
    global_policy(policy)
    config = tiny_config()
    model = NezhaForPretraining(config)
    model.ensure_built()
    projection = model.masked_lm.output_projection
    spec = tf.TensorSpec([2, 3, config.hidden_size], tf.float32)
    graph = tf.function(projection).get_concrete_function(spec).graph
    operations = graph.get_operations()
    matmuls = [op for op in operations if op.type in ("MatMul", "BatchMatMulV2", "Einsum")]
    assert [op.get_attr("T") for op in matmuls] == [compute_dtype]
    assert [op.get_attr("T") for op in operations if op.type == "LogSoftmax"] == [tf.float32]
    bias_reads = [op for op in operations if op.type == "ReadVariableOp"
                  and op.outputs[0].shape.as_list() == [config.vocab_size]]
    assert bias_reads and all(consumer.type != "Cast" for op in bias_reads for consumer in op.outputs[0].consumers())
    assert projection.output_bias.dtype == tf.float32
    assert projection(tf.random.normal([2, 3, config.hidden_size])).dtype == tf.float32
