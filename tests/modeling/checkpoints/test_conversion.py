"""modeling/checkpoints/conversion.py: every input format, both output formats, the refusals."""
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file

from modeling import NezhaConfig, NezhaForPretraining, load_hf_checkpoint, load_tf1_checkpoint, save_tf1_checkpoint
from modeling.checkpoints.conversion import ConversionError, convert, input_format
from modeling.checkpoints.hf import HFCheckpointError
from modeling.task_models import NezhaForClassification, NezhaForSpanExtraction, NezhaForTokenTagging
from tests.helpers import random_batch, tiny_config

INPUTS = ("input_ids", "input_mask", "segment_ids", "masked_lm_positions")


def perturbed(model):
    """Every variable moved off its initial value (biases start at zero, LayerNorm at one)."""
    model.ensure_built()
    for index, variable in enumerate(model.trainable_variables):
        variable.assign(variable + tf.random.stateless_normal(variable.shape, [index, 7], stddev=0.05))
    return model


def outputs_of(model, config, seed=5):
    batch = random_batch(config, seed=seed)
    return model({name: batch[name] for name in ("input_ids", "input_mask", "segment_ids")}, training=False)


def write_tf1(model, directory):
    os.makedirs(directory, exist_ok=True)
    model.config.to_json_file(os.path.join(directory, "bert_config.json"))
    return save_tf1_checkpoint(model, os.path.join(directory, "model.ckpt"))


def test_tf1_original_to_hf_to_tf1_keeps_the_original_numbers(tiny_lamb_dir, tmp_path):
    golden = np.load(tiny_lamb_dir / "golden.npz")
    loaded, hf_dir = convert(tiny_lamb_dir / "model.ckpt", tmp_path / "hf", "hf")
    assert (loaded.kind, loaded.source_format) == ("pretraining", "tf1")
    assert input_format(hf_dir) == "hf"
    _, tf1_dir = convert(hf_dir, tmp_path / "tf1", "tf1")
    config = NezhaConfig.from_json_file(os.path.join(tf1_dir, "bert_config.json"))
    assert config.hidden_act == "gelu" and config.type_vocab_size == 2
    model = NezhaForPretraining(config)
    report = load_tf1_checkpoint(model, tf1_dir, strict=True)
    assert len(report.loaded) == 45
    outputs = model({name: golden[name] for name in INPUTS}, training=False)
    assert np.abs(outputs["sequence_output"].numpy() - golden["sequence_output"]).max() <= 1e-5
    mlm = outputs["mlm_log_probs"].numpy().reshape(golden["mlm_log_probs"].shape)
    assert np.abs(mlm - golden["mlm_log_probs"]).max() <= 1e-4


def test_classifier_heads_need_the_model_named(tmp_path):
    config = tiny_config()
    source = perturbed(NezhaForClassification(config, num_labels=3))
    write_tf1(source, tmp_path / "tf1")
    with pytest.raises(ConversionError, match="classification or tagging; say which with --model"):
        convert(tmp_path / "tf1", tmp_path / "hf", "hf")
    loaded, directory = convert(tmp_path / "tf1", tmp_path / "hf", "hf", kind="classification")
    assert loaded.report.missing_in_checkpoint == [] and loaded.report.unused_in_checkpoint == []
    assert load_file(f"{directory}/model.safetensors")["classifier.weight"].shape == (3, 32)
    target = NezhaForClassification(config, num_labels=3)
    target.ensure_built()
    load_hf_checkpoint(target, directory, strict=True)
    np.testing.assert_allclose(outputs_of(target, config)["logits"], outputs_of(source, config)["logits"], atol=1e-6)
    with pytest.raises(ConversionError, match="holds a classification model, not a tagging one"):
        convert(directory, tmp_path / "again", "hf", kind="tagging")


def test_our_object_based_checkpoints(tmp_path):
    config = tiny_config()
    (tmp_path / "run").mkdir()
    config.to_json_file(tmp_path / "run" / "bert_config.json")
    reading = perturbed(NezhaForSpanExtraction(config))
    prefix = tf.train.Checkpoint(model=reading).write(str(tmp_path / "run" / "model"))
    assert input_format(prefix) == "tf2"
    with pytest.raises(ConversionError, match="say which with --model"):  # a 2-label classifier looks alike
        convert(prefix, tmp_path / "hf", "hf")
    loaded, directory = convert(prefix, tmp_path / "hf", "hf", kind="reading")
    assert loaded.source_format == "tf2"
    assert loaded.report.loaded and not loaded.report.missing_in_checkpoint and not loaded.report.unused_in_checkpoint
    assert json.loads(open(f"{directory}/config.json").read())["architectures"] == ["NezhaForQuestionAnswering"]
    # back from transformers' layout: the pooler it lacks is not a loss for a reading model
    _, tf1_dir = convert(directory, tmp_path / "tf1", "tf1")
    target = NezhaForSpanExtraction(config)
    target.ensure_built()
    load_tf1_checkpoint(target, tf1_dir)
    expected, got = outputs_of(reading, config), outputs_of(target, config)
    np.testing.assert_allclose(got["start_logits"], expected["start_logits"], atol=1e-5)

    with pytest.raises(ConversionError, match="does not hold a reading model with the config given"):
        convert(prefix, tmp_path / "wrong", "hf", kind="reading", config_path=str(_bigger_config(tmp_path)))


def _bigger_config(tmp_path):
    path = tmp_path / "bigger.json"
    tiny_config(num_hidden_layers=3).to_json_file(path)
    return path


def test_crf_tagger_converts_to_tf1_but_not_to_hf(tmp_path):
    config = tiny_config()
    tagger = perturbed(NezhaForTokenTagging(config, num_labels=4, use_crf=True))
    (tmp_path / "run").mkdir()
    config.to_json_file(tmp_path / "run" / "bert_config.json")
    prefix = tf.train.Checkpoint(model=tagger).write(str(tmp_path / "run" / "model"))
    with pytest.raises(HFCheckpointError, match="no CRF head"):
        convert(prefix, tmp_path / "hf", "hf")
    assert not (tmp_path / "hf").exists()
    loaded, tf1_dir = convert(prefix, tmp_path / "tf1", "tf1")
    assert loaded.kind == "tagging" and loaded.model.use_crf
    names = dict(tf.train.list_variables(tf1_dir))
    assert names["transitions"] == [4, 4] and names["output_weights"] == [4, 32]


def test_lossy_conversion_is_refused_unless_allowed(tmp_path):
    source = perturbed(NezhaForPretraining(tiny_config()))
    prefix = write_tf1(source, tmp_path / "tf1")
    reader = tf.train.load_checkpoint(prefix)
    kept = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith("cls/seq_relationship")}
    shutil.rmtree(tmp_path / "tf1")
    os.makedirs(tmp_path / "tf1")
    source.config.to_json_file(tmp_path / "tf1" / "bert_config.json")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=sorted(kept), shape_and_slices=[""] * len(kept),
                      tensors=[tf.constant(kept[name]) for name in sorted(kept)])
    with pytest.raises(ConversionError, match=r"not in the input.*cls/seq_relationship/output_bias"):
        convert(prefix, tmp_path / "hf", "hf")
    assert not (tmp_path / "hf").exists()
    loaded, _ = convert(prefix, tmp_path / "hf", "hf", allow_partial=True)
    assert len(loaded.report.missing_in_checkpoint) == 2


def test_tf1_input_needs_its_config(tmp_path):
    prefix = save_tf1_checkpoint(NezhaForPretraining(tiny_config()), tmp_path / "model.ckpt")
    with pytest.raises(ConversionError, match="no bert_config.json beside the checkpoint; pass the model's config"):
        convert(prefix, tmp_path / "hf", "hf")
