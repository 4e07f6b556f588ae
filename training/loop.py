"""The one custom training loop shared by pretraining and every fine-tuning task.

Per update: k micro-batches (gradient accumulation) -> average over replicas (one allreduce)
-> unscale (fp16) -> global-norm clipping -> optimizer update, skipped on overflow under fp16.
(An engine that sends gradients in float16 gets them unscaled before the allreduce instead.)
The step runs as one `tf.function` with the dataset's input signature (its sequence length left
open when batches are padded per batch, so one trace serves every length), optionally with
its gradient part XLA-compiled (the optimizer XLA-compiles each variable's update itself).
Replicas, their allreduce and the update of every variable copy are the distribution engine's
(training/distribution/): the same step runs on every engine.
"""
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Tuple, Union

import tensorflow as tf
from absl import logging

from compat.keras import keras
from modeling import finish_metrics
from optimization import clip_factor, dense_gradient

from training.checkpointing import CheckpointKeeper, ensure_writable_dir
from training.distribution import DistributedError, Engine
from training.distribution.single import SingleDevice
from training.logging_utils import ProgressLogger
from training.numerics import NonFiniteLossError, NumbersGuard, weights_are_finite
from training.precision import Precision
from training.preemption import PREEMPTION_POLL_EVERY, Preempted, PreemptionWatch

LossFn = Callable[[keras.Model, Dict[str, tf.Tensor], bool], Tuple[tf.Tensor, Dict[str, tf.Tensor]]]
# metric_fn(model, features) -> {name: (weighted sum, total weight)} for one batch.
MetricFn = Callable[[keras.Model, Dict[str, tf.Tensor]], Dict[str, Tuple[tf.Tensor, tf.Tensor]]]
# A dataset, or a function of the number of batches already consumed (so that a resumed
# deterministic run continues exactly where the checkpoint was taken).
DataSource = Union[tf.data.Dataset, Callable[[int], tf.data.Dataset]]


def _readable(message: str) -> str:
    """A tf.debugging assertion raised inside tf.data: keep its text and the offending value only."""
    match = re.search(r"assertion failed: \[(.*?)\] \[Condition.*?\[x \(.*?\) = \] \[(.*?)\]", message, re.S)
    if match:
        return f"{match.group(1)} {match.group(2)}"
    match = re.search(r"assertion failed: \[(.*?)\]\s*$", message.splitlines()[0] if message else "")
    if match:  # tf.debugging.Assert with one message tensor (e.g. a record of the wrong length)
        return match.group(1)
    return message.splitlines()[0] if message else message


class InputDataError(ValueError):
    pass


class Callback:
    """Hooks into the loop; every process calls them (write files only when trainer.is_chief)."""

    def on_train_begin(self, trainer: "Trainer") -> None:
        pass

    def on_log(self, step: int, scalars: Dict[str, float], trainer: "Trainer") -> None:
        pass

    def on_checkpoint(self, step: int, trainer: "Trainer") -> None:
        """After each scheduled checkpoint (every save_checkpoints_steps and the last step); not
        after the one saved when the run is preempted."""

    def on_train_end(self, trainer: "Trainer") -> None:
        pass


@dataclass
class LoopSettings:
    output_dir: str
    num_train_steps: int
    save_checkpoints_steps: int = 1000
    keep_checkpoint_max: int = 5
    log_every: int = 100
    num_accumulation_steps: int = 1
    clip_norm: float = 1.0
    jit_compile: bool = False
    report_loss: bool = True  # show the losses in the progress line
    resume_from_previous_on_error: bool = False  # a damaged latest checkpoint: resume from the newest intact one
    # Seeded after the chief's weights are broadcast, with seed + rank: dropout differs per process.
    seed: Optional[int] = None

    def __post_init__(self):
        for name in ("num_train_steps", "save_checkpoints_steps", "keep_checkpoint_max", "log_every",
                     "num_accumulation_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass
class TrainResult:
    step: int
    last_checkpoint: Optional[str]
    resumed_from: Optional[str]
    last_scalars: Dict[str, float] = field(default_factory=dict)


class Trainer:
    def __init__(self, model: keras.Model, loss_fn: LossFn, optimizer, settings: LoopSettings,
                 precision: Optional[Precision] = None, distributed: Optional[Engine] = None,
                 callbacks: Iterable[Callback] = ()):
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.settings = settings
        self.precision = precision or Precision()
        self.distributed = distributed or SingleDevice()
        self.callbacks = list(callbacks)
        self.accumulators: List[tf.Variable] = []
        self.keeper: Optional[CheckpointKeeper] = None
        self.last_checkpoint: Optional[str] = None
        self.resumed_from: Optional[str] = None
        self._batch_size = 0
        self._variables: List[tf.Variable] = []
        self._train_step = None
        self._accumulate_step = None
        self._eval_steps: Dict[MetricFn, Callable] = {}
        self.numbers = NumbersGuard(loss_scaled=self.loss_scale is not None)
        if self.is_chief:
            ensure_writable_dir(settings.output_dir)

    # -- state ----------------------------------------------------------------------------
    @property
    def is_chief(self) -> bool:
        return self.distributed.is_chief

    @property
    def step(self) -> int:
        """Number of updates applied so far."""
        return int(self.optimizer.iterations.numpy())

    @property
    def loss_scale(self):
        return self.precision.loss_scale

    def build(self, features: Dict[str, tf.Tensor]) -> None:
        """Creates model variables (from one batch if needed), optimizer slots, accumulators, checkpoint."""
        if self.keeper is not None:
            return
        with self.distributed.scope():
            self._build_variables(features)
        objects = {"model": self.model, "optimizer": self.optimizer}
        if self.loss_scale is not None:
            objects["loss_scale"] = self.loss_scale
        if self.accumulators:
            objects["accumulators"] = self.accumulators
        checkpoint = tf.train.Checkpoint(**objects)
        self.keeper = CheckpointKeeper(checkpoint, self.settings.output_dir,
                                       self.settings.keep_checkpoint_max, self.is_chief)

    def _build_variables(self, features) -> None:
        if not self.model.trainable_variables:
            self.loss_fn(self.model, features, False)
        self._variables = list(self.model.trainable_variables)
        if self.distributed.mirrors_variables and getattr(self.optimizer, "fuse_updates", False):
            self.optimizer.fuse_updates = False  # see Engine.mirrors_variables: the same numbers, unfused
        self.optimizer.build(self._variables)
        if self.settings.num_accumulation_steps > 1:
            with tf.init_scope():
                # Each replica sums its own gradients (ON_READ: one copy per replica). They are zero
                # whenever a checkpoint is written, so saving reads the first replica's copy
                # (ONLY_FIRST_REPLICA) rather than summing over processes the chief alone would wait for.
                self.accumulators = [
                    tf.Variable(tf.zeros(v.shape, tf.float32), trainable=False, name=f"accumulator_{i}",
                                synchronization=tf.VariableSynchronization.ON_READ,
                                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
                    for i, v in enumerate(self._variables)]

    def state_variables(self) -> List[tf.Variable]:
        """Everything rank 0 broadcasts so that every process starts identical."""
        state = list(self.model.variables) + self.optimizer.slot_variables() + list(self.accumulators)
        if self.loss_scale is not None:
            state += self.loss_scale.variables_to_sync()
        return state

    # -- the compiled step ----------------------------------------------------------------
    def _compute_gradients(self, features):
        with tf.GradientTape() as tape:
            loss, metrics = self.loss_fn(self.model, features, True)
            loss = tf.cast(loss, tf.float32)
            scaled = loss * self.loss_scale.scale if self.loss_scale is not None else loss
        grads = tape.gradient(scaled, self._variables)
        # None (a variable the loss does not reach) stays None: the original skips such variables.
        grads = [None if g is None else tf.cast(dense_gradient(g), tf.float32) for g in grads]
        metrics = {name: tf.cast(value, tf.float32) for name, value in metrics.items()}
        return loss, metrics, grads

    def _apply(self, grads, divisor: float = 1.0, unscaled: bool = False):
        """Unscale (loss scale, and `divisor` for sums over micro-batches), clip and apply, in one pass.

        The gradients are multiplied by one scalar inside the optimizer's per-variable update, so
        no unscaled or clipped copy of all gradients is ever materialised. `unscaled`: the loss
        scale was already divided out (see `_unscale_before_compression`).
        """
        pairs = [(g, v) for g, v in zip(grads, self._variables) if g is not None]
        grads = [g for g, _ in pairs]
        prescale = None
        if self.loss_scale is not None and not unscaled:
            prescale = 1.0 / (self.loss_scale.scale * divisor)
        elif divisor != 1.0:
            prescale = tf.constant(1.0 / divisor, tf.float32)
        factor, finite = clip_factor(grads, self.settings.clip_norm, prescale=prescale)
        if self.loss_scale is None:
            lr = self.optimizer.apply_gradients(pairs, grad_scale=factor)
        else:
            # An overflowing step changes no weight, no slot and no step counter.
            lr = tf.cond(finite, lambda: self.optimizer.apply_gradients(pairs, grad_scale=factor),
                         lambda: self.optimizer.current_learning_rate())
            self.loss_scale.update(finite)
        return lr, finite

    def _unscale_before_compression(self, grads, k: int):
        """(gradients for the allreduce, whether they are unscaled already).

        An engine that casts gradients to float16 for its allreduce gets them divided by the loss
        scale and by the k micro-batches they sum first: a loss-scaled sum would overflow 65504
        even where the average fits float16. Other engines get them untouched (unscaled later, by
        the clipping factor, with no extra pass over the gradients).
        """
        if not self.distributed.compresses_gradients:
            return grads, False
        factor = 1.0 / float(k) if self.loss_scale is None else 1.0 / (self.loss_scale.scale * float(k))
        return [None if g is None else g * factor for g in grads], True

    def _make_steps(self, element_spec):
        # Only the forward and backward pass is XLA-compiled. The update is left out on purpose:
        # the optimizer already runs each variable's update as its own small XLA cluster, and
        # compiling all ~200 of them as one cluster took about 340 s on 2 cores (against about
        # 40 s for the gradient part) without making the step faster.
        jit = self.settings.jit_compile
        compute = tf.function(self._compute_gradients, jit_compile=True) if jit else self._compute_gradients
        apply = self._apply
        k = self.settings.num_accumulation_steps

        def finish(loss, metrics, grads):
            if self.accumulators:
                # the 1/k of the average is applied with the clipping factor, not as a copy
                total = [None if g is None else a + g for a, g in zip(self.accumulators, grads)]
                with tf.control_dependencies([t for t in total if t is not None]):
                    for a in self.accumulators:
                        a.assign(tf.zeros_like(a))
                grads = total
            grads, unscaled = self._unscale_before_compression(grads, k)
            present = [i for i, g in enumerate(grads) if g is not None]
            reduced = self.distributed.allreduce_gradients([grads[i] for i in present])
            grads = list(grads)
            for i, g in zip(present, reduced):
                grads[i] = g
            lr, finite = self.distributed.apply_update(
                lambda averaged: apply(averaged, 1.0 if unscaled else float(k), unscaled), grads)
            scale = self.loss_scale.scale if self.loss_scale is not None else tf.constant(1.0)
            return {"loss": loss, "metrics": metrics, "learning_rate": lr, "finite": finite,
                    "loss_scale": tf.identity(scale)}

        def train_replica(features):
            loss, metrics, grads = compute(features)
            return finish(loss, metrics, grads)

        def accumulate_replica(features):
            loss, metrics, grads = compute(features)
            for a, g in zip(self.accumulators, grads):
                if g is not None:
                    a.assign_add(g)
            return {"loss": loss, "metrics": metrics}

        @tf.function(input_signature=[element_spec])
        def train_step(features):
            return self.distributed.run(train_replica, features)

        @tf.function(input_signature=[element_spec])
        def accumulate_step(features):
            return self.distributed.run(accumulate_replica, features)

        self._train_step = train_step
        self._accumulate_step = accumulate_step if self.accumulators else None

    # -- training -------------------------------------------------------------------------
    def _next_batch(self, iterator):
        try:
            return next(iterator)
        except StopIteration:
            raise InputDataError(f"the training data ran out at step {self.step}: the dataset must repeat "
                                 f"for {self.settings.num_train_steps} steps") from None
        except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as error:
            raise InputDataError(f"bad training data at step {self.step}: {_readable(error.message)}") from None

    def _run_step(self, step_fn, features):
        try:
            return step_fn(features)
        except tf.errors.InvalidArgumentError as error:
            if "is not in [0," in error.message:
                raise InputDataError(
                    f"an id in the data at step {self.step} is outside an embedding table (is the config's "
                    f"vocab_size smaller than the vocabulary used to write the data?): "
                    f"{error.message.splitlines()[0]}") from None
            raise
        except tf.errors.OpError as error:
            explained = self.distributed.explain(error)
            if isinstance(explained, DistributedError):
                raise explained from None
            raise

    def prepare(self, data: DataSource) -> tf.data.Dataset:
        """Builds everything, resumes from output_dir's latest checkpoint if any, syncs processes.

        Returns the dataset to train on (positioned after the batches already consumed when
        `data` is a function of that count).
        """
        make_dataset = data if callable(data) else (lambda consumed: data)
        # The dataset is built once, positioned where the latest checkpoint (named by its step)
        # left off, and its first batch builds the variables; only if the restored step says
        # otherwise is it built again.
        per_update = self.settings.num_accumulation_steps * self.distributed.local_replicas
        latest = tf.train.latest_checkpoint(self.settings.output_dir)
        if latest:
            consumed = self._checkpoint_step(latest) * per_update
        else:
            consumed = self.step * per_update if self.keeper is not None else 0
        local = make_dataset(consumed)
        try:
            first = self._next_batch(iter(local.take(1)))
        except InputDataError as error:
            if "ran out" in str(error):
                raise InputDataError("the training dataset is empty") from None
            raise
        self.build(first)
        self.resumed_from = self.keeper.restore_latest(fall_back=self.settings.resume_from_previous_on_error)
        if self.resumed_from:
            logging.info("resuming from %s (step %d)", self.resumed_from, self.step)
            self.last_checkpoint = self.resumed_from
        self.distributed.broadcast_variables(self.state_variables())
        if self.settings.seed is not None and self.distributed.size > 1:
            # Weights stay the chief's; dropout masks now differ per process. One process keeps
            # the seed it was given (no reseeding), so its numbers stay what they were.
            keras.utils.set_random_seed(self.settings.seed + self.distributed.rank)
        if self.step * per_update != consumed:
            consumed = self.step * per_update
            local = make_dataset(consumed)
        dataset = self.distributed.distribute(lambda: local)
        self._make_steps(dataset.element_spec)
        self._batch_size = int(tf.nest.flatten(first)[0].shape[0])
        return dataset

    @staticmethod
    def _checkpoint_step(path: Optional[str]) -> int:
        """The step in a checkpoint's name (CheckpointKeeper numbers them by step), 0 for none."""
        match = re.search(r"-(\d+)$", path or "")
        return int(match.group(1)) if match else 0

    def dispatch_update(self, batches: List[Dict[str, tf.Tensor]]) -> List[Dict[str, object]]:
        """Runs one update from k micro-batches without waiting for it: the outputs stay tensors."""
        if len(batches) != self.settings.num_accumulation_steps:
            raise ValueError(f"expected {self.settings.num_accumulation_steps} micro-batches, got {len(batches)}")
        outputs = [self._run_step(self._accumulate_step, b) for b in batches[:-1]]
        outputs.append(self._run_step(self._train_step, batches[-1]))
        self.numbers.record([o["loss"] for o in outputs], outputs[-1]["finite"], outputs[-1]["loss_scale"])
        return outputs

    def mean_loss(self, outputs: List[Dict[str, object]]) -> float:
        """The update's loss on the host: the mean over its micro-batches (and local replicas)."""
        host = self.distributed.local_mean
        return sum(host(o["loss"]) for o in outputs) / len(outputs)

    def host_scalars(self, outputs: List[Dict[str, object]]) -> Dict[str, float]:
        """The logged scalars of one update as Python floats (fetching them waits for the update)."""
        host = self.distributed.local_mean
        k = len(outputs)
        loss = self.mean_loss(outputs)
        scalars = {name: sum(host(o["metrics"][name]) for o in outputs) / k for name in outputs[-1]["metrics"]}
        scalars.update({"total_loss": loss, "learning_rate": host(outputs[-1]["learning_rate"]),
                        "loss_scale": host(outputs[-1]["loss_scale"])})
        return scalars

    def run_update(self, batches: List[Dict[str, tf.Tensor]]) -> Dict[str, float]:
        """One update from k micro-batches, waited for and checked; returns the logged scalars (loss
        averaged over them)."""
        outputs = self.dispatch_update(batches)
        self.check_numbers()
        return self.host_scalars(outputs)

    def _must_sync(self, step: int) -> bool:
        """Whether the host has to look at the run after reaching `step`: a log, checkpoint or last step."""
        s = self.settings
        return step % s.log_every == 0 or step % s.save_checkpoints_steps == 0 or step >= s.num_train_steps

    def train(self, data: DataSource) -> TrainResult:
        """Trains to num_train_steps, logging and saving on their steps.

        Nothing is fetched from the device between log and checkpoint steps: the step is counted
        on the host, and each update's loss and gradient finiteness are kept as tensors and checked
        when the host next syncs (before any log line or checkpoint; training/numerics.py), naming
        the first bad update. Under fp16 an overflowing update does not count, so the host count is
        an upper bound there and is corrected from the optimizer whenever it reaches a log or
        checkpoint step. SIGTERM / SIGINT from here on: finish the update, save, raise Preempted
        (training/preemption.py).
        """
        with PreemptionWatch() as preemption:
            return self._train(data, preemption)

    def _train(self, data: DataSource, preemption: PreemptionWatch) -> TrainResult:
        dataset = self.prepare(data)
        k = self.settings.num_accumulation_steps
        logger = ProgressLogger(self.settings.log_every, self._batch_size * k * self.distributed.num_replicas,
                                f"{self.settings.output_dir}/train" if self.is_chief else None, self.is_chief,
                                report_loss=self.settings.report_loss)
        for callback in self.callbacks:
            callback.on_train_begin(self)
        iterator = iter(dataset)
        step = self.step  # from here counted on the host (see the docstring)
        logger.start(step)
        scalars: Dict[str, float] = {}
        saved_step = step if self.resumed_from else None
        while step < self.settings.num_train_steps:
            self._stop_if_preempted(preemption, saved_step, step)
            try:
                outputs = self.dispatch_update([self._next_batch(iterator) for _ in range(k)])
            except Exception:
                self.check_numbers()  # a NaN before the failure is reported first
                raise
            step += 1
            if not self._must_sync(step):
                continue
            self.check_numbers()
            if self.loss_scale is not None:
                step = self.step
            if not self._must_sync(step):
                continue
            if step % self.settings.log_every == 0 or step >= self.settings.num_train_steps:
                scalars = self.host_scalars(outputs)
                if logger.due(step):
                    scalars = self.mean_over_processes(scalars)
            if step % self.settings.log_every == 0 and logger.maybe_log(step, scalars) is not None:
                for callback in self.callbacks:
                    callback.on_log(step, scalars, self)
            if (step % self.settings.save_checkpoints_steps == 0 or step >= self.settings.num_train_steps) \
                    and saved_step != step:
                self._save(step)
                saved_step = step
        for callback in self.callbacks:
            callback.on_train_end(self)
        return TrainResult(self.step, self.last_checkpoint, self.resumed_from, scalars)

    def mean_over_processes(self, scalars: Dict[str, float]) -> Dict[str, float]:
        """The scalars (each already the mean over this process's replicas) averaged over every
        process: the loss of the whole update rather than the chief's share of it. One allreduce,
        which every process must make at the same step (the loop makes it on log steps only)."""
        if self.distributed.size == 1:
            return scalars
        names = list(scalars)
        local = tf.constant([float(scalars[name]) for name in names], tf.float64)
        total, = self.distributed.allreduce_sum([local])
        return {name: float(value) / self.distributed.size for name, value in zip(names, total.numpy())}

    def check_numbers(self) -> None:
        """Raises NonFiniteLossError if an update since the last check went bad (training/numerics.py)."""
        self.numbers.check(self.step, self.distributed.local_mean, self.last_checkpoint)

    def _stop_if_preempted(self, preemption: PreemptionWatch, saved_step: Optional[int], dispatched: int) -> None:
        """After a SIGTERM / SIGINT on any process: save (unless this step is saved), log and raise Preempted.

        One process looks at its own flag before every update. Several agree by an allreduce, which
        waits for the update under way, so they look only every PREEMPTION_POLL_EVERY updates
        (`dispatched`, the host's count, is the same on every process); a scheduler's grace period
        (30 s by default under Slurm and Kubernetes) covers that many updates.
        """
        signal_name = preemption.signal_name
        if self.distributed.size > 1:
            if dispatched % PREEMPTION_POLL_EVERY:
                return
            # every process stops after the same update, whichever of them got the signal
            noted = self.distributed.allreduce_sum([tf.constant(0.0 if signal_name is None else 1.0)])[0]
            if float(noted) > 0 and signal_name is None:
                signal_name = "a signal to another process"
        if signal_name is None:
            return
        step = self.step
        if saved_step != step and step > 0:
            # No callbacks: fine-tuning would evaluate on dev and rewrite best/ at a step the
            # uninterrupted run never evaluates, inside the scheduler's grace period.
            self._save(step, scheduled=False)
        self.distributed.barrier()  # the others wait until the chief's checkpoint is written
        where = self.last_checkpoint if self.is_chief else "the chief's checkpoint"
        message = (f"preempted by {signal_name} at step {step} of {self.settings.num_train_steps}; "
                   f"{where or 'no checkpoint (nothing trained yet)'} holds the run: run the same command again "
                   f"to resume from it")
        logging.warning("%s", message)
        # a launcher such as horovodrun kills the rest once one process exits: all say why first
        self.distributed.barrier()
        raise Preempted(message)

    def _save(self, step: int, scheduled: bool = True) -> None:
        # never a checkpoint of weights that went bad
        self.check_numbers()
        if not weights_are_finite(self.model.variables):
            raise NonFiniteLossError(f"the weights became non-finite by step {step}; last good checkpoint: "
                                     f"{self.last_checkpoint or 'none (no checkpoint was saved yet)'}")
        path = self.keeper.save(step)
        if path:
            self.last_checkpoint = path
            logging.info("saved checkpoint %s", path)
        if not scheduled:
            return
        for callback in self.callbacks:
            callback.on_checkpoint(step, self)

    # -- evaluation -----------------------------------------------------------------------
    def evaluate(self, dataset: tf.data.Dataset, metric_fn: MetricFn,
                 max_steps: Optional[int] = None) -> Dict[str, float]:
        """Sum of each metric's (weighted sum, weight) over all batches (and processes), then divided
        (`finish_metrics`: 0 where nothing was counted, as the original's tf.metrics)."""
        compiled = self._eval_steps.get(metric_fn)
        if compiled is None:
            # One compiled function per metric for the whole run: a new one at every evaluation traced
            # the model again and kept that graph, so memory grew at each checkpoint (benchmarks/soak.py).
            compiled = tf.function(lambda features: metric_fn(self.model, features), reduce_retracing=True)
            self._eval_steps[metric_fn] = compiled
        sums: Dict[str, List[float]] = {}
        try:
            for index, features in enumerate(dataset):
                if max_steps is not None and index >= max_steps:
                    break
                for name, (total, weight) in compiled(features).items():
                    acc = sums.setdefault(name, [0.0, 0.0])
                    acc[0] += float(total)
                    acc[1] += float(weight)
        except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as error:
            raise InputDataError(f"bad evaluation data: {_readable(error.message)}") from None
        names = sorted(sums)
        if self.distributed.size > 1:
            flat = self.distributed.allreduce_sum(
                [tf.constant([sums[n][0], sums[n][1]], tf.float64) for n in names])
            sums = {n: list(v.numpy()) for n, v in zip(names, flat)}
        return finish_metrics({n: sums[n] for n in names})
