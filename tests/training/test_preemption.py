"""training/preemption.py through the loop: SIGTERM or SIGINT finishes the update, saves, raises Preempted,
and the resumed run ends with the weights of an uninterrupted one."""
import os
import signal

import numpy as np
import pytest

from tests.training.test_loop import make_trainer, weights
from tests.training.toy import toy_dataset
from training.loop import Callback
from training.preemption import Preempted, PreemptionWatch


def data(consumed):
    return toy_dataset(64, 8).skip(consumed)  # a resumed run continues the stream where it stopped


class SignalAt(Callback):
    """Sends `signum` to this process when step `step` is logged (as a scheduler would, mid-run)."""

    def __init__(self, step, signum):
        self.step, self.signum = step, signum

    def on_log(self, step, scalars, trainer):
        if step == self.step:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_saves_stops_and_the_resumed_run_ends_like_an_uninterrupted_one(tmp_path, signum):
    full = make_trainer(tmp_path / "full", steps=8, save_every=100)
    full.train(data)
    stopped = make_trainer(tmp_path / "stopped", steps=8, save_every=100, callbacks=[SignalAt(3, signum)])
    name = signal.Signals(signum).name
    with pytest.raises(Preempted, match=rf"preempted by {name} at step 3 of 8; .*ckpt-3 holds the run"):
        stopped.train(data)
    assert stopped.step == 3, "the update under way is finished, no further one is started"
    assert sorted(p.name for p in (tmp_path / "stopped").glob("ckpt-*.index")) == ["ckpt-3.index"]
    resumed = make_trainer(tmp_path / "stopped", steps=8, save_every=100)
    result = resumed.train(data)
    assert result.resumed_from.endswith("ckpt-3") and result.step == 8
    for a, b in zip(weights(full), weights(resumed)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_a_signal_on_a_save_step_does_not_save_twice(tmp_path):
    stopped = make_trainer(tmp_path, steps=8, save_every=2, callbacks=[SignalAt(4, signal.SIGTERM)])
    with pytest.raises(Preempted, match=r"at step 4 of 8; .*ckpt-4 holds"):
        stopped.train(toy_dataset(64, 8))
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.index")) == ["ckpt-2.index", "ckpt-4.index"]


def test_the_checkpoint_saved_at_a_signal_is_not_a_scheduled_one_for_callbacks(tmp_path):
    """Fine-tuning evaluates and keeps best/ in on_checkpoint: at the signal's checkpoint it would do
    so at a step the uninterrupted run never evaluates, and spend the grace period on it."""
    seen = []

    class Record(Callback):
        def on_checkpoint(self, step, trainer):
            seen.append(step)

    stopped = make_trainer(tmp_path, steps=8, save_every=2, callbacks=[Record(), SignalAt(3, signal.SIGTERM)])
    with pytest.raises(Preempted, match=r"at step 3 of 8; .*ckpt-3 holds"):
        stopped.train(toy_dataset(64, 8))
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.index")) == ["ckpt-2.index", "ckpt-3.index"]
    assert seen == [2]


def test_the_watch_restores_the_handlers_and_a_second_signal_acts_at_once():
    before = signal.getsignal(signal.SIGINT)
    with PreemptionWatch() as watch:
        os.kill(os.getpid(), signal.SIGINT)
        assert watch.signal_name == "SIGINT"
        with pytest.raises(KeyboardInterrupt):  # the previous handler (Python's default for SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
