"""Data parallelism for the training loop: one engine interface (base.py) and its engines, chosen
by --distribution. Only horovod.py imports Horovod (and only when chosen); only tf_distribute.py
touches tf.distribute's contexts.

- none (single.py): one process, one device.
- horovod (horovod.py): processes started by horovodrun / mpirun, one per GPU.
- multi_worker_mirrored (tf_distribute.py): one process per host using all of its GPUs.
"""
from training.distribution.base import DistributedError, Engine
from training.distribution.devices import DeviceError, gpu_for_process

ENGINES = ("none", "horovod", "multi_worker_mirrored")


def engine_name(distribution: str = "none", horovod: bool = False) -> str:
    """The engine --distribution names, with --horovod as the alias of --distribution=horovod."""
    if distribution not in ENGINES:
        raise ValueError(f"unknown --distribution={distribution!r}: expected one of {', '.join(ENGINES)}")
    if horovod and distribution not in ("none", "horovod"):
        raise ValueError(f"--horovod is --distribution=horovod and contradicts --distribution={distribution}")
    return "horovod" if horovod else distribution


def create_engine(distribution: str = "none", fp16_allreduce: bool = False, horovod: bool = False) -> Engine:
    """The engine for `distribution` (see engine_name). Create it before any other TensorFlow op:
    it decides which devices this process sees."""
    name = engine_name(distribution, horovod)
    if fp16_allreduce and name != "horovod":
        raise ValueError("--hvd_fp16_allreduce needs --distribution=horovod")
    if name == "horovod":
        from training.distribution.horovod import HorovodEngine
        return HorovodEngine(fp16_allreduce=fp16_allreduce)
    if name == "multi_worker_mirrored":
        from training.distribution.tf_distribute import TFDistributeEngine
        return TFDistributeEngine()
    from training.distribution.single import SingleDevice
    return SingleDevice()


__all__ = ["ENGINES", "DeviceError", "DistributedError", "Engine", "create_engine", "engine_name", "gpu_for_process"]
