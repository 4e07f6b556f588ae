"""After loading the original's checkpoint, every output equals what the original computed.

Two fixtures: NEZHA (relative positions, both exact attention methods) and a Google-BERT-style
model whose config has no `use_relative_position` key and must therefore build absolute position
embeddings, as the original's BertConfig does.
"""
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


CASES = [("nezha_tiny_lamb", method) for method in RelativePositions.METHODS] + [("bert_tiny_absolute", None)]


@pytest.fixture(scope="module", params=CASES, ids=[f"{name}-{method}" for name, method in CASES])
def run(request, fixtures_dir):
    fixture, method = request.param
    directory = fixtures_dir / fixture
    if not (directory / "golden.npz").is_file():
        pytest.skip(f"{directory}/golden.npz is absent")
    golden = np.load(directory / "golden.npz")
    config = NezhaConfig.from_json_file(directory / "bert_config.json")
    kwargs = {"relative_attention": method} if method else {}
    model = NezhaForPretraining(config, **kwargs)
    report = load_tf1_checkpoint(model, str(directory / "model.ckpt"))
    features = {name: golden[name] for name in FEATURES}
    outputs = model(features, training=False)
    return config, golden, features, outputs, report


def max_error(got, expected):
    error = float(np.abs(np.asarray(got) - expected).max())
    print(f"max abs error {error:.3g}")
    return error


def test_every_checkpoint_variable_is_loaded(run):
    config, _, _, _, report = run
    # NEZHA: 45 variables; Google BERT adds bert/embeddings/position_embeddings.
    assert len(report.loaded) == (45 if config.use_relative_position else 46)
    assert report.missing_in_checkpoint == [] and report.unused_in_checkpoint == []
    assert report.warning() is None


def test_a_config_without_the_key_builds_absolute_positions(fixtures_dir):
    config = NezhaConfig.from_json_file(fixtures_dir / "bert_tiny_absolute" / "bert_config.json")
    assert config.use_relative_position is False
    assert NezhaConfig.from_json_file(fixtures_dir / "nezha_tiny_lamb" / "bert_config.json").use_relative_position


def test_position_embeddings_left_unused_are_a_loud_warning(fixtures_dir, caplog):
    """The silent failure this guards against: a Google BERT checkpoint read into a relative model."""
    directory = fixtures_dir / "bert_tiny_absolute"
    values = NezhaConfig.from_json_file(directory / "bert_config.json").to_dict()
    model = NezhaForPretraining(NezhaConfig.from_dict(dict(values, use_relative_position=True)))
    with caplog.at_level("WARNING"):
        report = load_tf1_checkpoint(model, str(directory / "model.ckpt"))
    assert report.unused_in_checkpoint == ["bert/embeddings/position_embeddings"]
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert any("bert/embeddings/position_embeddings" in text and "use_relative_position" in text
               for text in warnings), warnings


def test_encoder_variables_left_as_initialised_are_a_warning(fixtures_dir, caplog):
    """A deeper model than the checkpoint: layer 2 would stay random without anyone noticing."""
    directory = fixtures_dir / "nezha_tiny_lamb"
    values = NezhaConfig.from_json_file(directory / "bert_config.json").to_dict()
    model = NezhaForPretraining(NezhaConfig.from_dict(dict(values, num_hidden_layers=3)))
    with caplog.at_level("WARNING"):
        load_tf1_checkpoint(model, str(directory / "model.ckpt"))
    warnings = "\n".join(record.getMessage() for record in caplog.records if record.levelname == "WARNING")
    assert "bert/encoder/layer_2/attention/self/query/kernel" in warnings
    assert "bert/encoder/layer_1/" not in warnings


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
