"""Hugging Face transformers NEZHA checkpoints: the golden numbers of a file transformers wrote, round
trips in both directions, the fine-tuned heads, and honest errors and reports."""
import json
import os
import shutil
import stat

import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file, save_file

from modeling import (
    CheckpointNotFoundError,
    CheckpointShapeError,
    ConfigError,
    HFCheckpointError,
    NezhaConfig,
    NezhaForPretraining,
    NezhaModel,
    config_from_hf_json_file,
    load_hf_checkpoint,
    load_tf1_checkpoint,
    save_hf_checkpoint,
)
from modeling.checkpoints.hf import HEAD_NAMES, LEAF_NAMES, hf_tensor_name
from modeling.task_models import NezhaForClassification, NezhaForSpanExtraction, NezhaForTokenTagging
from tests.helpers import random_batch, tiny_config

INPUTS = ("input_ids", "input_mask", "segment_ids", "masked_lm_positions")


@pytest.fixture(scope="module")
def hf_dir(fixtures_dir):
    path = fixtures_dir / "hf_nezha_tiny"
    if not (path / "golden.npz").is_file():
        pytest.skip(f"{path}/golden.npz is absent: this test compares with what transformers computed")
    return path


@pytest.fixture(scope="module")
def hf_run(hf_dir):
    config = config_from_hf_json_file(hf_dir / "hf_model" / "config.json")
    model = NezhaForPretraining(config)
    report = load_hf_checkpoint(model, str(hf_dir / "hf_model"), strict=True)
    golden = np.load(hf_dir / "golden.npz")
    outputs = model({name: golden[name] for name in INPUTS}, training=False)
    return model, golden, outputs, report


def max_error(got, expected):
    error = float(np.abs(np.asarray(got) - expected).max())
    print(f"max abs error {error:.3g}")
    return error


def assert_matches(outputs, golden, vocab_size):
    for name in ("embedding_output", "sequence_output", "pooled_output"):
        assert max_error(outputs[name], golden[name]) <= 1e-5, name
    for index, layer in enumerate(outputs["encoder_layers"]):
        assert max_error(layer, golden[f"encoder_layer_{index}"]) <= 1e-5
    assert max_error(np.reshape(outputs["mlm_log_probs"], [-1, vocab_size]), golden["mlm_log_probs"]) <= 1e-4
    assert max_error(outputs["nsp_log_probs"], golden["nsp_log_probs"]) <= 1e-4


# ------------------------------------------------------------------------------- the golden numbers


def test_config_maps_transformers_gelu_to_the_exact_erf_form(hf_run):
    model, _, _, _ = hf_run
    assert model.config.hidden_act == "gelu_erf"
    assert model.config.use_relative_position and model.config.max_relative_position == 64
    assert model.config.type_vocab_size == 2 and model.config.layer_norm_eps == 1e-12


def test_every_tensor_is_loaded(hf_run):
    _, _, _, report = hf_run
    assert len(report.loaded) == 45  # the decoder weight is tied: 46 model tensors, 45 in the file
    assert report.missing_in_checkpoint == [] and report.unused_in_checkpoint == []
    assert report.path.endswith("model.safetensors")


def test_golden_numbers_of_transformers(hf_run):
    model, golden, outputs, _ = hf_run
    assert_matches(outputs, golden, model.config.vocab_size)


def test_the_tanh_gelu_would_not_match(hf_dir, hf_run, tmp_path):
    """The fixture is built so that the wrong GELU shows: the mapping above is what makes it match."""
    _, golden, _, _ = hf_run
    config = config_from_hf_json_file(hf_dir / "hf_model" / "config.json")
    config.hidden_act = "gelu"
    model = NezhaForPretraining(config)
    # the weights alone: beside their config.json they would be refused for this model (tested below)
    shutil.copyfile(hf_dir / "hf_model" / "model.safetensors", tmp_path / "model.safetensors")
    load_hf_checkpoint(model, tmp_path / "model.safetensors", strict=True)
    outputs = model({name: golden[name] for name in INPUTS}, training=False)
    assert max_error(outputs["sequence_output"], golden["sequence_output"]) > 1e-4


# ----------------------------------------------------------------------------------- round trips


def test_hf_to_ours_to_hf_gives_the_same_file(hf_dir, hf_run, tmp_path):
    model, _, _, _ = hf_run
    out = save_hf_checkpoint(model, tmp_path / "hf")
    original = load_file(str(hf_dir / "hf_model" / "model.safetensors"))
    written = load_file(f"{out}/model.safetensors")
    assert sorted(written) == sorted(original)
    for name, value in original.items():
        assert written[name].shape == value.shape and written[name].dtype == value.dtype, name
        np.testing.assert_array_equal(written[name], value, err_msg=name)
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    source = json.loads((hf_dir / "hf_model" / "config.json").read_text())
    assert config["architectures"] == ["NezhaForPreTraining"] and config["model_type"] == "nezha"
    for key in ("hidden_act", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "max_relative_position", "type_vocab_size", "layer_norm_eps",
                "max_position_embeddings"):
        assert config[key] == source[key], key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf"]  # no temporary directory left


def test_tf1_to_ours_to_hf_to_ours_gives_the_original_numbers(tiny_lamb_dir, tmp_path):
    golden = np.load(tiny_lamb_dir / "golden.npz")
    config = NezhaConfig.from_json_file(tiny_lamb_dir / "bert_config.json")
    first = NezhaForPretraining(config)
    load_tf1_checkpoint(first, str(tiny_lamb_dir / "model.ckpt"))
    save_hf_checkpoint(first, tmp_path / "hf")
    written = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert written["hidden_act"] == "gelu_new"  # the original's tanh GELU, under transformers' name

    second = NezhaForPretraining(config_from_hf_json_file(tmp_path / "hf"))
    report = load_hf_checkpoint(second, tmp_path / "hf", strict=True)
    assert len(report.loaded) == 45
    assert second.config.hidden_act == "gelu"
    outputs = second({name: golden[name] for name in INPUTS}, training=False)
    assert_matches(outputs, golden, config.vocab_size)
    first_variables = first.tf1_variables()
    for name, variable in second.tf1_variables().items():
        np.testing.assert_array_equal(variable.numpy(), first_variables[name].numpy(), err_msg=name)


def test_layout_of_the_written_tensors(tmp_path):
    model = NezhaForPretraining(tiny_config())
    model.ensure_built()
    save_hf_checkpoint(model, tmp_path / "hf")
    tensors = load_file(str(tmp_path / "hf" / "model.safetensors"))
    variables = model.tf1_variables()
    np.testing.assert_array_equal(tensors["nezha.encoder.layer.1.attention.self.query.weight"],
                                  variables["bert/encoder/layer_1/attention/self/query/kernel"].numpy().T)
    np.testing.assert_array_equal(tensors["nezha.encoder.layer.0.intermediate.dense.weight"].shape, [64, 32])
    np.testing.assert_array_equal(tensors["cls.seq_relationship.weight"],
                                  variables["cls/seq_relationship/output_weights"].numpy())  # already [2, hidden]
    np.testing.assert_array_equal(tensors["cls.predictions.bias"], variables["cls/predictions/output_bias"].numpy())
    np.testing.assert_array_equal(tensors["nezha.embeddings.LayerNorm.weight"],
                                  variables["bert/embeddings/LayerNorm/gamma"].numpy())
    assert not any("decoder" in name for name in tensors)  # tied to the word embeddings
    assert len(tensors) == len(variables)


def test_name_mapping():
    assert hf_tensor_name("bert/encoder/layer_11/output/LayerNorm/beta") == (
        "encoder.layer.11.output.LayerNorm.bias", False, True)
    assert hf_tensor_name("bert/pooler/dense/kernel") == ("pooler.dense.weight", True, True)
    assert hf_tensor_name("cls/predictions/transform/dense/kernel") == (
        "cls.predictions.transform.dense.weight", True, False)
    assert hf_tensor_name("transitions") is None


def test_every_renamed_head_and_leaf_is_a_tensor_of_transformers_layout():
    """The rename tables, entry by entry: heads keep their layout, kernels alone are transposed."""
    for tf1_name, hf_name in HEAD_NAMES.items():
        assert hf_tensor_name(tf1_name) == (hf_name, False, False)
    for leaf, (hf_leaf, transpose) in LEAF_NAMES.items():
        assert hf_tensor_name(f"bert/encoder/layer_3/attention/output/dense/{leaf}") == (
            f"encoder.layer.3.attention.output.dense.{hf_leaf}", transpose, True)
        assert hf_tensor_name(f"cls/predictions/transform/dense/{leaf}") == (
            f"cls.predictions.transform.dense.{hf_leaf}", transpose, False)


# -------------------------------------------------------------------------------- fine-tuned models


def _round_trip(source, target, tmp_path, **save_options):
    source.ensure_built()
    for variable in source.trainable_variables:  # distinct values everywhere, zero-initialised biases too
        variable.assign(variable + tf.random.normal(variable.shape, stddev=0.05, seed=len(variable.name)))
    directory = save_hf_checkpoint(source, tmp_path / "hf", **save_options)
    target.ensure_built()
    report = load_hf_checkpoint(target, directory)
    batch = random_batch(source.config, seed=3)
    features = {name: batch[name] for name in ("input_ids", "input_mask", "segment_ids")}
    expected, got = source(features, training=False), target(features, training=False)
    for key in expected:
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(expected[key]), rtol=0, atol=1e-6, err_msg=key)
    return directory, report, load_file(f"{directory}/model.safetensors"), json.loads(
        open(f"{directory}/config.json").read())


def test_classifier_exports_as_sequence_classification(tmp_path):
    config = tiny_config()
    directory, report, tensors, hf_config = _round_trip(
        NezhaForClassification(config, num_labels=3), NezhaForClassification(config, num_labels=3), tmp_path,
        labels=["neutral", "positive", "negative"])
    assert hf_config["architectures"] == ["NezhaForSequenceClassification"]
    assert hf_config["id2label"] == {"0": "neutral", "1": "positive", "2": "negative"}
    assert hf_config["classifier_dropout"] == 0.1
    assert tensors["classifier.weight"].shape == (3, 32) and tensors["classifier.bias"].shape == (3,)
    assert "nezha.pooler.dense.weight" in tensors
    assert report.missing_in_checkpoint == [] and report.unused_in_checkpoint == []


def test_softmax_tagger_exports_as_token_classification_without_pooler(tmp_path):
    config = tiny_config()
    _, report, tensors, hf_config = _round_trip(
        NezhaForTokenTagging(config, num_labels=5), NezhaForTokenTagging(config, num_labels=5), tmp_path)
    assert hf_config["architectures"] == ["NezhaForTokenClassification"]
    assert len(hf_config["id2label"]) == 5
    assert tensors["classifier.weight"].shape == (5, 32)
    assert not any("pooler" in name for name in tensors)  # transformers' class has none
    assert report.missing_in_checkpoint == ["bert/pooler/dense/bias", "bert/pooler/dense/kernel"]


def test_reading_model_exports_as_question_answering(tmp_path):
    config = tiny_config()
    _, report, tensors, hf_config = _round_trip(
        NezhaForSpanExtraction(config), NezhaForSpanExtraction(config), tmp_path)
    assert hf_config["architectures"] == ["NezhaForQuestionAnswering"]
    assert "id2label" not in hf_config  # transformers' default two labels: start and end
    assert tensors["qa_outputs.weight"].shape == (2, 32)
    assert not any("pooler" in name for name in tensors)
    assert report.unused_in_checkpoint == []


def test_crf_tagger_is_refused_clearly(tmp_path):
    model = NezhaForTokenTagging(tiny_config(), num_labels=4, use_crf=True)
    with pytest.raises(HFCheckpointError, match="transformers has no CRF head"):
        save_hf_checkpoint(model, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


def test_encoder_is_written_without_prefix_and_fills_a_pretraining_encoder(tmp_path):
    encoder = NezhaModel(tiny_config())
    encoder.ensure_built()
    save_hf_checkpoint(encoder, tmp_path / "hf")
    tensors = load_file(str(tmp_path / "hf" / "model.safetensors"))
    assert "embeddings.word_embeddings.weight" in tensors and not any(n.startswith("nezha.") for n in tensors)
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["architectures"] == ["NezhaModel"]
    model = NezhaForPretraining(tiny_config())
    report = load_hf_checkpoint(model, tmp_path / "hf")
    assert len(report.loaded) == len(tensors)
    assert sorted(report.missing_in_checkpoint) == sorted(
        name for name in model.tf1_variables() if name.startswith("cls/"))
    np.testing.assert_array_equal(model.encoder.word_embeddings.numpy(), encoder.word_embeddings.numpy())


# ------------------------------------------------------------------------------ reports and errors


def test_tied_decoder_stored_anyway_is_accepted_and_an_untied_one_reported(hf_dir, tmp_path):
    tensors = load_file(str(hf_dir / "hf_model" / "model.safetensors"))
    tensors["cls.predictions.decoder.weight"] = tensors["nezha.embeddings.word_embeddings.weight"].copy()
    tensors["cls.predictions.decoder.bias"] = tensors["cls.predictions.bias"].copy()
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    config = config_from_hf_json_file(hf_dir / "hf_model")
    report = load_hf_checkpoint(NezhaForPretraining(config), tmp_path / "model.safetensors", strict=True)
    assert len(report.loaded) == 45

    tensors["cls.predictions.decoder.weight"] += 1.0
    tensors["nezha.encoder.layer.9.output.dense.bias"] = np.zeros([32], np.float32)
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    report = load_hf_checkpoint(NezhaForPretraining(config), tmp_path / "model.safetensors")
    assert report.unused_in_checkpoint == ["cls.predictions.decoder.weight", "nezha.encoder.layer.9.output.dense.bias"]
    assert "in the checkpoint but not in the model" in str(report)
    with pytest.raises(ValueError, match="strict loading failed"):
        load_hf_checkpoint(NezhaForPretraining(config), tmp_path / "model.safetensors", strict=True)


def test_pytorch_pickle_gets_instructions(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "nezha"}))
    (tmp_path / "pytorch_model.bin").write_bytes(b"not read")
    for path in (tmp_path, tmp_path / "pytorch_model.bin"):
        with pytest.raises(HFCheckpointError, match=r"pytorch_model.bin.*safetensors") as error:
            load_hf_checkpoint(NezhaModel(tiny_config()), path)
        assert "save_file(" in str(error.value) and str(tmp_path / "model.safetensors") in str(error.value)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="no such file"):
        load_hf_checkpoint(NezhaModel(tiny_config()), tmp_path / "nothing")
    with pytest.raises(CheckpointNotFoundError, match="holds no model.safetensors"):
        load_hf_checkpoint(NezhaModel(tiny_config()), tmp_path)


def test_corrupt_file_is_named(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{broken")
    with pytest.raises(HFCheckpointError, match="model.safetensors: cannot read as safetensors"):
        load_hf_checkpoint(NezhaModel(tiny_config()), tmp_path)


def test_shape_mismatch_changes_nothing(tmp_path):
    save_hf_checkpoint(NezhaModel(tiny_config(vocab_size=50)), tmp_path / "hf")
    model = NezhaModel(tiny_config())
    model.ensure_built()
    before = model.embeddings.token_type_embeddings.numpy()
    with pytest.raises(CheckpointShapeError, match=r"embeddings.word_embeddings.weight has shape \[50, 32\]"):
        load_hf_checkpoint(model, tmp_path / "hf" / "model.safetensors")
    np.testing.assert_array_equal(model.embeddings.token_type_embeddings.numpy(), before)


def test_config_that_computes_differently_is_refused(hf_dir):
    config = config_from_hf_json_file(hf_dir / "hf_model")
    config.hidden_act = "gelu"
    with pytest.raises(ConfigError, match=r"hidden_act: 'gelu_erf' in the file, 'gelu' in the model"):
        load_hf_checkpoint(NezhaForPretraining(config), hf_dir / "hf_model")


def test_absolute_position_model_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="absolute position embeddings"):
        save_hf_checkpoint(NezhaModel(tiny_config(use_relative_position=False)), tmp_path / "hf")


def test_existing_output_needs_overwrite(tmp_path):
    model = NezhaModel(tiny_config())
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "old.txt").write_text("old")
    with pytest.raises(FileExistsError, match="not empty"):
        save_hf_checkpoint(model, tmp_path / "hf")
    save_hf_checkpoint(model, tmp_path / "hf", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "hf").iterdir()) == ["config.json", "model.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf"]


def test_vocab_file_is_copied(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n")
    save_hf_checkpoint(NezhaModel(tiny_config()), tmp_path / "hf", vocab_file=str(vocab))
    assert (tmp_path / "hf" / "vocab.txt").read_text() == "[PAD]\n[UNK]\n"


# ---------------------------------------------------------------------------------------- config


def _hf_config_file(tmp_path, **values):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(dict({"model_type": "nezha", "vocab_size": 100, "hidden_size": 32,
                                     "num_attention_heads": 4, "intermediate_size": 64}, **values)))
    return path


def test_hf_config_uses_transformers_defaults_and_activation_names(tmp_path):
    config = config_from_hf_json_file(_hf_config_file(tmp_path, hidden_act="gelu_new", id2label={"0": "a"}))
    assert config.hidden_act == "gelu"  # tanh form
    assert config.type_vocab_size == 2 and config.num_hidden_layers == 12  # transformers' defaults
    assert config.use_relative_position is True


@pytest.mark.parametrize("values, message", [
    ({"model_type": "bert"}, "model_type is 'bert'"),
    ({"hidden_act": "swish"}, "hidden_act 'swish' has no counterpart"),
    ({"is_decoder": True}, "is_decoder"),
    ({"tie_word_embeddings": False}, "tie_word_embeddings"),
    ({"layer_norm_eps": -1}, "layer_norm_eps"),
])
def test_hf_config_errors_name_the_file(tmp_path, values, message):
    path = _hf_config_file(tmp_path, **values)
    with pytest.raises(ConfigError, match=message) as error:
        config_from_hf_json_file(path)
    assert str(path) in str(error.value)


def test_output_has_the_permissions_of_plain_files(tmp_path):
    """safetensors creates its file 0600; a model handed to another team must be readable as any file."""
    umask = os.umask(0o022)
    try:
        directory = save_hf_checkpoint(NezhaModel(tiny_config()), tmp_path / "hf")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o755
    for name in ("config.json", "model.safetensors"):
        assert stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) == 0o644, name


def test_buffers_of_older_transformers_are_checked_not_reported(tmp_path):
    """transformers before 4.31 saved the relative-position table (built in float32) with the weights."""
    config = tiny_config()
    source = NezhaModel(config)
    save_hf_checkpoint(source, tmp_path / "hf")
    tensors = load_file(str(tmp_path / "hf" / "model.safetensors"))
    length, k, depth = 20, config.max_relative_position, config.size_per_head
    position = np.arange(2 * k + 1, dtype=np.float32)[:, None]
    frequencies = np.exp(np.arange(0, depth, 2, dtype=np.float32) * np.float32(-np.log(10000.0) / depth))
    table = np.zeros([2 * k + 1, depth], np.float32)
    table[:, 0::2], table[:, 1::2] = np.sin(position * frequencies), np.cos(position * frequencies)
    distance = np.clip(np.arange(length)[None, :] - np.arange(length)[:, None], -k, k) + k
    for layer in range(config.num_hidden_layers):
        tensors[f"encoder.layer.{layer}.attention.self.relative_positions_encoding.positions_encoding"] = table[distance]
    tensors["embeddings.token_type_ids"] = np.zeros([1, 128], np.int64)
    save_file(tensors, str(tmp_path / "hf" / "model.safetensors"), metadata={"format": "pt"})
    report = load_hf_checkpoint(NezhaModel(config), tmp_path / "hf", strict=True)
    assert report.unused_in_checkpoint == []

    # a table for another clipping distance is not what this model computes: reported
    tensors["encoder.layer.1.attention.self.relative_positions_encoding.positions_encoding"] = table[
        np.clip(distance, k - 3, k + 3)]
    save_file(tensors, str(tmp_path / "hf" / "model.safetensors"), metadata={"format": "pt"})
    report = load_hf_checkpoint(NezhaModel(config), tmp_path / "hf")
    assert report.unused_in_checkpoint == ["encoder.layer.1.attention.self.relative_positions_encoding.positions_encoding"]
