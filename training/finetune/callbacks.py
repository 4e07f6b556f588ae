"""Loop callbacks of fine-tuning: keep the best checkpoint by the dev metric; record the loss."""
import os
from typing import Callable, Optional

from absl import logging

from fileio.atomic import write_json
from training.checkpointing import save_best_weights
from training.loop import Callback

BEST_RESULTS = "best_eval_results.txt"
LOSS_HISTORY = "loss_history.json"


class KeepBestCheckpoint(Callback):
    """At every checkpoint: evaluate on dev and, when the main metric improves, copy the model's
    weights to output_dir/best (written under a temporary name, then renamed)."""

    def __init__(self, evaluate: Callable, main_metric: str, output_dir: str):
        self.evaluate = evaluate
        self.main_metric = main_metric
        self.output_dir = output_dir
        self.best_value: Optional[float] = None
        self.best_step: Optional[int] = None

    def on_checkpoint(self, step, trainer):
        results = self.evaluate(trainer.model)
        value = float(results[self.main_metric])
        logging.info("step %d: dev %s = %.6f (best so far: %s)", step, self.main_metric, value, self.best_value)
        if self.best_value is not None and value <= self.best_value:
            return
        self.best_value, self.best_step = value, step
        if trainer.is_chief:
            save_best_weights(trainer.model, self.output_dir)
            write_json(os.path.join(self.output_dir, BEST_RESULTS),
                       {"step": step, self.main_metric: value, "results": results})


class LossHistory(Callback):
    """Every logged training loss, written to output_dir/loss_history.json at the end."""

    def __init__(self, output_dir: str):
        self.output_dir = output_dir
        self.losses = {}

    def on_log(self, step, scalars, trainer):
        self.losses[str(step)] = scalars["total_loss"]

    def on_train_end(self, trainer):
        if trainer.is_chief:
            write_json(os.path.join(self.output_dir, LOSS_HISTORY), self.losses)
