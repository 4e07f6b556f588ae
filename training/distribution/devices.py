"""Which GPU a process may use: the original's one-GPU-per-Horovod-process pinning, decided by a
pure function (testable without GPUs) and applied before TensorFlow creates its devices."""
from typing import Optional, Sequence, TypeVar

import tensorflow as tf

from training.distribution.base import DistributedError

Device = TypeVar("Device")


class DeviceError(DistributedError):
    """More processes on a host than GPUs to give them."""


def gpu_for_process(local_rank: int, local_size: int, host: str, gpus: Sequence[Device]) -> Optional[Device]:
    """The GPU process `local_rank` of `local_size` on `host` keeps, or None on a host without GPUs
    (the process then runs on CPUs, as on a laptop).

    Every process of the host fails alike when the host has fewer GPUs than processes: were only
    the extra ones to stop, the others would wait for them in their first allreduce.
    """
    if not 0 <= local_rank < local_size:
        raise ValueError(f"local rank {local_rank} is outside 0..{local_size - 1}")
    if not gpus:
        return None
    if local_size > len(gpus):
        raise DeviceError(f"process {local_rank} on host {host} sees {len(gpus)} GPU(s) but {local_size} processes "
                          f"run there; start at most {len(gpus)} processes per host or set CUDA_VISIBLE_DEVICES")
    return gpus[local_rank]


def pin_to_local_gpu(local_rank: int, local_size: int, host: str) -> Optional[str]:
    """Makes only this process's GPU visible and lets its memory grow (the original's
    visible_device_list = local_rank, allow_growth = True). Call before the first TensorFlow op.
    Returns the GPU's name, or None on a CPU-only host."""
    gpu = gpu_for_process(local_rank, local_size, host, tf.config.list_physical_devices("GPU"))
    if gpu is None:
        return None
    tf.config.set_visible_devices([gpu], "GPU")
    tf.config.experimental.set_memory_growth(gpu, True)
    return gpu.name


def grow_gpu_memory() -> int:
    """Lets every visible GPU's memory grow instead of reserving it all up front (one process using
    all local GPUs, as tf.distribute does). Returns how many GPUs there are."""
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    return len(gpus)
