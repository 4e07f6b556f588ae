"""Process-level parallelism. The only module that imports Horovod, and only when asked for it."""
from typing import List, Sequence

import tensorflow as tf

from compat.stack import HOROVOD_STACK, STACK


class DistributedError(RuntimeError):
    pass


class Distributed:
    """One process: the stand-in used without --horovod (every collective is the identity)."""

    rank = 0
    size = 1
    local_rank = 0

    @staticmethod
    def create(use_horovod: bool, fp16_allreduce: bool = False) -> "Distributed":
        if not use_horovod:
            if fp16_allreduce:
                raise ValueError("--hvd_fp16_allreduce needs --horovod")
            return Distributed()
        return HorovodDistributed(fp16_allreduce=fp16_allreduce)

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    def allreduce_gradients(self, grads: Sequence[tf.Tensor]) -> List[tf.Tensor]:
        """Average over processes (called inside the compiled step)."""
        return list(grads)

    def allreduce_sum(self, values: Sequence[tf.Tensor]) -> List[tf.Tensor]:
        return list(values)

    def broadcast_variables(self, variables: Sequence[tf.Variable]) -> None:
        """Makes every process hold rank 0's values."""


    def barrier(self) -> None:
        pass


class HorovodDistributed(Distributed):
    def __init__(self, fp16_allreduce: bool = False):
        if STACK == "current":
            raise DistributedError(f"--horovod: this is the current stack (TensorFlow {tf.__version__}); {HOROVOD_STACK}")
        try:
            import horovod.tensorflow as hvd
        except ImportError as error:
            raise DistributedError(
                f"--horovod needs Horovod built for TensorFlow ({error}); run scripts/install.sh") from error
        hvd.init()
        self._hvd = hvd
        self._compression = hvd.Compression.fp16 if fp16_allreduce else hvd.Compression.none
        self.rank = hvd.rank()
        self.size = hvd.size()
        self.local_rank = hvd.local_rank()

    def allreduce_gradients(self, grads):
        if self.size == 1:
            return list(grads)
        grads = [tf.convert_to_tensor(g) for g in grads]  # IndexedSlices -> dense: one grouped op
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
