"""The shared training loop on a toy model: accumulation, loss scaling, policies, resume, errors."""
import os

import numpy as np
import pytest
import tensorflow as tf

from compat.keras import keras
from tests.training.toy import make_toy_model, toy_dataset, toy_examples, toy_loss
from optimization import create_optimizer, name_lookup
from training.loop import Callback, InputDataError, LoopSettings, NonFiniteLossError, Trainer
from training.precision import DynamicLossScale, Precision


def make_trainer(output_dir, steps=4, k=1, precision=None, lr=1e-2, jit=False, callbacks=(), save_every=2,
                 optimizer="lamb", keep=5, report_loss=True):
    model = make_toy_model()
    opt = create_optimizer(optimizer, lr, 100, 1, name_of=name_lookup(model.tf1_variables()))
    settings = LoopSettings(str(output_dir), steps, save_checkpoints_steps=save_every, log_every=1,
                            keep_checkpoint_max=keep, num_accumulation_steps=k, jit_compile=jit,
                            report_loss=report_loss)
    return Trainer(model, toy_loss, opt, settings, precision=precision, callbacks=callbacks)


def weights(trainer):
    return [v.numpy().copy() for v in trainer.model.trainable_variables]


@pytest.mark.parametrize("jit", [False, True])
def test_accumulating_k_micro_batches_equals_one_k_times_larger_batch(tmp_path, jit):
    small = make_trainer(tmp_path / "small", steps=3, k=4, jit=jit)
    small.train(toy_dataset(64, 2))
    large = make_trainer(tmp_path / "large", steps=3, k=1, jit=jit)
    large.train(toy_dataset(64, 8))
    assert small.step == large.step == 3
    for a, b in zip(weights(small), weights(large)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert not np.allclose(weights(large)[1], make_toy_model().trainable_variables[1].numpy())


def test_loss_falls_and_checkpoints_are_kept(tmp_path):
    seen = []

    class Record(Callback):
        def on_checkpoint(self, step, trainer):
            seen.append((step, trainer.last_checkpoint))

    trainer = make_trainer(tmp_path, steps=40, save_every=10, callbacks=[Record()], lr=5e-2, keep=3)
    dataset = toy_dataset(64, 16)
    before = trainer.evaluate(dataset.take(4), lambda m, f: {"mse": (toy_loss(m, f, False)[0], 1.0)})
    trainer.train(dataset)
    after = trainer.evaluate(dataset.take(4), lambda m, f: {"mse": (toy_loss(m, f, False)[0], 1.0)})
    assert after["mse"] < 0.5 * before["mse"]
    assert [s for s, _ in seen] == [10, 20, 30, 40]
    assert seen[-1][1].endswith("ckpt-40")
    kept = sorted(f for f in os.listdir(tmp_path) if f.endswith(".index"))
    assert kept == ["ckpt-20.index", "ckpt-30.index", "ckpt-40.index"]
    assert tf.io.gfile.glob(str(tmp_path / "train" / "events.*"))


def test_evaluate_aggregates_over_all_batches(tmp_path):
    trainer = make_trainer(tmp_path)
    data = tf.data.Dataset.from_tensor_slices(toy_examples(10)).batch(4)  # batches of 4, 4, 2
    result = trainer.evaluate(data, lambda m, f: {"y_sum": (tf.reduce_sum(f["y"]), tf.cast(tf.size(f["y"]), tf.float32))})
    assert result["y_sum"] == pytest.approx(float(np.mean(toy_examples(10)["y"])), rel=1e-6)


def test_evaluating_again_reuses_the_compiled_metric(tmp_path):
    """Evaluations at every checkpoint share one compiled function per metric: a new one each time
    traced the model again and kept each trace's graph for the rest of the run."""
    trainer = make_trainer(tmp_path)
    data = tf.data.Dataset.from_tensor_slices(toy_examples(8)).batch(4)
    traces = []

    def metric(model, features):
        traces.append(1)  # Python runs only while tracing
        return {"y_sum": (tf.reduce_sum(features["y"]), tf.cast(tf.size(features["y"]), tf.float32))}

    first = trainer.evaluate(data, metric)
    traced = len(traces)
    assert traced >= 1
    assert trainer.evaluate(data, metric) == first
    assert len(traces) == traced, "the second evaluation traced the metric again"


def test_rerun_resumes_and_ends_like_an_uninterrupted_run(tmp_path):
    full = make_trainer(tmp_path / "full", steps=6)
    full.train(lambda consumed: toy_dataset(64, 8).skip(consumed))
    first = make_trainer(tmp_path / "split", steps=4)
    first.train(lambda consumed: toy_dataset(64, 8).skip(consumed))
    second = make_trainer(tmp_path / "split", steps=6)
    result = second.train(lambda consumed: toy_dataset(64, 8).skip(consumed))
    assert result.resumed_from.endswith("ckpt-4")
    for a, b in zip(weights(full), weights(second)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(full.optimizer.v_slots[0].numpy(), second.optimizer.v_slots[0].numpy(), atol=1e-7)


def test_an_interrupted_save_never_looks_complete(tmp_path, monkeypatch):
    make_trainer(tmp_path, steps=2).train(toy_dataset(64, 8))
    from tensorflow.python.checkpoint import checkpoint_management

    def die(*args, **kwargs):
        raise KeyboardInterrupt("killed while saving")

    # The data of ckpt-4 gets written, then the process dies before the state file is updated.
    monkeypatch.setattr(checkpoint_management, "update_checkpoint_state_internal", die)
    with pytest.raises(KeyboardInterrupt):
        make_trainer(tmp_path, steps=4).train(toy_dataset(64, 8))
    monkeypatch.undo()
    assert tf.io.gfile.exists(str(tmp_path / "ckpt-4.index"))
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-2")
    resumed = make_trainer(tmp_path, steps=4)
    assert resumed.train(toy_dataset(64, 8)).resumed_from.endswith("ckpt-2")


def test_nan_loss_stops_naming_step_and_last_checkpoint(tmp_path):
    examples = toy_examples(64)
    poisoned = dict(examples, y=examples["y"].copy())
    poisoned["y"][24:32] = np.nan  # the 4th batch of 8
    trainer = make_trainer(tmp_path, steps=10, save_every=2, lr=1e-3)
    dataset = tf.data.Dataset.from_tensor_slices(poisoned).batch(8, drop_remainder=True)
    with pytest.raises(NonFiniteLossError, match=r"at step 4; last good checkpoint: .*ckpt-2"):
        trainer.train(dataset)


def test_running_out_of_data_is_a_clear_error(tmp_path):
    trainer = make_trainer(tmp_path, steps=10)
    with pytest.raises(InputDataError, match="ran out at step 2"):
        trainer.train(toy_dataset(16, 8, repeat=False))


def test_a_forced_overflow_is_skipped_and_the_scale_halves_after_two(tmp_path):
    precision = Precision("float32", DynamicLossScale())
    trainer = make_trainer(tmp_path, precision=precision)
    trainer.prepare(toy_dataset(64, 8))
    good = next(iter(toy_dataset(64, 8)))
    bad = dict(good, y=tf.tensor_scatter_nd_update(good["y"], [[0]], [np.inf]))
    trainer.run_update([good])
    assert trainer.step == 1
    state = weights(trainer), [s.numpy().copy() for s in trainer.optimizer.m_slots + trainer.optimizer.v_slots]
    scale = precision.current_scale()
    assert scale == 2.0 ** 32
    for overflow in range(2):
        trainer.run_update([bad])
        assert trainer.step == 1, "an overflowing step must not count"
        for a, b in zip(state[0], weights(trainer)):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(state[1], trainer.optimizer.m_slots + trainer.optimizer.v_slots):
            np.testing.assert_array_equal(a, b.numpy())
        assert precision.current_scale() == (scale if overflow == 0 else scale / 2)
    trainer.run_update([good])
    assert trainer.step == 2
    assert int(precision.loss_scale.good_steps) == 1


def test_loss_scale_doubles_after_the_configured_finite_run():
    scale = DynamicLossScale(initial_scale=8.0, increase_every=3)
    for _ in range(2):
        scale.update(tf.constant(True))
    assert float(scale.scale) == 8.0
    scale.update(tf.constant(True))
    assert float(scale.scale) == 16.0 and int(scale.good_steps) == 0
    scale.update(tf.constant(False))
    scale.update(tf.constant(True))
    scale.update(tf.constant(False))  # the original counts overflows since the last change
    assert float(scale.scale) == 8.0


@pytest.mark.parametrize("use_fp16,use_bf16", [(False, False), (True, False), (False, True)])
def test_loss_falls_under_each_precision_policy(tmp_path, use_fp16, use_bf16):
    precision = Precision.create(use_fp16=use_fp16, use_bf16=use_bf16)
    precision.apply_policy()
    try:
        # fp16 starts at scale 2^32 and skips ~34 overflowing steps before the scale fits
        trainer = make_trainer(tmp_path, steps=40, precision=precision, lr=5e-2, save_every=100)
        assert trainer.model.dense.compute_dtype == ("float16" if use_fp16 else "bfloat16" if use_bf16 else "float32")
        assert trainer.model.dense.kernel.dtype == tf.float32
        dataset = toy_dataset(64, 16)
        metric = lambda m, f: {"mse": (toy_loss(m, f, False)[0], 1.0)}
        before = trainer.evaluate(dataset.take(4), metric)["mse"]
        trainer.train(dataset)
        after = trainer.evaluate(dataset.take(4), metric)["mse"]
        assert after < 0.7 * before
        if use_fp16:
            assert precision.current_scale() < 2.0 ** 32
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_unwritable_output_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    from training.checkpointing import CheckpointError
    with pytest.raises(CheckpointError, match="not writable"):
        make_trainer(blocker / "out")


def test_accumulation_under_loss_scaling_equals_one_larger_batch(tmp_path):
    # The dynamic loss scale of --use_fp16 with float32 compute, so the comparison can be tight:
    # scaling, unscaling and the 1/k of accumulation must cancel exactly as in an unscaled step.
    scaled = make_trainer(tmp_path / "scaled", steps=3, k=2, precision=Precision("float32", DynamicLossScale()))
    scaled.train(toy_dataset(64, 4))
    plain = make_trainer(tmp_path / "plain", steps=3, k=1)
    plain.train(toy_dataset(64, 8))
    assert scaled.step == plain.step == 3
    for a, b in zip(weights(scaled), weights(plain)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_an_overflow_in_one_micro_batch_skips_the_whole_accumulated_update(tmp_path):
    precision = Precision("float32", DynamicLossScale())
    trainer = make_trainer(tmp_path, k=2, precision=precision)
    trainer.prepare(toy_dataset(64, 4))
    good = next(iter(toy_dataset(64, 4)))
    bad = dict(good, y=tf.tensor_scatter_nd_update(good["y"], [[0]], [np.inf]))
    trainer.run_update([good, good])
    assert trainer.step == 1
    before = weights(trainer)
    trainer.run_update([good, bad])
    assert trainer.step == 1
    for a, b in zip(before, weights(trainer)):
        np.testing.assert_array_equal(a, b)
    trainer.run_update([good, good])
    assert trainer.step == 2
    # The skipped update left nothing behind in the accumulators: same weights as a run that never overflowed.
    clean = make_trainer(tmp_path / "clean", k=2, precision=Precision("float32", DynamicLossScale()))
    clean.prepare(toy_dataset(64, 4))
    clean.run_update([good, good])
    clean.run_update([good, good])
    for a, b in zip(weights(clean), weights(trainer)):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("report_loss", [True, False])
def test_report_loss_decides_whether_the_progress_line_shows_the_loss(tmp_path, monkeypatch, report_loss):
    from training import logging_utils

    lines = []

    class Recorder:  # stands in for absl.logging in the progress logger (log handlers vary between tests)
        @staticmethod
        def info(message, *args):
            lines.append(message % args if args else message)

    monkeypatch.setattr(logging_utils, "logging", Recorder)
    trainer = make_trainer(tmp_path, steps=2, report_loss=report_loss)
    trainer.train(toy_dataset(64, 8))
    lines = [line for line in lines if "sequences/s" in line]
    assert len(lines) == 2  # log_every=1
    assert all(("total_loss = " in line) == report_loss for line in lines)
    assert all("learning_rate = " in line for line in lines)
