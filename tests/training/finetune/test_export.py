"""training/finetune/export.py: the SavedModel serves what the model computes in process, in float32
(also after training in mixed precision), at any length up to max_seq_length, with int32 inputs and
float32 outputs."""
import numpy as np
import pytest
import tensorflow as tf

from compat.keras import keras
from modeling.task_models import NezhaForClassification, NezhaForSpanExtraction, classification_loss
from optimization import create_optimizer, name_lookup
from training.checkpointing import load_initial_weights
from training.finetune.export import export_saved_model
from training.finetune.task import run_model
from training.loop import LoopSettings, Trainer
from training.precision import DynamicLossScale, Precision


def test_saved_model_serving_equals_in_process(tiny, tmp_path):
    config, _ = tiny
    model = NezhaForClassification(config, num_labels=3)
    model.ensure_built()
    features = {"input_ids": np.array([[101, 2769, 102, 0], [101, 872, 1962, 102]], np.int32),
                "input_mask": np.array([[1, 1, 1, 0], [1, 1, 1, 1]], np.int32),
                "segment_ids": np.zeros([2, 4], np.int32)}
    expected = run_model(model, features, 2, ["probabilities"])["probabilities"]
    export_saved_model(model, str(tmp_path / "export"), ["probabilities"])
    serve = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    served = serve(**{k: tf.constant(v) for k, v in features.items()})["probabilities"].numpy()
    np.testing.assert_allclose(served, expected, atol=1e-6)


def reduced_precision_casts(concrete_function):
    """The Cast ops to float16 or bfloat16 in a function's graph and every function it calls."""
    graph_def = concrete_function.graph.as_graph_def()
    nodes = list(graph_def.node) + [node for function in graph_def.library.function for node in function.node_def]
    reduced = (tf.float16.as_datatype_enum, tf.bfloat16.as_datatype_enum)
    return [node.name for node in nodes if node.op == "Cast" and node.attr["DstT"].type in reduced], len(nodes)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_a_model_trained_in_mixed_precision_is_served_by_a_float32_graph(tiny, tmp_path, policy):
    config, _ = tiny
    rng = np.random.RandomState(0)
    features = {"input_ids": rng.randint(1, config.vocab_size, size=[8, 6]).astype(np.int32),
                "input_mask": np.ones([8, 6], np.int32), "segment_ids": np.zeros([8, 6], np.int32),
                "label_ids": rng.randint(0, 3, size=[8]).astype(np.int32)}

    def loss_fn(model, batch, training):
        loss = classification_loss(model(batch, training=training), batch["label_ids"])
        return loss, {"loss": loss}

    keras.mixed_precision.set_global_policy(policy)
    try:
        model = NezhaForClassification(config, num_labels=3)
        model.ensure_built()
        start = model.tf1_variables()["output_weights"].numpy()
        # a small initial loss scale: the tiny fine-tune applies its updates instead of skipping them
        precision = Precision(policy, DynamicLossScale(2.0 ** 8) if policy == "mixed_float16" else None)
        optimizer = create_optimizer("adam", 1e-3, 2, 0, name_of=name_lookup(model.tf1_variables()))
        trainer = Trainer(model, loss_fn, optimizer, LoopSettings(str(tmp_path / "train"), 2, log_every=1),
                          precision=precision)
        trainer.train(tf.data.Dataset.from_tensor_slices(features).batch(4).repeat())
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.compute_dtype != "float32" and trainer.step == 2
    assert not np.array_equal(model.tf1_variables()["output_weights"].numpy(), start)

    export_saved_model(model, str(tmp_path / "export"), ["probabilities", "logits"])
    serve = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    casts, searched = reduced_precision_casts(serve)
    assert searched > 100 and not casts, casts  # the model's ops were searched, and none casts down
    assert all(spec.dtype == tf.int32 for spec in serve.structured_input_signature[1].values())
    assert all(spec.dtype == tf.float32 for spec in serve.structured_outputs.values())

    reference = NezhaForClassification(config, num_labels=3)  # float32, with the fine-tuned weights
    reference.ensure_built()
    for name, variable in reference.tf1_variables().items():
        variable.assign(model.tf1_variables()[name])
    inputs = {name: features[name] for name in ("input_ids", "input_mask", "segment_ids")}
    expected = run_model(reference, inputs, 8, ["probabilities", "logits"])
    served = serve(**{name: tf.constant(value) for name, value in inputs.items()})
    for key in ("probabilities", "logits"):
        np.testing.assert_allclose(served[key].numpy(), expected[key], atol=1e-5, rtol=0)


@pytest.fixture
def policy(request):
    """The global Keras policy the model is built under, restored to float32 afterwards."""
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy("float32")


MAX_SEQ_LENGTH = 64


def _request(length, batch=2, width=None):
    """A request of `length` real tokens per example, padded to `width` (default: unpadded)."""
    width = width or length
    rng = np.random.default_rng(length)
    ids = np.zeros([batch, width], np.int32)
    ids[:, :length] = rng.integers(1, 21128, [batch, length])
    mask = (np.arange(width)[None, :] < length).astype(np.int32).repeat(batch, 0)
    segments = ((np.arange(width)[None, :] >= length // 2) & (mask == 1)).astype(np.int32)
    return {"input_ids": ids, "input_mask": mask, "segment_ids": segments}


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"], indirect=True)
@pytest.mark.parametrize("kind", ["classification", "span"])
def test_saved_model_serves_any_length_up_to_max_seq_length(tiny, tmp_path, policy, kind):
    """Unpadded requests of 9 and 23 tokens (max_seq_length 64) give what the same request padded to
    64 gives, with int32 inputs and float32 outputs also when the model computes in bfloat16."""
    config, checkpoint = tiny
    if kind == "classification":
        model, keys = NezhaForClassification(config, num_labels=3), ["probabilities"]
    else:
        model, keys = NezhaForSpanExtraction(config), ["start_logits", "end_logits"]
    model.ensure_built()
    load_initial_weights(model, checkpoint)
    export_saved_model(model, str(tmp_path / "export"), keys)
    serve = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    assert {spec.dtype for spec in serve.structured_input_signature[1].values()} == {tf.int32}
    assert {spec.dtype for spec in serve.structured_outputs.values()} == {tf.float32}
    # bfloat16 keeps 8 bits of mantissa: other shapes round differently (logits are a few units)
    atol = {"float32": {"probabilities": 1e-5, "logits": 1e-5},
            "mixed_bfloat16": {"probabilities": 3e-2, "logits": 0.25}}[policy]
    for length in (9, 23):
        unpadded = serve(**{k: tf.constant(v) for k, v in _request(length).items()})
        padded = serve(**{k: tf.constant(v) for k, v in _request(length, width=MAX_SEQ_LENGTH).items()})
        for key in keys:
            served = unpadded[key].numpy()
            assert served.dtype == np.float32
            expected = padded[key].numpy()
            if key != "probabilities":
                assert served.shape == (2, length)
                expected = expected[:, :length]
            np.testing.assert_allclose(served, expected, atol=atol["probabilities" if key == "probabilities" else "logits"])
