"""Stopping a run whose numbers went bad: a non-finite loss or update (fp32, bf16), or too many
updates in a row skipped for overflow under fp16's loss scaling; and never saving non-finite weights.

The step outputs are kept as tensors and read only when the loop checks (on log steps and before
every checkpoint), so watching them costs no host round trip per update.
"""
import math
from typing import Callable, List, Optional

import tensorflow as tf

# Under fp16 a skipped update is normal (the loss scale then falls); this many in a row means the
# loss scale cannot get the gradients finite any more: the run has diverged. Skips before the first
# update of a run are not counted: the original's loss scale starts at 2^32 and takes about 30
# skipped updates to fall to a workable value.
MAX_SKIPPED_IN_A_ROW = 20


class NonFiniteLossError(RuntimeError):
    pass


class NumbersGuard:
    """Keeps each update's loss and gradient finiteness until the next `check`."""

    def __init__(self, loss_scaled: bool, max_skipped: int = MAX_SKIPPED_IN_A_ROW):
        self.loss_scaled = loss_scaled
        self.max_skipped = max_skipped
        self.skipped_in_a_row = 0
        self._pending: List[tuple] = []

    def record(self, losses, finite, loss_scale) -> None:
        """One update's micro-batch losses, whether its averaged gradients were finite, and the loss scale."""
        self._pending.append((losses, finite, loss_scale))

    def check(self, step: int, to_float: Callable, last_checkpoint: Optional[str]) -> None:
        """Raises NonFiniteLossError for the first bad update since the last check; `step` is the
        number of updates applied now, `to_float` the engine's local_mean."""
        pending, self._pending = self._pending, []
        values = [(sum(to_float(x) for x in losses) / len(losses), to_float(finite) > 0.5, scale)
                  for losses, finite, scale in pending]
        # the update counter does not count a skipped update (fp16); unscaled runs apply every one
        applied = [finite or not self.loss_scaled for _, finite, _ in values]
        for index, (loss, finite, scale) in enumerate(values):
            at_step = step - sum(applied[index + 1:])
            last = last_checkpoint or "none (no checkpoint was saved yet)"
            if self.loss_scaled:
                self.skipped_in_a_row = 0 if finite or at_step == 0 else self.skipped_in_a_row + 1
                if self.skipped_in_a_row >= self.max_skipped:
                    raise NonFiniteLossError(
                        f"{self.skipped_in_a_row} updates in a row were skipped for non-finite gradients at "
                        f"step {at_step} (loss {loss}, loss scale now {to_float(scale):g}): the run diverged; "
                        f"last good checkpoint: {last}")
            elif not math.isfinite(loss):
                raise NonFiniteLossError(f"the loss became {loss} at step {at_step}; last good checkpoint: {last}")
            elif not finite:
                raise NonFiniteLossError(f"the gradients became non-finite at step {at_step} (the loss was "
                                         f"{loss:.6g}); last good checkpoint: {last}")


def weights_are_finite(variables) -> bool:
    """Whether every floating-point variable holds finite numbers only (read before a checkpoint is written)."""
    checks = [tf.reduce_all(tf.math.is_finite(v)) for v in variables if v.dtype.is_floating]
    return bool(tf.reduce_all(tf.stack(checks))) if checks else True
