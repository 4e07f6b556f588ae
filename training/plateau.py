"""Spotting a pretraining run stalled at the unigram plateau from its logged metrics, and warning once.

The mode docs/pretraining.md describes: at small batches LAMB (the original's default) leaves the
masked-LM loss flat at what predicting token frequencies alone gives, with a flat accuracy, and the
next-sentence loss near chance (ln 2). The encoder's output then stops depending on the input and
fine-tuning from it does worse than from random weights. Past warmup, a window of updates with all
three flat says so while the run can still be stopped.
"""
import dataclasses
import math
from typing import Dict, List, Optional, Sequence, Tuple

from absl import logging

from training.loop import Callback

PLATEAU_UPDATES = 300  # how long the metrics must stay flat, past warmup, before the run counts as stalled
NSP_CHANCE_MARGIN = 0.05  # a next-sentence loss above ln 2 - this is at chance (Adam reaches 0.53-0.56)
MLM_FLAT_FRACTION = 0.02  # the masked-LM loss fell by less than this share across the window
ACCURACY_FLAT = 0.01  # the masked-LM accuracy rose by less than this across the window

LoggedMetrics = Tuple[int, Dict[str, float]]  # (update, the scalars logged at it)


def stall_warning(history: Sequence[LoggedMetrics], num_warmup_steps: int,
                  window: int = PLATEAU_UPDATES) -> Optional[str]:
    """A message when the last `window` updates of `history` (logged (step, scalars) pairs with
    mlm_loss, nsp_loss and masked_lm_accuracy, in step order) all lie past warmup and show the
    masked-LM loss and accuracy flat and the next-sentence loss at chance; else None."""
    if not history:
        return None
    latest = history[-1][0]
    start = latest - window
    if start < num_warmup_steps:
        return None
    before = [i for i, (step, _) in enumerate(history) if step <= start]
    if not before:
        return None  # the history does not reach back a whole window (e.g. just resumed)
    recent = [scalars for _, scalars in history[before[-1]:]]
    if len(recent) < 4:
        return None  # too few points to tell flat from noisy
    half = len(recent) // 2

    def mean(name: str, points: List[Dict[str, float]]) -> float:
        return sum(point[name] for point in points) / len(points)

    mlm_first, mlm_last = mean("mlm_loss", recent[:half]), mean("mlm_loss", recent[half:])
    accuracy_first, accuracy_last = (mean("masked_lm_accuracy", recent[:half]),
                                     mean("masked_lm_accuracy", recent[half:]))
    nsp = mean("nsp_loss", recent)
    if not (mlm_first - mlm_last < MLM_FLAT_FRACTION * mlm_first and accuracy_last - accuracy_first < ACCURACY_FLAT
            and nsp > math.log(2) - NSP_CHANCE_MARGIN):
        return None
    return (f"pretraining looks stalled at the unigram plateau: over updates {history[before[-1]][0]}-{latest} "
            f"(past the {num_warmup_steps} warmup updates) the masked-LM loss stayed at {mlm_last:.3g} "
            f"(accuracy {accuracy_last:.3g}) and the next-sentence loss at {nsp:.3g}, chance being "
            f"ln 2 = 0.693. This is what LAMB does at small global batches (steps too large for the batch; it "
            f"was made for batches of thousands): the encoder stops depending on its input and fine-tuning "
            f"from it does worse than from random weights. The recipe that works at small batches is "
            f"--optimizer=adam --learning_rate=1e-3 with 10% warmup (make pretrain-finetune); see "
            f"docs/pretraining.md.")


@dataclasses.dataclass
class PlateauGuard(Callback):
    """Keeps the logged metrics of the last window and logs stall_warning's message once."""
    num_warmup_steps: int
    window: int = PLATEAU_UPDATES
    history: List[LoggedMetrics] = dataclasses.field(default_factory=list)
    warned: bool = False

    def on_log(self, step, scalars, trainer) -> None:
        if self.warned or not {"mlm_loss", "nsp_loss", "masked_lm_accuracy"} <= set(scalars):
            return
        self.history.append((step, dict(scalars)))
        # Only the point at or just before the window's start and those after it are ever read.
        keep_from = max([i for i, (logged, _) in enumerate(self.history) if logged <= step - self.window] or [0])
        del self.history[:keep_from]
        message = stall_warning(self.history, self.num_warmup_steps, self.window)
        if message is not None:
            logging.warning("%s", message)
            self.warned = True
