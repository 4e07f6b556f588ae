"""The distribution engine interface: what the training loop asks of data parallelism, whatever
runs it (one process, Horovod, tf.distribute)."""
import contextlib
from typing import Callable, List, Sequence

import tensorflow as tf

from training.distribution.threads import host_cores, share_input_threads, threads_per_process


class DistributedError(RuntimeError):
    """A failed set-up, or a lost process, of a distributed run."""


class LostPeerError(DistributedError):
    """Another process of the run stopped or cannot be reached, so this one stops too."""

    # TensorFlow's teardown at exit destroys the distributed input iterator, whose threads can wait
    # for the lost peer (measured: 70 s after a SIGKILLed chief, against 1 s to report the error);
    # run_main flushes and exits at once instead. Checkpoints and summaries are already written
    # (and flushed at every log line), so the teardown has nothing left to save.
    exit_without_teardown = True


class Engine:
    """Data parallelism as the loop sees it: replicas each run the step on their own batch, their
    gradients are averaged, and every replica applies the same update.

    Processes (`rank` of `size`) read disjoint shards of the input; each process drives
    `local_replicas` devices; `num_replicas` = every replica of the run, whose gradients are
    averaged (and by which the original scales the learning rate). Only the chief (rank 0) writes
    checkpoints, logs and exports.

    In a compiled step the loop calls `run(fn, batch)`; inside `fn` (once per replica) it calls
    `allreduce_gradients` and then `apply_update(update, grads)`, which must run `update` so that
    every copy of every variable changes the same way. This base class is the one-process,
    one-device engine: every collective is the identity.
    """

    name = "none"
    # Whether model and optimizer variables are tf.distribute's mirrored variables (one copy per
    # device). A tf.function given them as arguments traces once per shape and then updates the
    # variable of its first trace for every same-shaped one, so per-variable compiled updates are off.
    mirrors_variables = False
    # Whether allreduce_gradients sends the gradients in float16: the loop then hands it gradients
    # already divided by the loss scale and the micro-batch count (see Trainer), which fit float16.
    compresses_gradients = False
    rank = 0
    size = 1
    local_rank = 0
    local_replicas = 1
    local_size = 1  # processes of the run on this host (they share its cores)

    @property
    def num_replicas(self) -> int:
        return self.size * self.local_replicas

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    @property
    def cpu_threads(self) -> int:
        """This process's share of the host's cores: the size of its thread pools and input readers."""
        return threads_per_process(host_cores(), self.local_size)

    def describe(self) -> str:
        return (f"{self.name}: process {self.rank} of {self.size}, {self.local_replicas} replica(s) per process, "
                f"{self.num_replicas} in all")

    def scope(self):
        """Where model, optimizer, loss-scale and loop variables must be created."""
        return contextlib.nullcontext()

    # -- data -----------------------------------------------------------------------------
    def distribute(self, make_dataset: Callable[[], tf.data.Dataset]):
        """The dataset the step's `run` consumes, from this process's shard batched per replica, on a
        tf.data pool of this process's share of the cores."""
        return self.on_own_threads(make_dataset())

    def on_own_threads(self, dataset: tf.data.Dataset) -> tf.data.Dataset:
        """`dataset` on a tf.data pool of this process's share of the cores. Every dataset a run builds
        (training, evaluation, inference) goes through it: tf.data's default pool has a thread per
        core, so each of the processes of a host would otherwise start one as large as the host."""
        return share_input_threads(dataset, self.cpu_threads)

    # -- inside a compiled step -----------------------------------------------------------
    def run(self, fn: Callable, *args):
        """Runs `fn` once per local replica (each with its own batch)."""
        return fn(*args)

    def allreduce_gradients(self, grads: Sequence[tf.Tensor]) -> List[tf.Tensor]:
        """Average over every replica (called inside `run`). An engine that `compresses_gradients`
        must not let the float16 sum over replicas overflow where the average fits."""
        return list(grads)

    def apply_update(self, update: Callable, *args):
        """Runs `update(*args)` on the averaged gradients so that every variable copy gets it."""
        return update(*args)

    # -- on the host ----------------------------------------------------------------------
    def local_mean(self, value) -> float:
        """A step output as a Python float: the mean over this process's replicas."""
        return float(value)

    def allreduce_sum(self, values: Sequence[tf.Tensor]) -> List[tf.Tensor]:
        """Sums host-side values (one per process) over the processes."""
        return list(values)

    def broadcast_variables(self, variables: Sequence[tf.Variable]) -> None:
        """Makes every process hold the chief's values."""

    def barrier(self) -> None:
        pass

    def explain(self, error: Exception) -> Exception:
        """A collective's failure, reworded to name the lost process when the engine can tell."""
        return error
