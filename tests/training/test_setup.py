"""training/setup.py: the one set-up both pretraining and fine-tuning are built on."""
import dataclasses

import pytest
import tensorflow as tf

from compat.keras import keras
from modeling import NezhaForPretraining
from tests.helpers import smallest_config
from training.distribution.single import SingleDevice
from training.options import RunOptions
from training.setup import RunSetup, set_up_run

CONFIG = smallest_config()


@pytest.fixture
def options(tmp_path):
    config_file = tmp_path / "bert_config.json"
    CONFIG.to_json_file(str(config_file))
    return RunOptions(output_dir=str(tmp_path / "out"), bert_config_file=str(config_file), learning_rate=1e-3)


@pytest.fixture(autouse=True)
def float32_policy_after():
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_set_up_run_builds_the_model_from_the_config_file_and_creates_output_dir(options):
    setup = set_up_run(options, NezhaForPretraining)
    assert setup.config == CONFIG
    assert setup.model.trainable_variables  # built
    assert tf.io.gfile.isdir(options.output_dir)
    assert setup.distributed.size == 1 and setup.is_chief
    assert setup.precision.policy == "float32" and setup.precision.loss_scale is None
    assert setup.start_weights() is None  # no checkpoint in output_dir and no --init_checkpoint


def test_precision_is_applied_before_the_model_is_built(options):
    setup = set_up_run(dataclasses.replace(options, use_fp16=True), NezhaForPretraining)
    assert setup.precision.loss_scale is not None
    assert setup.model.encoder.compute_dtype == "float16"
    assert all(v.dtype == tf.float32 for v in setup.model.trainable_variables)  # master weights


def test_the_same_seed_builds_the_same_model(options):
    first = set_up_run(options, NezhaForPretraining, seed=7).model.get_weights()
    second = set_up_run(options, NezhaForPretraining, seed=7).model.get_weights()
    assert all((a == b).all() for a, b in zip(first, second))


def test_learning_rate_is_multiplied_by_the_number_of_replicas(options):
    setup = set_up_run(options, NezhaForPretraining)

    class TwoProcesses(SingleDevice):
        size = 2
        num_replicas = 2

    two = RunSetup(options, TwoProcesses(), setup.precision, setup.config, setup.model)
    for run_setup, processes in ((setup, 1), (two, 2)):
        optimizer = run_setup.create_optimizer("adam", num_train_steps=10, num_warmup_steps=0, strict_names=True)
        assert float(optimizer.learning_rate(1)) == pytest.approx(1e-3 * processes * (1 - 1 / 10))


def saved_checkpoint(config, kind, tmp_path) -> str:
    """A pretraining model of `config` saved in the `kind` format ("tf1" or "tf2"); its path."""
    from modeling.checkpoints import save_tf1_model, save_tf2_checkpoint
    trained = NezhaForPretraining(config)
    trained.ensure_built()
    return (str(save_tf1_model(trained, tmp_path / "tf1")) if kind == "tf1"
            else save_tf2_checkpoint(trained, tmp_path / "tf2" / "model"))


@pytest.mark.parametrize("kind", ["tf1", "tf2"])
def test_a_vocabulary_that_does_not_fit_the_init_checkpoint_names_the_three_numbers(tmp_path, kind):
    from training.finetune.options import FineTuneOptions
    from training.checkpointing import CheckpointError
    checkpoint = saved_checkpoint(smallest_config(vocab_size=40), kind, tmp_path)
    config_file = tmp_path / "bert_config.json"
    CONFIG.to_json_file(str(config_file))  # vocab_size 50
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(f"t{i}\n" for i in range(45)))
    options = FineTuneOptions(output_dir=str(tmp_path / "out"), bert_config_file=str(config_file),
                              init_checkpoint=checkpoint, vocab_file=str(vocab), data_dir=str(tmp_path))
    setup = set_up_run(options, NezhaForPretraining)
    with pytest.raises(CheckpointError, match=rf"vocabulary does not fit --init_checkpoint .*: vocab_size 50 in "
                                              rf"--bert_config_file .*, 45 tokens in --vocab_file .*, 40 "
                                              rf"word-embedding rows in the checkpoint"):
        setup.start_weights()


def a_larger_vocabulary(tmp_path, kind=None):
    """Options whose config and --init_checkpoint (when `kind` is given) agree on 50 rows, and a vocab file of 60."""
    from training.finetune.options import FineTuneOptions
    checkpoint = None if kind is None else saved_checkpoint(CONFIG, kind, tmp_path)
    config_file = tmp_path / "bert_config.json"
    CONFIG.to_json_file(str(config_file))  # vocab_size 50
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(f"t{i}\n" for i in range(60)))
    return FineTuneOptions(output_dir=str(tmp_path / "out"), bert_config_file=str(config_file),
                           init_checkpoint=checkpoint, vocab_file=str(vocab), data_dir=str(tmp_path)), str(vocab)


@pytest.mark.parametrize("kind", ["tf1", "tf2"])
def test_a_vocab_file_larger_than_config_and_checkpoint_names_the_three_numbers(tmp_path, kind):
    from training.checkpointing import CheckpointError
    options, vocab = a_larger_vocabulary(tmp_path, kind)
    setup = set_up_run(options, NezhaForPretraining)
    with pytest.raises(CheckpointError, match=rf"vocabulary does not fit --init_checkpoint .*: vocab_size 50 in "
                                              rf"--bert_config_file .*, 60 tokens in --vocab_file .*, 50 "
                                              rf"word-embedding rows in the checkpoint"):
        setup.check_ids_fit(vocab_size=60, vocab_source=vocab)


def test_a_vocab_file_larger_than_the_config_without_a_checkpoint_names_the_two_numbers(tmp_path):
    options, vocab = a_larger_vocabulary(tmp_path)
    setup = set_up_run(options, NezhaForPretraining)
    with pytest.raises(ValueError, match=r"bert_config.json is too small for the data: the vocabulary .*vocab.txt has "
                                         r"60 tokens but vocab_size is 50"):
        setup.check_ids_fit(vocab_size=60, vocab_source=vocab)
