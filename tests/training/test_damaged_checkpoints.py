"""A damaged checkpoint (truncated data file, missing index, flipped bytes): at resume an error naming the file
and the newest intact earlier checkpoint, which --resume_from_previous_on_error resumes from; a damaged
--init_checkpoint is the same error without the fallback."""
import numpy as np
import pytest

from modeling.checkpoints import save_tf2_checkpoint
from modeling.task_models import NezhaForClassification
from tests.helpers import tiny_config
from tests.training.test_loop import make_trainer, weights
from tests.training.toy import toy_dataset
from training.checkpointing import CheckpointError, checkpoint_damage, latest_in, load_initial_weights
from training.options import RunOptions

DATA = "data-00000-of-00001"


def data(consumed):
    return toy_dataset(64, 8).skip(consumed)


def truncate(path):
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def flip_middle(path):
    content = bytearray(path.read_bytes())
    middle = len(content) // 2
    content[middle:middle + 8] = bytes(b ^ 0xFF for b in content[middle:middle + 8])
    path.write_bytes(bytes(content))


@pytest.fixture
def run_dir(tmp_path):
    make_trainer(tmp_path, steps=6, save_every=2).train(data)  # ckpt-2, ckpt-4, ckpt-6
    return tmp_path


@pytest.mark.parametrize("damage,named", [(lambda d: truncate(d / f"ckpt-6.{DATA}"), rf"ckpt-6\.{DATA}: .+"),
                                          (lambda d: (d / "ckpt-6.index").unlink(), r"ckpt-6\.index is missing"),
                                          (lambda d: flip_middle(d / f"ckpt-6.{DATA}"), rf"ckpt-6\.{DATA}: .*[Cc]hecksum does not match.*")])
def test_a_damaged_latest_checkpoint_is_named_with_the_intact_earlier_one(run_dir, damage, named):
    damage(run_dir)
    with pytest.raises(CheckpointError, match=rf"latest checkpoint .*ckpt-6 is damaged \(.*{named}\); the earlier "
                                              r"checkpoint .*ckpt-4 is intact: run again with "
                                              r"--resume_from_previous_on_error"):
        make_trainer(run_dir, steps=8, save_every=2).train(data)


def test_resume_from_previous_on_error_ends_like_an_uninterrupted_run(run_dir, tmp_path_factory):
    truncate(run_dir / f"ckpt-6.{DATA}")
    resumed = make_trainer(run_dir, steps=8, save_every=2)
    resumed.settings.resume_from_previous_on_error = True
    result = resumed.train(data)
    assert result.resumed_from.endswith("ckpt-4") and result.step == 8
    full = make_trainer(tmp_path_factory.mktemp("full"), steps=8, save_every=2)
    full.train(data)
    for a, b in zip(weights(full), weights(resumed)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert latest_in(str(run_dir)).endswith("ckpt-8")
    assert checkpoint_damage(str(run_dir / "ckpt-6")) is None, "ckpt-6 was written again, whole"


def test_the_newest_intact_checkpoint_is_the_one_named(run_dir):
    truncate(run_dir / f"ckpt-6.{DATA}")
    (run_dir / "ckpt-4.index").unlink()
    with pytest.raises(CheckpointError, match=r"the earlier checkpoint .*ckpt-2 is intact"):
        make_trainer(run_dir, steps=8, save_every=2).train(data)


def test_no_intact_checkpoint_at_all_says_so(run_dir):
    for step in (2, 4, 6):
        truncate(run_dir / f"ckpt-{step}.{DATA}")
    trainer = make_trainer(run_dir, steps=8, save_every=2)
    trainer.settings.resume_from_previous_on_error = True
    with pytest.raises(CheckpointError, match=r"ckpt-6 is damaged .* no earlier checkpoint in .* is intact"):
        trainer.train(data)


def test_a_damaged_init_checkpoint_is_named_without_a_fallback(tmp_path):
    model = NezhaForClassification(tiny_config(), num_labels=2)
    model.ensure_built()
    prefix = save_tf2_checkpoint(model, tmp_path / "model")
    truncate(tmp_path / f"model.{DATA}")
    target = NezhaForClassification(tiny_config(), num_labels=2)
    target.ensure_built()
    with pytest.raises(CheckpointError, match=rf"init_checkpoint .*model is damaged \(.*model\.{DATA}: .+\)$") as error:
        load_initial_weights(target, prefix)
    assert "resume_from_previous" not in str(error.value)


def test_the_flag_reaches_the_loop():
    options = RunOptions(output_dir="out", bert_config_file="c.json", resume_from_previous_on_error=True)
    assert options.loop_settings(4).resume_from_previous_on_error
    assert not RunOptions(output_dir="out", bert_config_file="c.json").loop_settings(4).resume_from_previous_on_error
