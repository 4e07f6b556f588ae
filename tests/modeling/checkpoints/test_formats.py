"""modeling/checkpoints/formats.py: which format a path holds, and one dispatch for reading and writing."""
import numpy as np
import pytest

from modeling import NezhaForPretraining, NezhaModel, save_hf_checkpoint, save_tf1_checkpoint
from modeling.checkpoints import (
    CheckpointError,
    CheckpointNotFoundError,
    checkpoint_format,
    load_checkpoint,
    save_tf2_checkpoint,
)
from modeling.checkpoints.formats import FORMATS, WRITABLE_FORMATS, format_named
from tests.helpers import tiny_config


def perturbed(model):
    model.ensure_built()
    for index, variable in enumerate(model.trainable_variables):
        variable.assign(variable + 0.01 * (index + 1))
    return model


def test_each_format_is_recognised_from_the_path_a_user_names(tmp_path):
    model = perturbed(NezhaModel(tiny_config()))
    hf_dir = save_hf_checkpoint(model, tmp_path / "hf")
    tf1_prefix = save_tf1_checkpoint(model, tmp_path / "tf1" / "model.ckpt")
    tf2_prefix = save_tf2_checkpoint(model, tmp_path / "tf2" / "model")
    assert checkpoint_format(hf_dir).name == "hf"
    assert checkpoint_format(f"{hf_dir}/model.safetensors").name == "hf"
    assert checkpoint_format(tf1_prefix).name == "tf1"
    assert checkpoint_format(tmp_path / "tf1").name == "tf1"  # a directory: its latest checkpoint
    assert checkpoint_format(tf2_prefix).name == "tf2"


def test_every_format_loads_what_it_holds(tmp_path):
    source = perturbed(NezhaModel(tiny_config()))
    paths = {"hf": save_hf_checkpoint(source, tmp_path / "hf"),
             "tf1": save_tf1_checkpoint(source, tmp_path / "tf1" / "model.ckpt"),
             "tf2": save_tf2_checkpoint(source, tmp_path / "tf2" / "model")}
    assert set(paths) == {candidate.name for candidate in FORMATS}
    for name, path in paths.items():
        target = NezhaModel(tiny_config())
        target.ensure_built()
        report = load_checkpoint(target, path)
        assert report.loaded == sorted(source.tf1_variables()), name
        for variable_name, variable in target.tf1_variables().items():
            np.testing.assert_array_equal(variable.numpy(), source.tf1_variables()[variable_name].numpy(),
                                          err_msg=f"{name}: {variable_name}")


@pytest.mark.parametrize("name", WRITABLE_FORMATS)
def test_a_writable_format_writes_a_model_directory_it_reads_back(tmp_path, name):
    source = perturbed(NezhaForPretraining(tiny_config()))
    directory = format_named(name).save_model(source, tmp_path / name)
    assert checkpoint_format(directory).name == name
    target = NezhaForPretraining(tiny_config())
    target.ensure_built()
    report = load_checkpoint(target, directory)
    assert not report.missing_in_checkpoint and not report.unused_in_checkpoint
    np.testing.assert_array_equal(target.encoder.word_embeddings.numpy(), source.encoder.word_embeddings.numpy())


def test_the_writable_formats_are_hf_and_tf1():
    assert WRITABLE_FORMATS == ("hf", "tf1")
    with pytest.raises(ValueError, match="unknown checkpoint format 'onnx'"):
        format_named("onnx")


def test_no_checkpoint_and_an_unreadable_one_are_named(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="nothing"):
        checkpoint_format(tmp_path / "nothing")
    (tmp_path / "model.ckpt.index").write_bytes(b"not an index")
    with pytest.raises(CheckpointError, match=f"cannot read checkpoint {tmp_path / 'model.ckpt'}"):
        load_checkpoint(NezhaModel(tiny_config()), tmp_path / "model.ckpt")
