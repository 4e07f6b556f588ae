"""The loop reads numbers from the device only on log, checkpoint and last steps, and still logs,
saves and stops on a NaN exactly as if it read them after every update."""
import numpy as np
import pytest
import tensorflow as tf

from optimization import create_optimizer, name_lookup
from tests.training.toy import make_toy_model, toy_dataset, toy_examples, toy_loss
from training.loop import Callback, LoopSettings, NonFiniteLossError, Trainer
from training.precision import DynamicLossScale, Precision


def make_trainer(output_dir, steps, log_every, save_every, precision=None, callbacks=()):
    model = make_toy_model()
    opt = create_optimizer("lamb", 1e-3, 100, 1, name_of=name_lookup(model.tf1_variables()))
    settings = LoopSettings(str(output_dir), steps, save_checkpoints_steps=save_every, log_every=log_every)
    return Trainer(model, toy_loss, opt, settings, precision=precision, callbacks=callbacks)


class Record(Callback):
    def __init__(self):
        self.logged, self.saved = [], []

    def on_log(self, step, scalars, trainer):
        self.logged.append((step, dict(scalars)))

    def on_checkpoint(self, step, trainer):
        self.saved.append(step)


def test_numbers_are_fetched_only_on_log_checkpoint_and_last_steps(tmp_path):
    record = Record()
    trainer = make_trainer(tmp_path, steps=10, log_every=4, save_every=5, callbacks=[record])
    dispatched, fetched_at = [], []
    dispatch, local_mean = trainer.dispatch_update, trainer.distributed.local_mean

    def counting_dispatch(batches):
        dispatched.append(1)
        return dispatch(batches)

    def counting_mean(value):
        fetched_at.append(len(dispatched))
        return local_mean(value)

    trainer.dispatch_update = counting_dispatch
    trainer.distributed.local_mean = counting_mean
    result = trainer.train(toy_dataset(64, 8))
    assert set(fetched_at) == {4, 5, 8, 10}
    assert [step for step, _ in record.logged] == [4, 8] and record.saved == [5, 10]
    # the logged numbers are those of the update logged, as when they were read after every update
    assert set(record.logged[-1][1]) == {"mse", "total_loss", "learning_rate", "loss_scale"}
    assert result.step == 10 and result.last_scalars["total_loss"] == pytest.approx(result.last_scalars["mse"])


def test_a_nan_between_log_steps_names_its_own_step(tmp_path):
    examples = toy_examples(64)
    poisoned = dict(examples, y=examples["y"].copy())
    poisoned["y"][16:24] = np.nan  # the 3rd batch of 8, read back only at step 4 (a checkpoint step)
    trainer = make_trainer(tmp_path, steps=10, log_every=100, save_every=2)
    dataset = tf.data.Dataset.from_tensor_slices(poisoned).batch(8, drop_remainder=True)
    with pytest.raises(NonFiniteLossError, match=r"at step 3; last good checkpoint: .*ckpt-2"):
        trainer.train(dataset)
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-2"), "no checkpoint after the NaN"


def test_skipped_fp16_updates_do_not_move_the_log_and_checkpoint_steps(tmp_path):
    # The host counts updates; an overflowing one does not advance the step, so the count is
    # corrected from the optimizer before it decides to log or save.
    examples = toy_examples(48)
    examples["y"][8:16] = np.inf  # the 2nd batch overflows: 6 batches give 5 counted updates
    dataset = tf.data.Dataset.from_tensor_slices(examples).batch(8, drop_remainder=True).repeat()
    record = Record()
    trainer = make_trainer(tmp_path, steps=5, log_every=2, save_every=3,
                           precision=Precision("float32", DynamicLossScale()), callbacks=[record])
    result = trainer.train(dataset)
    assert [step for step, _ in record.logged] == [2, 4]
    assert record.saved == [3, 5] and result.step == 5
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-5")
