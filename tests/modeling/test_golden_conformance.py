"""After loading the original's checkpoint, every output equals what the original computed."""
import numpy as np
import pytest

from modeling import (
    NezhaConfig,
    NezhaForPretraining,
    finish_metrics,
    load_tf1_checkpoint,
    pretraining_losses,
    pretraining_metrics,
)
from modeling.layers.relative_position import RelativePositions

FEATURES = (
    "input_ids",
    "input_mask",
    "segment_ids",
    "masked_lm_positions",
    "masked_lm_ids",
    "masked_lm_weights",
    "next_sentence_labels",
)


@pytest.fixture(scope="module", params=RelativePositions.METHODS)
def run(request, fixtures_dir):
    directory = fixtures_dir / "nezha_tiny_lamb"
    if not (directory / "golden.npz").is_file():
        pytest.skip(f"{directory}/golden.npz is absent")
    golden = np.load(directory / "golden.npz")
    config = NezhaConfig.from_json_file(directory / "bert_config.json")
    model = NezhaForPretraining(config, relative_attention=request.param)
    report = load_tf1_checkpoint(model, str(directory / "model.ckpt"))
    features = {name: golden[name] for name in FEATURES}
    outputs = model(features, training=False)
    return config, golden, features, outputs, report


def max_error(got, expected):
    error = float(np.abs(np.asarray(got) - expected).max())
    print(f"max abs error {error:.3g}")
    return error


def test_every_checkpoint_variable_is_loaded(run):
    _, _, _, _, report = run
    assert len(report.loaded) == 45
    assert report.missing_in_checkpoint == [] and report.unused_in_checkpoint == []


@pytest.mark.parametrize("name", ["embedding_output", "sequence_output", "pooled_output"])
def test_activations(run, name):
    _, golden, _, outputs, _ = run
    assert max_error(outputs[name].numpy(), golden[name]) <= 1e-5


def test_every_encoder_layer(run):
    config, golden, _, outputs, _ = run
    assert len(outputs["encoder_layers"]) == config.num_hidden_layers
    for index, layer in enumerate(outputs["encoder_layers"]):
        assert max_error(layer.numpy(), golden[f"encoder_layer_{index}"]) <= 1e-5


def test_log_probs(run):
    config, golden, features, outputs, _ = run
    batch, predictions = features["masked_lm_positions"].shape
    assert outputs["mlm_log_probs"].shape == (batch, predictions, config.vocab_size)
    mlm = outputs["mlm_log_probs"].numpy().reshape(-1, config.vocab_size)
    assert max_error(mlm, golden["mlm_log_probs"]) <= 1e-4
    assert max_error(outputs["nsp_log_probs"].numpy(), golden["nsp_log_probs"]) <= 1e-4


def test_losses(run):
    _, golden, features, outputs, _ = run
    losses = pretraining_losses(outputs, features)
    for name in ("mlm_loss", "nsp_loss", "total_loss"):
        assert float(losses[name]) == pytest.approx(float(golden[name]), rel=1e-4)


def test_metrics_are_the_original_quantities(run):
    config, golden, features, outputs, _ = run
    metrics = finish_metrics(pretraining_metrics(outputs, features))
    log_probs = golden["mlm_log_probs"]
    labels = features["masked_lm_ids"].reshape(-1)
    weights = features["masked_lm_weights"].reshape(-1)
    example_losses = -log_probs[np.arange(labels.size), labels]
    correct = log_probs.argmax(-1) == labels
    assert metrics["masked_lm_accuracy"] == pytest.approx((weights * correct).sum() / weights.sum(), abs=1e-6)
    assert metrics["masked_lm_loss"] == pytest.approx((weights * example_losses).sum() / weights.sum(), rel=1e-4)
    nsp_labels = features["next_sentence_labels"].reshape(-1)
    nsp = golden["nsp_log_probs"]
    assert metrics["next_sentence_accuracy"] == pytest.approx((nsp.argmax(-1) == nsp_labels).mean(), abs=1e-6)
    assert metrics["next_sentence_loss"] == pytest.approx(float(golden["nsp_loss"]), rel=1e-4)
