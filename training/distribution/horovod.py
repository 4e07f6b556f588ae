"""The Horovod engine: one process per GPU (or CPU) started by horovodrun or mpirun, gradients
averaged by Horovod's allreduce. The only module that imports Horovod."""
import socket

import tensorflow as tf

from compat.stack import HOROVOD_STACK, STACK
from training.distribution.base import DistributedError, Engine
from training.distribution.devices import pin_to_local_gpu


class HorovodEngine(Engine):
    """horovodrun's processes, each pinned to GPU `local_rank` when the host has GPUs."""

    name = "horovod"

    def __init__(self, fp16_allreduce: bool = False):
        if STACK == "current":
            raise DistributedError(f"--horovod: this is the current stack (TensorFlow {tf.__version__}); {HOROVOD_STACK}")
        try:
            import horovod.tensorflow as hvd
        except ImportError as error:
            raise DistributedError(
                f"--distribution=horovod needs Horovod built for TensorFlow ({error}); run scripts/install.sh "
                "(the classic stack; the current stack has no Horovod: use --distribution=multi_worker_mirrored)"
            ) from error
        hvd.init()
        self._hvd = hvd
        self._compression = hvd.Compression.fp16 if fp16_allreduce else hvd.Compression.none
        self.compresses_gradients = fp16_allreduce
        self.rank = hvd.rank()
        self.size = hvd.size()
        self.local_rank = hvd.local_rank()
        # Before any TensorFlow op: each process must own one GPU, or all of them would land on GPU 0.
        self.device = pin_to_local_gpu(self.local_rank, hvd.local_size(), socket.gethostname())

    def allreduce_gradients(self, grads):
        if self.size == 1:
            return list(grads)
        grads = [tf.convert_to_tensor(g) for g in grads]  # IndexedSlices -> dense: one grouped op
        if self.compresses_gradients:
            # Divided by the process count in float32, before the cast, and summed: the float16
            # sum then stays as small as the average (Average would sum first, then divide).
            share = 1.0 / self.size
            grads = [g * tf.cast(share, g.dtype) for g in grads]
            return list(self._hvd.grouped_allreduce(grads, op=self._hvd.Sum, compression=self._compression))
        return list(self._hvd.grouped_allreduce(grads, op=self._hvd.Average, compression=self._compression))

    def allreduce_sum(self, values):
        if self.size == 1:
            return list(values)
        return list(self._hvd.grouped_allreduce([tf.convert_to_tensor(v) for v in values], op=self._hvd.Sum))

    def broadcast_variables(self, variables):
        if self.size > 1 and variables:
            self._hvd.broadcast_variables(list(variables), root_rank=0)

    def barrier(self):
        if self.size > 1:
            self._hvd.allreduce(tf.constant(0.0), op=self._hvd.Sum, name="barrier")
