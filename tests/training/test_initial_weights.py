"""--init_checkpoint accepts one of our own TF2 checkpoints as well as an original TF1 one, and reports
what it loaded the same way for both."""
import numpy as np
import pytest
import tensorflow as tf

from modeling import NezhaConfig, NezhaForPretraining
from modeling.task_models import NezhaForClassification
from tests.helpers import smallest_config
from training.checkpointing import CheckpointError, load_initial_weights

CONFIG = smallest_config()


def test_a_pretraining_checkpoint_initialises_a_classifier_encoder(tmp_path):
    pretrained = NezhaForPretraining(CONFIG)
    pretrained.ensure_built()
    prefix = tf.train.Checkpoint(model=pretrained).write(str(tmp_path / "ckpt-1"))

    classifier = NezhaForClassification(CONFIG, num_labels=3)
    classifier.ensure_built()
    report = load_initial_weights(classifier, prefix)  # restored by object graph, reported by TF1 name

    assert report.loaded == sorted(classifier.encoder.tf1_variables())
    assert report.missing_in_checkpoint == ["output_bias", "output_weights"]  # the new head
    assert "model/next_sentence/output_weights" in report.unused_in_checkpoint
    assert "model/masked_lm/transform/kernel" in report.unused_in_checkpoint
    assert "22 variables" in str(report) and "output_weights" in str(report)

    source = pretrained.encoder.tf1_variables()
    target = classifier.encoder.tf1_variables()
    assert set(source) == set(target)
    for name, variable in target.items():
        np.testing.assert_array_equal(variable.numpy(), source[name].numpy(), err_msg=name)


def test_a_checkpoint_sharing_no_variable_is_a_clear_error(tmp_path):
    unrelated = tf.train.Checkpoint(model=tf.Module())
    unrelated.model.weights = tf.Variable(tf.zeros([3]))
    prefix = unrelated.write(str(tmp_path / "other"))

    classifier = NezhaForClassification(CONFIG, num_labels=2)
    classifier.ensure_built()
    with pytest.raises(CheckpointError, match="does not hold this model.s encoder"):
        load_initial_weights(classifier, prefix)


def test_a_missing_checkpoint_names_the_path(tmp_path):
    classifier = NezhaForClassification(CONFIG, num_labels=2)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_initial_weights(classifier, str(tmp_path / "nowhere"))


def test_a_checkpoint_of_a_deeper_encoder_is_a_clear_error(tmp_path):
    deeper = NezhaForPretraining(NezhaConfig(**{**CONFIG.to_dict(), "num_hidden_layers": 2}))
    deeper.ensure_built()
    prefix = tf.train.Checkpoint(model=deeper).save(str(tmp_path / "ckpt"))

    classifier = NezhaForClassification(CONFIG, num_labels=2)
    classifier.ensure_built()
    with pytest.raises(CheckpointError, match="does not hold this model's encoder"):
        load_initial_weights(classifier, prefix)


def test_a_training_checkpoint_reports_its_optimizer_state_as_ignored(tmp_path):
    source = NezhaForClassification(CONFIG, num_labels=2)
    source.ensure_built()
    step = tf.Variable(3, dtype=tf.int64)
    prefix = tf.train.Checkpoint(model=source, optimizer=tf.train.Checkpoint(iterations=step)).save(
        str(tmp_path / "ckpt"))

    target = NezhaForClassification(CONFIG, num_labels=2)
    target.ensure_built()
    report = load_initial_weights(target, prefix)
    assert report.loaded == sorted(target.tf1_variables())
    assert report.missing_in_checkpoint == [] and report.unused_in_checkpoint == []
    assert any(name.startswith("optimizer/iterations") for name in report.ignored_optimizer_state)
    np.testing.assert_array_equal(target.tf1_variables()["output_weights"].numpy(),
                                  source.tf1_variables()["output_weights"].numpy())


def test_a_transformers_directory_initialises_a_classifier_encoder(tmp_path):
    """--init_checkpoint takes a Hugging Face NEZHA directory too (modeling.checkpoints.formats' "hf")."""
    from modeling import save_hf_checkpoint
    pretrained = NezhaForPretraining(CONFIG)
    pretrained.ensure_built()
    directory = save_hf_checkpoint(pretrained, str(tmp_path / "hf"))

    classifier = NezhaForClassification(CONFIG, num_labels=3)
    classifier.ensure_built()
    report = load_initial_weights(classifier, directory)
    source, target = pretrained.encoder.tf1_variables(), classifier.encoder.tf1_variables()
    for name, variable in target.items():
        np.testing.assert_array_equal(variable.numpy(), source[name].numpy(), err_msg=name)
    assert set(report.loaded) == set(target)
    assert set(report.missing_in_checkpoint) == set(classifier.tf1_variables()) - set(target)  # the new head
