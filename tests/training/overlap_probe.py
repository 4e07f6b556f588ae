"""Run by the tests under horovodrun: the Horovod engine's gradient allreduce, traced as in the training
step, against one grouped allreduce of the same tensors (what the engine did before it reduced each
gradient on its own). Prints one JSON line: the op types of the traced reduction and whether every
result equals the grouped one bit for bit (in float32, and with fp16 compression)."""
import json

import horovod.tensorflow as hvd
import numpy as np
import tensorflow as tf

from training.distribution import create_engine


def main():
    found = {}
    for compression in (False, True):
        engine = create_engine("horovod", fp16_allreduce=compression)
        rng = np.random.RandomState(engine.rank)
        shapes = [(3, 5), (7,), (2, 2, 4), (1,)]
        grads = [tf.constant(rng.randn(*shape).astype(np.float32) * 10 ** rng.randint(-3, 3)) for shape in shapes]

        @tf.function
        def per_gradient(grads):
            return engine.allreduce_gradients(grads)

        @tf.function
        def grouped(grads):
            return hvd.grouped_allreduce(grads, op=hvd.Average,
                                         compression=hvd.Compression.fp16 if compression else hvd.Compression.none)

        ops = [op.type for op in per_gradient.get_concrete_function(grads).graph.get_operations()
               if op.type.startswith("Horovod")]
        equal = all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(per_gradient(grads), grouped(grads)))
        found["fp16" if compression else "fp32"] = {"ops": ops, "equal": equal, "count": len(grads)}
    print("OVERLAP " + json.dumps(found), flush=True)


if __name__ == "__main__":
    main()
