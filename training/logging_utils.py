"""Progress lines and TensorBoard scalars, written by the chief process only."""
import time
from typing import Dict, Optional

import tensorflow as tf
from absl import logging


def format_progress(step: int, sequences_per_second: float, scalars: Dict[str, float]) -> str:
    """The original's _LogSessionRunHook line, one field per scalar."""
    fields = [f"step = {step:6d}", f"sequences/s = {sequences_per_second:9.2f}"]
    fields += [f"{name} = {value:.6g}" for name, value in scalars.items()]
    return "  ".join(fields)


class ProgressLogger:
    """Logs every `every` updates: throughput over the interval plus the given scalars."""

    def __init__(self, every: int, sequences_per_update: int, summary_dir: Optional[str], enabled: bool,
                 report_loss: bool = True):
        self.every = max(1, int(every))
        self.report_loss = report_loss
        self.sequences_per_update = sequences_per_update
        self.enabled = enabled
        self.writer = tf.summary.create_file_writer(summary_dir) if (enabled and summary_dir) else None
        self._start_time = time.perf_counter()
        self._start_step = None
        self.last_line = None

    def start(self, step: int) -> None:
        self._start_time = time.perf_counter()
        self._start_step = step

    def due(self, step: int) -> bool:
        """Whether maybe_log(step, ...) logs, decided alike on every process (by the step alone)."""
        return step % self.every == 0 and step != self._start_step

    def maybe_log(self, step: int, scalars: Dict[str, float], force: bool = False) -> Optional[str]:
        if self._start_step is None:
            self.start(step - 1)
        if not (force or self.due(step)) or step == self._start_step:
            return None
        now = time.perf_counter()
        throughput = (step - self._start_step) * self.sequences_per_update / max(now - self._start_time, 1e-9)
        self._start_time, self._start_step = now, step
        if not self.enabled:
            return None
        shown = scalars if self.report_loss else {k: v for k, v in scalars.items() if not k.endswith("loss")}
        line = format_progress(step, throughput, shown)
        logging.info(line)
        self.last_line = line
        if self.writer is not None:
            with self.writer.as_default(step=step):
                tf.summary.scalar("sequences_per_second", throughput)
                for name, value in scalars.items():
                    tf.summary.scalar(name, value)
            self.writer.flush()
        return line
