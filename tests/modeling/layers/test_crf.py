"""The plain-TensorFlow CRF (modeling/layers/crf.py): conformance with tensorflow-addons, XLA, and
the CRF tagger's training and inference paths."""
import numpy as np
import pytest
import tensorflow as tf

from compat.keras import keras
from modeling.layers.crf import crf_decode, crf_log_likelihood
from modeling.task_models import NezhaForTokenTagging, tagging_loss
from tests.helpers import smallest_config

SHAPES = [(1, 1, 3), (3, 1, 4), (4, 2, 3), (5, 7, 5), (8, 16, 9), (16, 33, 7)]


def tfa_text():
    try:
        import tensorflow_addons as tfa
    except ImportError as error:  # the current stack (TensorFlow 2.16+) has no tensorflow-addons
        pytest.skip(f"tensorflow_addons is not importable ({error}): the reference CRF is absent on this stack")
    return tfa.text


def random_crf(batch, time, num_tags, seed):
    """potentials, tags, lengths (full length, 1 and 0 among them), transitions."""
    rng = np.random.default_rng(seed)
    potentials = (rng.normal(size=(batch, time, num_tags)) * 3).astype(np.float32)
    tags = rng.integers(0, num_tags, size=(batch, time)).astype(np.int32)
    lengths = rng.integers(0, time + 1, size=batch).astype(np.int32)
    lengths[:3] = [time, 1, 0][:batch]
    transitions = rng.normal(size=(num_tags, num_tags)).astype(np.float32)
    return potentials, tags, lengths, transitions


@pytest.mark.parametrize("batch,time,num_tags", SHAPES)
def test_log_likelihood_and_decode_match_tensorflow_addons(batch, time, num_tags):
    text = tfa_text()
    potentials, tags, lengths, transitions = random_crf(batch, time, num_tags, seed=time * 100 + num_tags)
    expected, _ = text.crf_log_likelihood(potentials, tags, lengths, tf.constant(transitions))
    np.testing.assert_allclose(crf_log_likelihood(potentials, tags, lengths, transitions), expected, rtol=0, atol=1e-5)
    expected_tags, expected_score = text.crf_decode(potentials, tf.constant(transitions), lengths)
    decoded, score = crf_decode(potentials, transitions, lengths)
    # the whole [batch, time] array, padding positions (0) included
    np.testing.assert_array_equal(decoded, expected_tags)
    np.testing.assert_allclose(score, expected_score, rtol=0, atol=1e-5)


def test_an_unknown_time_dimension_gives_the_same_results():
    potentials, tags, lengths, transitions = random_crf(6, 9, 5, seed=1)
    signature = [tf.TensorSpec([None, None, 5]), tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32)]
    likelihood = tf.function(lambda p, t, l: crf_log_likelihood(p, t, l, transitions), input_signature=signature)
    decode = tf.function(lambda p, t, l: crf_decode(p, transitions, l), input_signature=signature)
    np.testing.assert_allclose(likelihood(potentials, tags, lengths),
                               crf_log_likelihood(potentials, tags, lengths, transitions), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(decode(potentials, tags, lengths)[0], crf_decode(potentials, transitions, lengths)[0])


def test_log_likelihood_is_a_log_probability_over_all_paths():
    """Summing exp(log-likelihood) over every tag sequence of a row's length gives 1."""
    potentials, _, _, transitions = random_crf(1, 4, 3, seed=2)
    paths = np.array(np.meshgrid(*[range(3)] * 4, indexing="ij")).reshape(4, -1).T.astype(np.int32)
    for length in (1, 3, 4):
        real = {tuple(p[:length]) for p in paths}
        rows = np.array([list(r) + [0] * (4 - length) for r in sorted(real)], np.int32)
        likelihood = crf_log_likelihood(np.repeat(potentials, len(rows), 0), rows, np.full(len(rows), length),
                                        transitions)
        assert float(tf.reduce_logsumexp(likelihood)) == pytest.approx(0.0, abs=1e-5)


def test_gradient_matches_tensorflow_addons():
    text = tfa_text()
    potentials, tags, lengths, transitions = random_crf(8, 12, 6, seed=3)

    def gradients(likelihood_fn):
        inputs, matrix = tf.Variable(potentials), tf.Variable(transitions)
        with tf.GradientTape() as tape:
            loss = -tf.reduce_sum(likelihood_fn(inputs, matrix))
        return tape.gradient(loss, [inputs, matrix])

    ours = gradients(lambda p, m: crf_log_likelihood(p, tags, lengths, m))
    theirs = gradients(lambda p, m: text.crf_log_likelihood(p, tags, lengths, m)[0])
    for mine, reference in zip(ours, theirs):
        np.testing.assert_allclose(mine, tf.convert_to_tensor(reference), rtol=0, atol=1e-5)
    # positions past a row's length get no gradient
    mask = np.arange(12)[None, :] < lengths[:, None]
    assert not np.any(ours[0].numpy()[~mask])


def test_loss_gradient_and_decode_compile_under_xla_in_mixed_precision():
    potentials, tags, lengths, transitions = random_crf(4, 10, 5, seed=4)
    half = tf.constant(potentials, tf.float16)
    matrix = tf.Variable(transitions)

    def loss_and_gradients(p):
        with tf.GradientTape() as tape:
            tape.watch(p)
            loss = -tf.reduce_mean(crf_log_likelihood(p, tags, lengths, matrix))
        return loss, tape.gradient(loss, [p, matrix])

    loss, grads = tf.function(loss_and_gradients, jit_compile=True)(half)
    eager_loss, eager_grads = loss_and_gradients(half)
    assert loss.dtype == tf.float32 and np.isfinite(loss.numpy())
    assert float(loss) == pytest.approx(float(eager_loss), abs=1e-5)
    np.testing.assert_allclose(grads[1], eager_grads[1], rtol=0, atol=1e-5)
    # float16 potentials are scored in float32: the same as their float32 values
    exact = crf_log_likelihood(tf.cast(half, tf.float32), tags, lengths, transitions)
    np.testing.assert_array_equal(crf_log_likelihood(half, tags, lengths, transitions), exact)
    decoded = tf.function(lambda p: crf_decode(p, matrix, lengths), jit_compile=True)(half)
    np.testing.assert_array_equal(decoded[0], crf_decode(tf.cast(half, tf.float32), transitions, lengths)[0])


# --- the CRF tagger --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def config():
    return smallest_config(use_relative_position=False, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def tagging_batch():
    rng = np.random.default_rng(5)
    lengths = np.array([12, 1, 7, 4])
    mask = (np.arange(12)[None, :] < lengths[:, None]).astype(np.int32)
    return ({"input_ids": tf.constant(rng.integers(1, 50, size=(4, 12)) * mask, tf.int32),
             "input_mask": tf.constant(mask), "segment_ids": tf.zeros((4, 12), tf.int32)},
            tf.constant(rng.integers(1, 6, size=(4, 12)) * mask, tf.int32))


def without_dropout(model):
    # the head's fixed 0.1 dropout draws different masks with and without XLA
    model.head.dropout.rate = 0.0
    return model


def test_transitions_keep_their_checkpoint_name_and_shape(config, global_policy, tmp_path):
    global_policy("mixed_float16")
    model = NezhaForTokenTagging(config, num_labels=6, use_crf=True)
    assert model.tf1_variables()["transitions"] is model.transitions
    assert model.transitions.name == "transitions:0" and model.transitions.shape == (6, 6)
    assert model.transitions.dtype == tf.float32
    keys = dict(tf.train.list_variables(tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))))
    assert keys["model/transitions/.ATTRIBUTES/VARIABLE_VALUE"] == [6, 6]


def test_a_training_step_compiles_under_xla_and_matches_the_step_without(config):
    features, labels = tagging_batch()
    models = [without_dropout(NezhaForTokenTagging(config, num_labels=6, use_crf=True)) for _ in range(2)]
    for model in models:
        model(features)  # builds the variables
    models[1].set_weights(models[0].get_weights())

    def step(model, jit):
        def loss_and_gradients(features, labels):
            with tf.GradientTape() as tape:
                loss = tagging_loss(model, model(features, training=True), labels, features["input_mask"])
            return loss, tape.gradient(loss, model.trainable_variables)

        loss, grads = tf.function(loss_and_gradients, jit_compile=jit)(features, labels)
        keras.optimizers.SGD(0.1).apply_gradients(zip(grads, model.trainable_variables))
        after = tagging_loss(model, model(features, training=True), labels, features["input_mask"])
        return float(loss), float(after), grads

    xla_loss, xla_after, xla_grads = step(models[0], jit=True)
    loss, after, grads = step(models[1], jit=False)
    assert np.isfinite(xla_loss) and xla_after < xla_loss
    assert xla_loss == pytest.approx(loss, abs=1e-5) and xla_after == pytest.approx(after, abs=1e-5)
    np.testing.assert_allclose(xla_grads[-1], grads[-1], rtol=0, atol=1e-5)  # the transitions


def graph_op_types(concrete):
    """Every op type in a traced function, the bodies of its loops and functions included."""
    graph_def = concrete.graph.as_graph_def()
    types = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
        types.update(node.op for node in function.node_def)
    return types


def test_training_calls_do_not_decode_and_inference_decodes_as_tensorflow_addons(config):
    features, _ = tagging_batch()
    model = NezhaForTokenTagging(config, num_labels=6, use_crf=True)
    call = tf.function(lambda features, training: model(features, training=training))
    # Viterbi is the only place the tagger takes an argmax
    assert "ArgMax" not in graph_op_types(call.get_concrete_function(features, True))
    assert "ArgMax" in graph_op_types(call.get_concrete_function(features, False))
    assert set(model(features, training=True)) == {"logits"}
    outputs = model(features, training=False)
    lengths = tf.reduce_sum(features["input_mask"], axis=-1)
    np.testing.assert_array_equal(outputs["tags"], crf_decode(outputs["logits"], model.transitions, lengths)[0])
    text = tfa_text()
    expected, _ = text.crf_decode(outputs["logits"], model.transitions, lengths)
    np.testing.assert_array_equal(outputs["tags"], expected)
