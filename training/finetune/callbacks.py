"""Loop callbacks of fine-tuning: keep the best checkpoint by the dev metric; record the loss."""
import json
import os
from typing import Callable, Optional

from absl import logging

from fileio.atomic import write_json
from training.checkpointing import BEST_DIR, save_best_weights
from training.loop import Callback

BEST_RESULTS = "best_eval_results.txt"
LOSS_HISTORY = "loss_history.json"


class KeepBestCheckpoint(Callback):
    """At every checkpoint: evaluate on dev and, when the main metric improves, copy the model's
    weights to output_dir/best (written under a temporary name, then renamed).

    The chief alone evaluates, outside every collective; the other processes go on to the next
    update, whose gradient allreduce waits for the chief.
    """

    def __init__(self, evaluate: Callable, main_metric: str, output_dir: str):
        self.evaluate = evaluate
        self.main_metric = main_metric
        self.output_dir = output_dir
        self.best_value: Optional[float] = None
        self.best_step: Optional[int] = None

    def on_train_begin(self, trainer):
        """A resumed run starts from the best that output_dir records, so that an evaluation worse
        than one before the interruption does not replace best/ (a new run starts from none)."""
        self.best_value, self.best_step = None, None
        if trainer.resumed_from:
            self.best_value, self.best_step = read_best(self.output_dir, self.main_metric)
            if self.best_value is not None:
                logging.info("resumed run: best dev %s so far %.6f at step %d", self.main_metric,
                             self.best_value, self.best_step)

    def on_checkpoint(self, step, trainer):
        if not trainer.is_chief:
            return
        results = self.evaluate(trainer.model)
        value = float(results[self.main_metric])
        logging.info("step %d: dev %s = %.6f (best so far: %s)", step, self.main_metric, value, self.best_value)
        if self.best_value is not None and value <= self.best_value:
            return
        self.best_value, self.best_step = value, step
        save_best_weights(trainer.model, self.output_dir)
        write_json(os.path.join(self.output_dir, BEST_RESULTS),
                   {"step": step, self.main_metric: value, "results": results})


def read_best(output_dir: str, main_metric: str) -> tuple:
    """(value, step) of the best evaluation recorded in output_dir, or (None, None) when there is
    none (or it records another metric, or best/ itself is absent)."""
    path = os.path.join(output_dir, BEST_RESULTS)
    if not (os.path.isfile(path) and os.path.isdir(os.path.join(output_dir, BEST_DIR))):
        return None, None
    try:
        with open(path, encoding="utf-8") as handle:
            recorded = json.load(handle)
        return float(recorded[main_metric]), int(recorded["step"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        logging.warning("%s: unreadable (%s); the next evaluation replaces best/", path, error)
        return None, None


class LossHistory(Callback):
    """Every logged training loss, in output_dir/loss_history.json.

    Rewritten at every log step rather than once at the end, so that a preempted or killed run
    leaves the losses it logged; a resumed run keeps those up to the step it resumes from (later
    ones were logged after that checkpoint and are logged again).
    """

    def __init__(self, output_dir: str):
        self.path = os.path.join(output_dir, LOSS_HISTORY)
        self.losses = {}

    def on_train_begin(self, trainer):
        if trainer.resumed_from and os.path.isfile(self.path):
            with open(self.path, encoding="utf-8") as f:
                earlier = json.load(f)
            self.losses = {step: loss for step, loss in earlier.items() if int(step) <= trainer.step}

    def on_log(self, step, scalars, trainer):
        self.losses[str(step)] = scalars["total_loss"]
        self._write(trainer)

    def on_train_end(self, trainer):
        self._write(trainer)

    def _write(self, trainer):
        if trainer.is_chief:
            write_json(self.path, self.losses)
