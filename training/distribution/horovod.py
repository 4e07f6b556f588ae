"""The Horovod engine: one process per GPU (or CPU) started by horovodrun or mpirun, gradients
averaged by Horovod's allreduce. The only module that imports Horovod."""
import socket

import tensorflow as tf
from absl import logging

from compat.stack import HOROVOD_STACK, STACK
from training.distribution.base import DistributedError, Engine
from training.distribution.devices import pin_to_local_gpu
from training.distribution.threads import use_thread_share


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
        self.local_size = hvd.local_size()
        # Before any TensorFlow op: each process must own one GPU, or all of them would land on GPU 0;
        # and its thread pools must be its share of the host's cores, not all of them.
        host = socket.gethostname()
        self.device = pin_to_local_gpu(self.local_rank, self.local_size, host)
        use_thread_share(self.local_size)
        # Every rank says where it runs (docs/gpu_checklist.md: every rank must name a GPU of its own).
        logging.info("horovod: process %d of %d, local %d of %d on %s: %s, %d CPU threads", self.rank, self.size,
                     self.local_rank, self.local_size, host, self.device or "CPU (this host has no GPU)",
                     self.cpu_threads)

    def allreduce_gradients(self, grads):
        if self.size == 1:
            return list(grads)
        grads = [tf.convert_to_tensor(g) for g in grads]  # IndexedSlices -> dense
        op = self._hvd.Average
        if self.compresses_gradients:
            # Divided by the process count in float32, before the cast, and summed: the float16
            # sum then stays as small as the average (Average would sum first, then divide).
            share = 1.0 / self.size
            grads = [g * tf.cast(share, g.dtype) for g in grads]
            op = self._hvd.Sum
        # One allreduce per gradient, each waiting for its own gradient only (not one grouped op waiting
        # for all): outside an XLA cluster TensorFlow starts each as soon as its gradient is computed, so
        # the top layers' gradients are on the network while the lower layers' are still being computed,
        # and Horovod's tensor fusion packs those that are ready together into large transfers. Each
        # element is the same sum of the same values either way. Under --use_xla the backward pass is one
        # cluster whose gradients all appear at its end: nothing overlaps (docs/performance.md).
        return [self._hvd.allreduce(g, op=op, compression=self._compression) for g in grads]

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
