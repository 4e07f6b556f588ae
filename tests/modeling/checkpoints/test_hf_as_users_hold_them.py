"""Hugging Face checkpoints as users hold them: a transformers config.json as the model's config, an
original model directory that also holds a config.json, and transformers' NEZHA task models
(../shared/fixtures/hf_nezha_heads_tiny, written by transformers 4.40.2) read and written."""
import json

import numpy as np
import pytest

from modeling import NezhaModel, save_hf_checkpoint, save_tf1_checkpoint
from modeling.checkpoints import checkpoint_format, config_from_hf_json_file, config_from_json_file, load_checkpoint
from modeling.checkpoints.hf import read_hf_tensors
from modeling.config import NezhaConfig
from modeling.task_models import NezhaForClassification, NezhaForSpanExtraction, NezhaForTokenTagging
from tests.helpers import tiny_config

TOLERANCE = 1e-5


# ------------------------------------------------------------------------- --bert_config_file, by content

def test_a_transformers_nezha_config_json_reads_as_transformers_does(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "nezha", "architectures": ["NezhaForMaskedLM"], "hidden_size": 32,
                                "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
                                "vocab_size": 100, "hidden_act": "gelu_new", "max_relative_position": 32}))
    config = config_from_json_file(path)
    assert config == config_from_hf_json_file(path)
    assert (config.hidden_act, config.use_relative_position, config.type_vocab_size) == ("gelu", True, 2)
    assert config.max_relative_position == 32


def test_a_transformers_bert_config_json_is_an_absolute_position_model(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2,
                                "num_attention_heads": 4, "intermediate_size": 64, "vocab_size": 100,
                                "hidden_act": "gelu", "max_position_embeddings": 128, "type_vocab_size": 2,
                                "position_embedding_type": "absolute", "pad_token_id": 0}))
    config = config_from_json_file(path)
    assert (config.hidden_act, config.use_relative_position) == ("gelu_erf", False)
    assert (config.max_position_embeddings, config.vocab_size) == (128, 100)
    path.write_text(json.dumps({"model_type": "bert", "position_embedding_type": "relative_key"}))
    with pytest.raises(ValueError, match="position_embedding_type"):
        config_from_json_file(path)


def test_the_originals_bert_config_json_is_read_as_before(fixtures_dir):
    path = fixtures_dir / "nezha_tiny_lamb" / "bert_config.json"
    assert config_from_json_file(path) == NezhaConfig.from_json_file(str(path))


def test_bert_config_file_takes_a_transformers_config_json_in_a_run(tmp_path):
    """The run set-up reads --bert_config_file by content (training/setup.py)."""
    from training.options import RunOptions
    from training.setup import set_up_run

    directory = save_hf_checkpoint(NezhaModel(tiny_config()), tmp_path / "hf")
    options = RunOptions(bert_config_file=f"{directory}/config.json", output_dir=str(tmp_path / "out"))
    setup = set_up_run(options, NezhaModel)
    assert setup.config == config_from_hf_json_file(directory)


# ----------------------------------------------------------- a TF1 directory that also holds a config.json

def test_an_original_directory_with_a_config_json_is_read_as_tf1(tmp_path):
    source = NezhaModel(tiny_config())
    source.ensure_built()
    for index, variable in enumerate(source.tf1_variables().values()):
        variable.assign(variable + 0.01 * (index + 1))
    save_tf1_checkpoint(source, tmp_path / "model.ckpt")
    # What users download: bert_config.json, model.ckpt.* and a transformers-style config.json beside them.
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "nezha"}))
    assert checkpoint_format(tmp_path).name == "tf1"
    target = NezhaModel(tiny_config())
    target.ensure_built()
    report = load_checkpoint(target, tmp_path)
    assert report.format == "tf1" and "read as tf1" in str(report)
    assert report.loaded == sorted(source.tf1_variables())
    # A transformers directory is still theirs, and says so.
    directory = save_hf_checkpoint(source, tmp_path / "hf")
    assert load_checkpoint(target, directory).format == "hf"


# ------------------------------------------------------------------ transformers' NEZHA task models

@pytest.fixture(scope="module")
def heads(fixtures_dir):
    path = fixtures_dir / "hf_nezha_heads_tiny"
    if not path.is_dir():
        pytest.skip(f"{path} is absent: these tests compare with transformers' logits written there")
    return path


def _inputs(golden):
    return {name: golden[name].astype(np.int32) for name in ("input_ids", "input_mask", "segment_ids")}


def _model(kind, config):
    if kind == "sequence_classification":
        return NezhaForClassification(config, num_labels=3)
    if kind == "token_classification":
        return NezhaForTokenTagging(config, num_labels=7)
    return NezhaForSpanExtraction(config)


def _loaded(heads, kind):
    config = config_from_json_file(heads / kind / "config.json")
    model = _model(kind, config)
    model.ensure_built()
    report = load_checkpoint(model, heads / kind)
    assert report.format == "hf", str(report)
    # transformers' tagger and reader have no pooler, which ours never reads: no mismatch to warn about.
    assert set(report.missing_in_checkpoint) == set(report.unread_by_model), str(report)
    assert report.warning() is None
    if kind != "sequence_classification":
        assert report.unread_by_model == ["bert/pooler/dense/bias", "bert/pooler/dense/kernel"]
    assert report.unused_in_checkpoint == [], str(report)
    return model


@pytest.mark.parametrize("kind", ["sequence_classification", "token_classification", "question_answering"])
def test_each_transformers_task_model_gives_its_logits_here(heads, kind):
    golden = np.load(heads / "golden.npz")
    inputs = _inputs(golden)
    model = _loaded(heads, kind)
    outputs = model(inputs, training=False)
    if kind == "sequence_classification":
        np.testing.assert_allclose(outputs["logits"].numpy(), golden["seqcls_logits"], atol=TOLERANCE, rtol=0)
    elif kind == "token_classification":
        np.testing.assert_allclose(outputs["logits"].numpy(), golden["tokcls_logits"], atol=TOLERANCE, rtol=0)
    else:
        # Ours adds the span mask (-10000 outside the context and [CLS]); the projection itself is transformers'.
        raw = model.head(model.encoder(inputs, training=False)["sequence_output"]).numpy()
        np.testing.assert_allclose(raw[:, :, 0], golden["qa_start_logits"], atol=TOLERANCE, rtol=0)
        np.testing.assert_allclose(raw[:, :, 1], golden["qa_end_logits"], atol=TOLERANCE, rtol=0)
        allowed = (inputs["input_mask"] * inputs["segment_ids"]).astype(bool)
        allowed[:, 0] = True
        np.testing.assert_allclose(outputs["start_logits"].numpy()[allowed], golden["qa_start_logits"][allowed],
                                   atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("kind", ["sequence_classification", "token_classification", "question_answering"])
def test_our_export_writes_transformers_tensor_names_shapes_and_dtypes(heads, kind, tmp_path):
    model = _loaded(heads, kind)
    labels = json.loads((heads / kind / "config.json").read_text()).get("id2label")
    names = [labels[str(index)] for index in range(len(labels))] if kind != "question_answering" else None
    written = save_hf_checkpoint(model, tmp_path / kind, labels=names)
    _, theirs = read_hf_tensors(heads / kind)
    _, ours = read_hf_tensors(written)
    assert {name: (value.shape, value.dtype) for name, value in ours.items()} == \
        {name: (value.shape, value.dtype) for name, value in theirs.items()}
    for name, value in theirs.items():
        np.testing.assert_array_equal(ours[name], value, err_msg=name)
    exported = json.loads((tmp_path / kind / "config.json").read_text())
    fixture = json.loads((heads / kind / "config.json").read_text())
    for key in ("architectures", "hidden_act", "model_type", "hidden_size", "num_hidden_layers", "vocab_size",
                "max_relative_position", "type_vocab_size", "id2label"):
        assert exported.get(key) == fixture.get(key), key
