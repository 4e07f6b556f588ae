"""The memory-saving custom gradients equal TensorFlow's own gradients of the same formulas."""
import numpy as np
import pytest
import tensorflow as tf

from modeling.activations import gelu, gelu_reference
from modeling.layers import RelativePositions, relative_position_table
from modeling.layers.attention import attention_context
from modeling.layers.layer_norm import LayerNorm, layer_norm, layer_norm_reference


def _value_and_gradient(function, x, upstream):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = function(x)
    return y.numpy(), tape.gradient(y, x, output_gradients=upstream).numpy()


def test_gelu_forward_and_gradient_equal_autodiff_of_the_formula():
    rng = np.random.RandomState(0)
    x = tf.constant(np.concatenate([np.linspace(-8, 8, 401), rng.normal(0, 2, 600)]).astype(np.float32))
    upstream = tf.constant(rng.normal(size=x.shape).astype(np.float32))
    value, gradient = _value_and_gradient(gelu, x, upstream)
    expected_value, expected_gradient = _value_and_gradient(gelu_reference, x, upstream)
    np.testing.assert_array_equal(value, expected_value)  # the forward numbers do not move at all
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-6, atol=1e-6)


def test_gelu_gradient_inside_a_compiled_function_and_in_float64():
    x = tf.constant(np.linspace(-5, 5, 64), tf.float64)

    @tf.function
    def gradient_of(function):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.sin(function(x)))
        return tape.gradient(y, x)

    np.testing.assert_allclose(gradient_of(gelu).numpy(), gradient_of(gelu_reference).numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [tf.bfloat16, tf.float16])
def test_gelu_in_narrow_types_is_the_float32_formula_rounded_once(dtype):
    """Under bf16 / fp16 gelu runs as two XLA-fused loops (forward, backward) computing in float32:
    each result is the float32 formula's, rounded once to the narrow type; large inputs, whose
    cubic or squared terms overflow float16, give no inf or NaN."""
    rng = np.random.RandomState(2)
    wide = np.concatenate([np.linspace(-300, 300, 401), rng.normal(0, 3, 600)]).astype(np.float32)
    x32 = tf.constant(tf.cast(tf.cast(wide, dtype), tf.float32))  # inputs exactly representable
    upstream32 = tf.constant(tf.cast(tf.cast(rng.normal(size=wide.shape).astype(np.float32), dtype), tf.float32))
    value, gradient = _value_and_gradient(gelu, tf.cast(x32, dtype), tf.cast(upstream32, dtype))
    expected_value, expected_gradient = _value_and_gradient(gelu, x32, upstream32)
    assert value.dtype == gradient.dtype == dtype.as_numpy_dtype
    assert np.isfinite(value.astype(np.float32)).all() and np.isfinite(gradient.astype(np.float32)).all()
    ulp = 2.0 ** -7 if dtype == tf.bfloat16 else 2.0 ** -10  # one unit of the narrow type, relative
    for got, want in ((value, expected_value), (gradient, expected_gradient)):
        # atol: where tanh saturates, XLA's tanh leaves the slope a few 1e-6 off TensorFlow's exact 0
        np.testing.assert_allclose(got.astype(np.float32), want, rtol=ulp, atol=2e-5)


def test_layer_norm_forward_and_gradients_equal_autodiff_of_the_formula():
    rng = np.random.RandomState(1)
    x = tf.constant(rng.normal(1.0, 3.0, [3, 5, 48]).astype(np.float32))
    gamma = tf.constant(rng.normal(1.0, 0.5, [48]).astype(np.float32))
    beta = tf.constant(rng.normal(0.0, 0.5, [48]).astype(np.float32))
    upstream = tf.constant(rng.normal(size=[3, 5, 48]).astype(np.float32))
    results = []
    for function in (layer_norm, layer_norm_reference):
        with tf.GradientTape() as tape:
            tape.watch([x, gamma, beta])
            y = function(x, gamma, beta, 1e-12)
        results.append([y] + tape.gradient(y, [x, gamma, beta], output_gradients=upstream))
    (y, *grads), (expected_y, *expected_grads) = results
    np.testing.assert_array_equal(y.numpy(), expected_y.numpy())
    for grad, expected in zip(grads, expected_grads):
        np.testing.assert_allclose(grad.numpy(), expected.numpy(), rtol=1e-6, atol=1e-6)


def test_layer_norm_layer_trains_its_variables_through_the_custom_gradient():
    layer = LayerNorm()
    x = tf.constant(np.random.RandomState(2).normal(size=[4, 16]).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) * tf.range(16, dtype=tf.float32))
    gamma_gradient, beta_gradient = tape.gradient(loss, [layer.gamma, layer.beta])
    with tf.GradientTape() as tape:
        expected_loss = tf.reduce_sum(layer_norm_reference(x, layer.gamma, layer.beta, 1e-12)
                                      * tf.range(16, dtype=tf.float32))
    expected = tape.gradient(expected_loss, [layer.gamma, layer.beta])
    np.testing.assert_allclose(gamma_gradient.numpy(), expected[0].numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(beta_gradient.numpy(), expected[1].numpy(), rtol=1e-6, atol=1e-6)


def _attention_context_reference(probs, value, keep, rate, relative):
    # the previous formulation: tf.nn.dropout's arithmetic, then the two einsums, all by autodiff
    kept = tf.where(keep, probs * (1.0 / (1.0 - rate)), 0.0) if keep is not None else probs
    return tf.einsum("bhij,bhjd->bhid", kept, value) + relative.value_context(kept)


@pytest.mark.parametrize("method", RelativePositions.METHODS)
@pytest.mark.parametrize("rate", [0.0, 0.25])
def test_attention_context_gradient_equals_autodiff(method, rate):
    rng = np.random.RandomState(3)
    probs = tf.nn.softmax(tf.constant(rng.normal(size=[2, 3, 12, 12]).astype(np.float32)), axis=-1)
    value = tf.constant(rng.normal(size=[2, 3, 12, 8]).astype(np.float32))
    keep = tf.constant(rng.uniform(size=[2, 3, 12, 12]) >= rate) if rate else None
    relative = RelativePositions(tf.constant(relative_position_table(4, 8)), 12, 4, method=method)
    upstream = tf.constant(rng.normal(size=[2, 3, 12, 8]).astype(np.float32))
    results = []
    for function in (attention_context, _attention_context_reference):
        with tf.GradientTape() as tape:
            tape.watch([probs, value])
            context = function(probs, value, keep, rate, relative)
        results.append([context] + tape.gradient(context, [probs, value], output_gradients=upstream))
    for got, expected in zip(*results):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6, atol=1e-6)


def test_output_projections_never_hold_one_weight_gradient_per_example():
    """The tied masked-LM output (the whole embedding table) gets its gradient from one 2-D matmul: no
    op in the pretraining graph holds a [batch, vocab, hidden] stack of per-example gradients (eight
    65 MB tables at NEZHA-base batch 8 before this was fixed). The task heads share the same
    project_transposed, whose outputs are checked against the batched matmul below."""
    from modeling import NezhaForPretraining, pretraining_losses
    from tests.helpers import random_batch, tiny_config

    config = tiny_config(vocab_size=211, hidden_size=24, num_attention_heads=2)
    model = NezhaForPretraining(config)
    features = {name: tf.constant(value) for name, value in random_batch(config, batch=3).items()}
    model(features)

    @tf.function
    def gradients(batch):
        with tf.GradientTape() as tape:
            loss = pretraining_losses(model(batch, training=True), batch)["total_loss"]
        return tape.gradient(loss, model.trainable_variables)

    graph = gradients.get_concrete_function(features).graph
    table_sized = []
    for op in graph.get_operations():
        for output in op.outputs:
            dims = output.shape.as_list() if output.shape.rank else []
            if config.vocab_size in dims and config.hidden_size in dims:
                table_sized.append((op.type, dims))
    assert table_sized, "the tied output's gradient should be in the graph"
    assert all(len(dims) == 2 for _, dims in table_sized), table_sized
    index = [v is model.encoder.word_embeddings for v in model.trainable_variables].index(True)
    assert gradients(features)[index] is not None


def test_project_transposed_equals_the_batched_matmul():
    from modeling.layers.projection import project_transposed

    rng = np.random.RandomState(1)
    x = tf.constant(rng.normal(size=[3, 5, 8]).astype(np.float32))
    w = tf.constant(rng.normal(size=[7, 8]).astype(np.float32))
    got = project_transposed(x, w)
    assert got.shape == (3, 5, 7)
    np.testing.assert_allclose(got.numpy(), tf.matmul(x, w, transpose_b=True).numpy(), rtol=1e-6, atol=1e-6)
    assert project_transposed(x[0], w).shape == (5, 7)


def _custom_gradient_ops(model, features, training):
    """Ops of the traced forward pass that tf.custom_gradient adds (IdentityN wrappers)."""
    graph = tf.function(lambda batch: model(batch, training=training)["sequence_output"]).get_concrete_function(
        {name: tf.TensorSpec(value.shape, value.dtype) for name, value in features.items()}).graph
    return [op.name for op in graph.get_operations() if op.type == "IdentityN"]


def test_inference_uses_the_plain_ops_and_training_the_lean_ones():
    """gelu, LayerNorm and the attention context keep their memory-lean custom gradients in training
    only: at inference the wrappers only stand between ops that oneDNN could otherwise fuse."""
    from modeling import NezhaModel
    from tests.helpers import random_batch, tiny_config

    config = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = NezhaModel(config, relative_attention="dense")
    features = {k: v for k, v in random_batch(config).items() if k in ("input_ids", "input_mask", "segment_ids")}
    assert _custom_gradient_ops(model, features, training=False) == []
    # gelu, two LayerNorms and the attention context per layer
    assert len(_custom_gradient_ops(model, features, training=True)) >= 4 * config.num_hidden_layers
    inference = model(features, training=False)["sequence_output"]
    trained_path = model(features, training=True)["sequence_output"]  # no dropout: same numbers
    np.testing.assert_allclose(inference.numpy(), trained_path.numpy(), rtol=0, atol=1e-6)
