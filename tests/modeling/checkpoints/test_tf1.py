"""modeling/checkpoints/tf1.py: original names, exact round trips, honest reports, the model directory."""
import os

import numpy as np
import pytest
import tensorflow as tf

from modeling import (
    CheckpointNotFoundError,
    CheckpointShapeError,
    NezhaConfig,
    NezhaForPretraining,
    NezhaModel,
    load_tf1_checkpoint,
    save_tf1_checkpoint,
    save_tf1_model,
)
from tests.helpers import tiny_config


def write_raw_checkpoint(prefix, tensors):
    """A checkpoint holding exactly `tensors` (name -> array), as a foreign tool would write it."""
    names = sorted(tensors)
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(tensors[name]) for name in names],
    )
    return str(prefix)


@pytest.mark.parametrize("relative", [True, False])
def test_round_trip_is_exact(tmp_path, relative):
    config = tiny_config(use_relative_position=relative)
    source = NezhaForPretraining(config)
    prefix = save_tf1_checkpoint(source, tmp_path / "out" / "model.ckpt")

    names = dict(tf.train.list_variables(prefix))
    assert set(names) == set(source.tf1_variables())
    assert ("bert/embeddings/position_embeddings" in names) is not relative
    assert names["cls/seq_relationship/output_weights"] == [2, config.hidden_size]

    target = NezhaForPretraining(config)
    report = load_tf1_checkpoint(target, prefix, strict=True)
    assert len(report.loaded) == len(names)
    target_variables = target.tf1_variables()
    for name, variable in source.tf1_variables().items():
        np.testing.assert_array_equal(target_variables[name].numpy(), variable.numpy(), err_msg=name)


def test_save_leaves_only_finished_files_and_a_checkpoint_state(tmp_path):
    model = NezhaModel(tiny_config())
    save_tf1_checkpoint(model, tmp_path / "model.ckpt")
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["checkpoint", "model.ckpt.data-00000-of-00001", "model.ckpt.index"]
    # so a directory loads too
    assert load_tf1_checkpoint(NezhaModel(tiny_config()), tmp_path).path == str(tmp_path / "model.ckpt")


def test_relative_path_and_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_tf1_checkpoint(NezhaModel(tiny_config()), "out/model.ckpt")
    assert load_tf1_checkpoint(NezhaModel(tiny_config()), "out").path.endswith("out/model.ckpt")


def test_report_lists_missing_unused_and_ignores_optimizer_state(tmp_path):
    config = tiny_config()
    model = NezhaForPretraining(config)
    tensors = {name: variable.numpy() for name, variable in model.tf1_variables().items()}
    dropped = "cls/predictions/output_bias"
    del tensors[dropped]
    tensors["bert/some_extra/kernel"] = np.zeros([3], np.float32)
    tensors["bert/embeddings/word_embeddings/adam_m"] = np.zeros([config.vocab_size, config.hidden_size], np.float32)
    tensors["bert/pooler/dense/kernel/lamb_v"] = np.zeros([32, 32], np.float32)
    tensors["global_step"] = np.array(7, np.int64)
    prefix = write_raw_checkpoint(tmp_path / "foreign.ckpt", tensors)

    report = load_tf1_checkpoint(NezhaForPretraining(config), prefix)
    assert report.missing_in_checkpoint == [dropped]
    assert report.unused_in_checkpoint == ["bert/some_extra/kernel"]
    assert sorted(report.ignored_optimizer_state) == [
        "bert/embeddings/word_embeddings/adam_m",
        "bert/pooler/dense/kernel/lamb_v",
        "global_step",
    ]
    assert len(report.loaded) == len(tensors) - 4
    text = str(report)
    assert dropped in text and "bert/some_extra/kernel" in text and "adam_m" not in text
    with pytest.raises(ValueError, match="strict"):
        load_tf1_checkpoint(NezhaForPretraining(config), prefix, strict=True)


def test_encoder_alone_loads_a_pretraining_checkpoint(tmp_path):
    config = tiny_config()
    prefix = save_tf1_checkpoint(NezhaForPretraining(config), tmp_path / "model.ckpt")
    report = load_tf1_checkpoint(NezhaModel(config), prefix)
    assert report.missing_in_checkpoint == []
    assert all(name.startswith("cls/") for name in report.unused_in_checkpoint) and report.unused_in_checkpoint


def test_google_bert_checkpoint_with_absolute_positions_loads(tmp_path):
    """A BERT checkpoint: absolute position embeddings, same names otherwise."""
    config = tiny_config(use_relative_position=False)
    bert = NezhaModel(config)
    tensors = {name: np.random.default_rng(0).standard_normal(v.shape).astype(np.float32) for name, v in bert.tf1_variables().items()}
    prefix = write_raw_checkpoint(tmp_path / "bert_model.ckpt", tensors)
    report = load_tf1_checkpoint(bert, prefix, strict=True)
    assert "bert/embeddings/position_embeddings" in report.loaded
    np.testing.assert_array_equal(bert.embeddings.position_embeddings.numpy(), tensors["bert/embeddings/position_embeddings"])


def test_shape_mismatch_names_variable_and_both_shapes(tmp_path):
    prefix = save_tf1_checkpoint(NezhaModel(tiny_config(vocab_size=50)), tmp_path / "model.ckpt")
    model = NezhaModel(tiny_config())
    before = model.word_embeddings.numpy()
    with pytest.raises(CheckpointShapeError, match=r"bert/embeddings/word_embeddings.*\[50, 32\].*\[97, 32\]"):
        load_tf1_checkpoint(model, prefix)
    np.testing.assert_array_equal(model.word_embeddings.numpy(), before)  # nothing was half-loaded


def test_missing_path(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="no_such.ckpt"):
        load_tf1_checkpoint(NezhaModel(tiny_config()), tmp_path / "no_such.ckpt")
    with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
        load_tf1_checkpoint(NezhaModel(tiny_config()), tmp_path)


def test_fixture_checkpoint_names_are_the_models(tiny_lamb_dir):
    config = NezhaConfig.from_json_file(tiny_lamb_dir / "bert_config.json")
    names = {name for name, _ in tf.train.list_variables(str(tiny_lamb_dir / "model.ckpt"))}
    assert names == set(NezhaForPretraining(config).tf1_variables())


def test_model_directory_is_written_whole_and_movable(tmp_path):
    model = NezhaForPretraining(tiny_config())
    directory = save_tf1_model(model, tmp_path / "export", checkpoint_name="model.ckpt-7")
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == [
        "bert_config.json", "checkpoint", "model.ckpt-7.data-00000-of-00001", "model.ckpt-7.index"]
    assert NezhaConfig.from_json_file(os.path.join(directory, "bert_config.json")) == model.config
    os.rename(tmp_path / "export", tmp_path / "moved")  # the state file names the checkpoint relatively
    report = load_tf1_checkpoint(NezhaForPretraining(tiny_config()), tmp_path / "moved", strict=True)
    assert report.path == str(tmp_path / "moved" / "model.ckpt-7")


def test_model_directory_is_replaced_only_when_asked(tmp_path):
    save_tf1_model(NezhaModel(tiny_config()), tmp_path / "export", checkpoint_name="model.ckpt-1")
    with pytest.raises(FileExistsError, match="not empty"):
        save_tf1_model(NezhaModel(tiny_config()), tmp_path / "export", checkpoint_name="model.ckpt-2")
    save_tf1_model(NezhaModel(tiny_config()), tmp_path / "export", checkpoint_name="model.ckpt-2", overwrite=True)
    assert tf.train.latest_checkpoint(str(tmp_path / "export")) == str(tmp_path / "export" / "model.ckpt-2")
    assert not (tmp_path / "export" / "model.ckpt-1.index").exists()
