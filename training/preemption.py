"""Stopping a training run cleanly when a scheduler preempts it (SIGTERM) or a person presses Ctrl-C (SIGINT).

While the loop trains, either signal is only noted. The loop finishes the update under way, saves a
checkpoint (the chief; the other processes wait for it), logs where it stopped and raises `Preempted`,
which the scripts turn into exit status PREEMPTED_EXIT_CODE; the next start resumes from that checkpoint.
A second signal stops the process at once, as it would without the watch.
"""
import os
import signal
import threading
from typing import Optional

# EX_TEMPFAIL of sysexits.h, "a temporary failure; the user is invited to retry": the run stopped
# early but saved what it had done, and the same command resumes it. Apart from 1 (an error) and
# from 143 (128 + SIGTERM: killed before it could save).
PREEMPTED_EXIT_CODE = 75

WATCHED_SIGNALS = (signal.SIGTERM, signal.SIGINT)

# How often (in updates) several processes agree on whether one of them was signalled: each
# agreement is an allreduce the host waits for, which a check before every update would add to
# every update (training/loop.py).
PREEMPTION_POLL_EVERY = 10


class Preempted(Exception):
    """The run stopped at a signal after saving a checkpoint the next start resumes from."""


class PreemptionWatch:
    """Context manager noting SIGTERM and SIGINT instead of dying at once; `signal_name` is the
    first signal's name, or None. Outside the main thread (where Python cannot catch signals) it
    watches nothing."""

    def __init__(self):
        self.signal_name: Optional[str] = None
        self._previous = {}

    def __enter__(self) -> "PreemptionWatch":
        if threading.current_thread() is threading.main_thread():
            for number in WATCHED_SIGNALS:
                self._previous[number] = signal.signal(number, self._note)
        return self

    def __exit__(self, *exc_info) -> None:
        self._restore()

    def _restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def _note(self, number, frame) -> None:
        if self.signal_name is None:
            self.signal_name = signal.Signals(number).name
            return
        # A second signal: whoever sent it wants the process gone now.
        previous = self._previous.get(number, signal.SIG_DFL)
        self._restore()
        if callable(previous):
            previous(number, frame)
        else:
            os.kill(os.getpid(), number)
