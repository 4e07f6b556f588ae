"""The tf.distribute engine: `MultiWorkerMirroredStrategy`, one process per host using all its
GPUs (or its CPU), the cluster from TF_CONFIG, from Slurm, or none (one host). The only module
that touches tf.distribute's replica and cross-replica contexts."""
import os
import re
from typing import Optional

import numpy as np
import tensorflow as tf
from absl import logging

from training.distribution.base import DistributedError, Engine, LostPeerError
from training.distribution.devices import grow_gpu_memory
from training.distribution.threads import use_thread_share

# Gradients are all-reduced in packs of at least this many bytes (TF's CommunicationOptions):
# NEZHA-base's 410 MB in 19 packs, about two thirds of a layer each, so that on GPUs the top layers'
# packs are on the wire while the lower layers' gradients are still being computed; one pack for
# all of them (TF's default) waits for the end of the backward pass. Far smaller packs would pay a
# collective's fixed cost hundreds of times per update.
GRADIENT_BYTES_PER_PACK = 16 * 1024 * 1024

# Errors a collective or the coordination service raises when a peer is gone or unreachable.
LOST_PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError,
                    tf.errors.CancelledError, tf.errors.InternalError, tf.errors.UnknownError)


def cluster_resolver() -> Optional[tf.distribute.cluster_resolver.ClusterResolver]:
    """TF_CONFIG when set; else Slurm's task list when this process is one of several Slurm tasks;
    else None (MultiWorkerMirroredStrategy then runs on this host alone)."""
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if int(os.environ.get("SLURM_STEP_NUM_TASKS", os.environ.get("SLURM_NTASKS", "1"))) > 1:
        return tf.distribute.cluster_resolver.SlurmClusterResolver()
    return None


def worker_index(resolver) -> tuple:
    """(index of this process, number of processes) in the cluster; the chief (or worker 0) is index 0."""
    if resolver is None:
        return 0, 1
    jobs = resolver.cluster_spec().as_dict()
    if not jobs:
        return 0, 1
    chiefs = len(jobs.get("chief", []))
    size = chiefs + len(jobs.get("worker", []))
    if resolver.task_type == "chief":
        return 0, size
    if resolver.task_type != "worker":
        raise DistributedError(f"--distribution=multi_worker_mirrored runs chief and worker tasks, "
                               f"not {resolver.task_type!r} (TF_CONFIG)")
    return chiefs + int(resolver.task_id), size


def tasks_on_host(resolver) -> int:
    """How many processes of the cluster run on this process's host (by the host part of their
    addresses in the cluster spec; 1 without a cluster)."""
    if resolver is None:
        return 1
    jobs = resolver.cluster_spec().as_dict()
    addresses = [address for job in jobs.values() for address in
                 (job.values() if isinstance(job, dict) else job)]
    if not addresses or resolver.task_type not in jobs:
        return 1
    own = jobs[resolver.task_type][int(resolver.task_id)]
    host = own.rsplit(":", 1)[0]
    return max(1, sum(address.rsplit(":", 1)[0] == host for address in addresses))


def lost_worker(message: str) -> Optional[str]:
    """The task a collective's error names as unreachable or unhealthy (e.g. /job:worker/replica:0/task:1)."""
    found = re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", message)
    return f"{found[-1][0]} {found[-1][1]}" if found else None


class TFDistributeEngine(Engine):
    """tf.distribute: `strategy` (MultiWorkerMirroredStrategy unless one is given, e.g. a
    MirroredStrategy over local devices) runs the step on every local replica."""

    name = "multi_worker_mirrored"
    mirrors_variables = True

    def __init__(self, strategy: Optional[tf.distribute.Strategy] = None,
                 bytes_per_pack: int = GRADIENT_BYTES_PER_PACK):
        if strategy is None:
            grow_gpu_memory()  # before the strategy creates the devices
            resolver = cluster_resolver()
            # Several workers on one host (e.g. one per GPU) share its cores: size the pools before
            # the strategy starts TensorFlow.
            self.local_size = tasks_on_host(resolver)
            use_thread_share(self.local_size)
            try:
                strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
            except (ValueError, tf.errors.OpError) as error:
                raise DistributedError(f"MultiWorkerMirroredStrategy could not start: {error}") from error
        self.rank, self.size = worker_index(getattr(strategy, "cluster_resolver", None))
        self.strategy = strategy
        self.local_replicas = strategy.num_replicas_in_sync // self.size
        logging.info("multi_worker_mirrored: process %d of %d on %s, %d CPU threads", self.rank, self.size,
                     ", ".join(strategy.extended.worker_devices), self.cpu_threads)
        # Any mirrored variable tells `extended.update` the devices to run an update on.
        with strategy.scope():
            self._devices_of = tf.Variable(0, trainable=False, name="update_devices")
        self._sum = None
        self.gradient_options = tf.distribute.experimental.CommunicationOptions(bytes_per_pack=bytes_per_pack)

    def scope(self):
        return self.strategy.scope()

    def distribute(self, make_dataset):
        # Each process's dataset is already its shard, batched per replica; the strategy hands its
        # local replicas consecutive batches.
        own_shard = super().distribute  # this process's shard on its share of the cores
        # Batches stay on the host until the step takes them, as under Horovod: a step's inputs are a
        # few ids per position, and the device-prefetching iterator blocked its own deletion at the
        # end of training for 7-30 s on CPU workers (measured), holding the other processes at the
        # export and the evaluation.
        return self.strategy.distribute_datasets_from_function(
            lambda context: own_shard(make_dataset),
            options=tf.distribute.InputOptions(experimental_fetch_to_device=False))

    def run(self, fn, *args):
        return self.strategy.run(fn, args=args)

    def allreduce_gradients(self, grads):
        # In packs: MultiWorkerMirroredStrategy's collectives take the list last first, so the first
        # pack holds the last layers' gradients, the first ready in the backward pass, and each
        # collective waits for its own pack only. With two replicas every element is the same sum
        # as in one grouped all-reduce, bit for bit; with more, the ring may add an element's terms
        # in another order (rounding only). MirroredStrategy over CPUs ignores packs.
        return list(tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.MEAN, list(grads),
                                                                   options=self.gradient_options))

    def apply_update(self, update, *args):
        # The averaged gradients are the same on every replica, so each device runs the update on
        # its own copy of the variables (an update context: reads and writes of mirrored variables
        # there touch that device's copy) and no variable is ever sent between devices.
        def on_each_device(strategy, *values):
            return strategy.extended.update(self._devices_of, lambda _, *local: update(*local), args=values)
        return tf.distribute.get_replica_context().merge_call(on_each_device, args=args)

    def local_mean(self, value) -> float:
        return float(np.mean([float(v) for v in self.strategy.experimental_local_results(value)]))

    def _chief_replica_sum(self, values):
        """Inside `run`: the sum over replicas of `values`, each counted once per process (its first replica)."""
        context = tf.distribute.get_replica_context()
        first = tf.equal(tf.math.floormod(context.replica_id_in_sync_group, self.local_replicas), 0)
        kept = [tf.where(first, v, tf.zeros_like(v)) for v in values]
        return context.all_reduce(tf.distribute.ReduceOp.SUM, kept)

    def allreduce_sum(self, values):
        if self.size == 1:
            return list(values)
        if self._sum is None:
            self._sum = tf.function(lambda values: self.strategy.run(self._chief_replica_sum, args=(values,)))
        try:
            summed = self._sum([tf.convert_to_tensor(v) for v in values])
        except tf.errors.OpError as error:
            explained = self.explain(error)
            if explained is error:
                raise
            raise explained from None
        return [self.strategy.experimental_local_results(s)[0] for s in summed]

    def broadcast_variables(self, variables):
        if not variables or self.num_replicas == 1:
            return
        variables = list(variables)

        @tf.function
        def chief_values():
            def replica():
                context = tf.distribute.get_replica_context()
                chief = tf.equal(context.replica_id_in_sync_group, 0)
                # ints travel as float64 (exact up to 2^53): collectives reduce floats everywhere
                kept = [tf.where(chief, tf.cast(v, tf.float64), tf.zeros(v.shape, tf.float64)) for v in variables]
                return context.all_reduce(tf.distribute.ReduceOp.SUM, kept)
            return self.strategy.run(replica)

        with self.strategy.scope():
            for variable, value in zip(variables, chief_values()):
                local = self.strategy.experimental_local_results(value)
                for copy, part in zip(self.strategy.experimental_local_results(variable), local):
                    copy.assign(tf.cast(part, copy.dtype))

    def barrier(self):
        if self.size > 1:
            self.allreduce_sum([tf.constant(0.0)])

    def explain(self, error):
        if not isinstance(error, LOST_PEER_ERRORS) or self.size == 1:
            return error
        lost = lost_worker(error.message)
        where = f"{lost} of the cluster (TF_CONFIG's index)" if lost else "a process of the cluster"
        detail = next((line.strip() for line in error.message.splitlines()
                       if line.strip() and not line.startswith("Graph execution error")), "")
        return LostPeerError(f"{where} stopped or cannot be reached, so this one stops too "
                             f"(restart every process to resume from the last checkpoint): {detail[:300]}")
