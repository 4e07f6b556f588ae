"""How many CPU threads each training process may use: its share of the host's cores, so that the
processes of one host (one per GPU under Horovod) do not each size their thread pools to every core.

The share is a pure function of (cores, processes on the host), `threads_per_process`; the engines
apply it before TensorFlow creates its thread pools (`use_thread_share`) and to every dataset of the
run, training, evaluation and inference (`share_input_threads`, through `Engine.on_own_threads`).
"""
import os

import tensorflow as tf
from absl import logging

# TensorFlow reads these when it creates its pools; a value the user set wins over the share.
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def threads_per_process(cores: int, local_size: int) -> int:
    """Each of the host's `local_size` processes gets cores // local_size threads, at least one."""
    if cores < 1 or local_size < 1:
        raise ValueError(f"cores ({cores}) and processes per host ({local_size}) must be at least 1")
    return max(1, cores // local_size)


def host_cores() -> int:
    """The cores this process may run on (its CPU affinity: a container's or taskset's limit counts)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def use_thread_share(local_size: int, cores: int = 0) -> int:
    """Sizes TensorFlow's intra-op and inter-op pools to this process's share of the host's cores and
    returns that share. Call before the first op (the pools exist from then on). With one process per
    host nothing is changed: TensorFlow's default is already every core. TF_NUM_INTRAOP_THREADS or
    TF_NUM_INTEROP_THREADS set by the user are left to TensorFlow."""
    share = threads_per_process(cores or host_cores(), local_size)
    if local_size == 1 or any(os.environ.get(name) for name in THREAD_VARIABLES):
        return share
    try:
        tf.config.threading.set_intra_op_parallelism_threads(share)
        tf.config.threading.set_inter_op_parallelism_threads(share)
    except RuntimeError as error:  # TensorFlow already made its pools (an op ran before the engine)
        logging.warning("could not size TensorFlow's thread pools to %d threads per process: %s", share, error)
    return share


def share_input_threads(dataset: tf.data.Dataset, threads: int) -> tf.data.Dataset:
    """`dataset` run on a private tf.data pool of `threads` threads instead of one sized to every core."""
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    return dataset.with_options(options)
