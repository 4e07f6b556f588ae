"""training/numerics.py through the loop: a NaN or Inf loss stops the run in fp32 and bf16, fp16 stops after
20 skipped updates in a row, and no precision ever writes a checkpoint of non-finite weights."""
import numpy as np
import pytest
import tensorflow as tf

from compat.keras import keras
from tests.training.test_loop import make_trainer
from tests.training.toy import toy_dataset, toy_examples
from training.loop import Callback, NonFiniteLossError
from training.numerics import MAX_SKIPPED_IN_A_ROW, NumbersGuard
from training.precision import Precision


def poisoned_dataset(value, first_batch, last_batch=None, batch=8, n=64):
    """Batches of 8 whose labels are `value` in batches first_batch..last_batch (1-based), repeated."""
    examples = toy_examples(n)
    y = examples["y"].copy()
    y[(first_batch - 1) * batch:(last_batch or n // batch) * batch] = value
    return tf.data.Dataset.from_tensor_slices(dict(examples, y=y)).batch(batch, drop_remainder=True)


def checkpoints(directory):
    return sorted(p.name for p in directory.glob("ckpt-*.index"))


@pytest.fixture(params=["fp32", "bf16"])
def unscaled(request):
    precision = Precision.create(use_bf16=request.param == "bf16")
    precision.apply_policy()
    yield precision
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("value,shown", [(np.nan, "nan"), (np.inf, "inf")])
def test_a_nan_or_inf_loss_stops_naming_step_and_last_checkpoint(tmp_path, unscaled, value, shown):
    trainer = make_trainer(tmp_path, steps=10, save_every=2, lr=1e-3, precision=unscaled)
    with pytest.raises(NonFiniteLossError, match=rf"the loss became {shown} at step 4; last good checkpoint: .*ckpt-2$"):
        trainer.train(poisoned_dataset(value, 4, 4))
    assert checkpoints(tmp_path) == ["ckpt-2.index"]


def test_bad_numbers_found_only_at_the_save_step_still_write_no_checkpoint(tmp_path, unscaled):
    # Logged every 100 updates: the bad update 3 is found when update 4 is to be saved, and is named.
    trainer = make_trainer(tmp_path, steps=10, save_every=2, lr=1e-3, precision=unscaled)
    trainer.settings.log_every = 100
    with pytest.raises(NonFiniteLossError, match=r"became nan at step 3; last good checkpoint: .*ckpt-2$"):
        trainer.train(poisoned_dataset(np.nan, 3, 3))
    assert checkpoints(tmp_path) == ["ckpt-2.index"]
    assert trainer.step == 4, "the run went on to the save step without reading a loss"


class PoisonUnusedRow(Callback):
    """At the checkpoint of step 4, sets the embedding row of an id the data never uses to Inf: the
    loss stays finite, only the weights are bad."""

    def on_checkpoint(self, step, trainer):
        if step == 4:
            table = trainer.model.embedding.embeddings
            table.assign(tf.tensor_scatter_nd_update(table, [[10]], [tf.fill([table.shape[1]], np.inf)]))


def test_weights_that_went_bad_with_a_finite_loss_are_not_saved(tmp_path):
    examples = toy_examples(64)
    examples["x"] %= 10  # id 10 never appears
    trainer = make_trainer(tmp_path, steps=6, save_every=2, lr=1e-3, callbacks=[PoisonUnusedRow()],
                           optimizer="adam")  # per-element updates: row 10 alone goes bad
    with pytest.raises(NonFiniteLossError, match=r"weights became non-finite by step 6; last good .*ckpt-4$"):
        trainer.train(tf.data.Dataset.from_tensor_slices(examples).repeat().batch(8, drop_remainder=True))
    assert checkpoints(tmp_path) == ["ckpt-2.index", "ckpt-4.index"]


def test_fp16_stops_after_twenty_skipped_updates_in_a_row(tmp_path):
    precision = Precision.create(use_fp16=True)
    precision.apply_policy()
    try:
        # a scale of 1 from the start: the first 3 updates are applied, then every one overflows
        precision.loss_scale.scale.assign(1.0)
        trainer = make_trainer(tmp_path, steps=40, save_every=2, lr=1e-3, precision=precision)
        with pytest.raises(NonFiniteLossError, match=rf"{MAX_SKIPPED_IN_A_ROW} updates in a row were skipped "
                                                     r"for non-finite gradients at step 3 .*last good checkpoint: "
                                                     r".*ckpt-2$"):
            # 3 good batches, then NaN labels for ever
            trainer.train(toy_dataset(64, 8).take(3).concatenate(poisoned_dataset(np.nan, 1).repeat()))
        assert trainer.step == 3
        assert checkpoints(tmp_path) == ["ckpt-2.index"]
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_skips_before_the_first_update_are_the_loss_scale_settling_not_divergence():
    guard = NumbersGuard(loss_scaled=True)
    for _ in range(3 * MAX_SKIPPED_IN_A_ROW):
        guard.record([tf.constant(1.0)], tf.constant(False), tf.constant(1.0))
    guard.check(0, float, None)  # nothing applied yet: the scale is still falling from 2^32
    for _ in range(MAX_SKIPPED_IN_A_ROW - 1):
        guard.record([tf.constant(1.0)], tf.constant(False), tf.constant(1.0))
    guard.check(5, float, None)
    guard.record([tf.constant(1.0)], tf.constant(False), tf.constant(1.0))
    with pytest.raises(NonFiniteLossError, match=rf"{MAX_SKIPPED_IN_A_ROW} updates in a row .* at step 5"):
        guard.check(5, float, None)
