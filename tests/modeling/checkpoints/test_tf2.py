"""modeling/checkpoints/tf2.py: our object-based checkpoints, written and read back by TF1 name."""
import numpy as np
import tensorflow as tf

from modeling import NezhaForPretraining, save_tf1_checkpoint
from modeling.checkpoints.tf2 import (
    MODEL_KEY,
    is_tf2_checkpoint,
    load_tf2_checkpoint,
    object_keys,
    save_tf2_checkpoint,
)
from modeling.task_models import NezhaForClassification
from tests.helpers import tiny_config


def test_written_weights_come_back_exactly_and_are_reported_by_tf1_name(tmp_path):
    source = NezhaForClassification(tiny_config(), num_labels=3)
    source.ensure_built()
    for index, variable in enumerate(source.trainable_variables):
        variable.assign(variable + 0.01 * (index + 1))
    prefix = save_tf2_checkpoint(source, tmp_path / "best" / "model")
    assert is_tf2_checkpoint(prefix)
    keys = {name for name, _ in tf.train.list_variables(prefix)}
    assert set(object_keys(source).values()) <= keys
    assert all(key.startswith(MODEL_KEY + "/") for key in object_keys(source).values())

    target = NezhaForClassification(tiny_config(), num_labels=3)
    target.ensure_built()
    report = load_tf2_checkpoint(target, prefix)
    assert report.loaded == sorted(target.tf1_variables())
    assert report.missing_in_checkpoint == [] and report.unused_in_checkpoint == []
    for name, variable in target.tf1_variables().items():
        np.testing.assert_array_equal(variable.numpy(), source.tf1_variables()[name].numpy(), err_msg=name)


def test_an_original_tf1_checkpoint_is_not_one_of_ours(tmp_path):
    prefix = save_tf1_checkpoint(NezhaForPretraining(tiny_config()), tmp_path / "model.ckpt")
    assert not is_tf2_checkpoint(prefix)
