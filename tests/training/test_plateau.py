"""training/plateau.py: a run stalled at the unigram plateau past warmup is told apart from one that
learns, from its logged metrics, and warned about once."""
import math

from absl import logging

from training.plateau import PlateauGuard, stall_warning


def history(steps, mlm, accuracy, nsp):
    """Logged (step, scalars) pairs; each metric a function of the step."""
    return [(step, {"mlm_loss": mlm(step), "masked_lm_accuracy": accuracy(step), "nsp_loss": nsp(step),
                    "total_loss": mlm(step) + nsp(step)}) for step in steps]


# The stalled LAMB run of docs/pretraining.md: masked-LM about 6.8 with a 4-5% accuracy, NSP near ln 2,
# a little noise on each log.
def stalled(steps):
    return history(steps, lambda s: 6.8 + 0.02 * math.sin(s), lambda s: 0.045 + 0.002 * math.cos(s),
                   lambda s: 0.69 + 0.005 * math.sin(3 * s))


# The Adam recipe: both losses keep falling past warmup.
def learning(steps):
    return history(steps, lambda s: 7.0 - s / 1000, lambda s: 0.04 + s / 20000, lambda s: 0.69 - s / 10000)


LOGS = range(100, 2001, 100)


def test_a_run_flat_at_the_plateau_past_warmup_is_stalled():
    message = stall_warning(stalled(LOGS), num_warmup_steps=200)
    assert message is not None
    assert "unigram plateau" in message and "--optimizer=adam" in message and "docs/pretraining.md" in message
    assert "1700-2000" in message  # the window it judged


def test_a_learning_run_is_not_stalled():
    assert stall_warning(learning(LOGS), num_warmup_steps=200) is None


def test_a_flat_masked_lm_with_next_sentence_learnt_is_not_this_stall():
    points = history(LOGS, lambda s: 6.8, lambda s: 0.045, lambda s: 0.55)
    assert stall_warning(points, num_warmup_steps=200) is None


def test_a_rising_accuracy_is_not_a_plateau():
    points = history(LOGS, lambda s: 6.8, lambda s: 0.04 + s / 20000, lambda s: 0.69)
    assert stall_warning(points, num_warmup_steps=200) is None


def test_nothing_is_judged_before_a_whole_window_past_warmup():
    assert stall_warning(stalled(range(100, 1001, 100)), num_warmup_steps=800) is None  # window starts in warmup
    assert stall_warning(stalled(range(100, 1101, 100)), num_warmup_steps=800) is not None
    assert stall_warning(stalled(range(1000, 1201, 100)), num_warmup_steps=0) is None  # history shorter than a window
    assert stall_warning([], num_warmup_steps=0) is None


def guard_warnings(monkeypatch, points):
    """The warnings a PlateauGuard logs over `points`, and the guard."""
    warnings = []
    monkeypatch.setattr(logging, "warning", lambda fmt, *args: warnings.append(fmt % args))
    guard = PlateauGuard(num_warmup_steps=200)
    for step, scalars in points:
        guard.on_log(step, scalars, trainer=None)
    return warnings, guard


def test_the_guard_warns_once_on_log_steps(monkeypatch):
    warnings, guard = guard_warnings(monkeypatch, stalled(range(100, 3001, 100)))
    assert len(warnings) == 1 and "unigram plateau" in warnings[0]
    assert len(guard.history) <= 5  # only the last window is kept


def test_the_guard_stays_quiet_on_a_learning_run(monkeypatch):
    warnings, _ = guard_warnings(monkeypatch, learning(range(100, 3001, 100)))
    assert warnings == []
