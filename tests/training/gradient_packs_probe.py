"""Run by test_distribution.py in a process of its own (logical devices must exist before TensorFlow
starts): the tf.distribute engine's gradient all-reduce on the collectives MultiWorkerMirroredStrategy
uses, over two logical CPU devices, against one grouped all-reduce of the same gradients (what the
engine did before it sent them in packs). Prints one JSON line: per variant, the number of
collectives each replica launches, which gradients each collective waits for, and the reduced values."""
import json
import sys

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from toy import make_toy_model, toy_examples, toy_loss  # noqa: E402
from training.distribution.tf_distribute import TFDistributeEngine  # noqa: E402

# The toy's gradients in bytes, last variable first (the order the collectives pack them in):
# out/bias 4, out/kernel 32, LayerNorm beta 32 | gamma 32, dense/bias 32, dense/kernel 256 | emb 352.
# Packs of at least 64 bytes: the three packs marked.
BYTES_PER_PACK = 64


def ancestors(op):
    seen, stack = set(), [op]
    while stack:
        current = stack.pop()
        for parent in [t.op for t in current.inputs] + list(current.control_inputs):
            if parent.name not in seen:
                seen.add(parent.name)
                stack.append(parent)
    return seen


def probe(engine, reduce, examples):
    strategy = engine.strategy
    with strategy.scope():
        model = make_toy_model()
    count = len(model.trainable_variables)

    def replica():
        # each replica its own half of the batch, so the replicas' gradients differ
        index = tf.distribute.get_replica_context().replica_id_in_sync_group
        features = {name: tf.gather(tf.constant(value), tf.range(4) + 4 * index) for name, value in examples.items()}
        with tf.GradientTape() as tape:
            loss, _ = toy_loss(model, features, training=True)
        grads = tape.gradient(loss, model.trainable_variables)
        # dense (the embedding's are IndexedSlices), named so that the graph says which one a collective needs
        grads = [tf.identity(tf.convert_to_tensor(g), name=f"gradient_{i}") for i, g in enumerate(grads)]
        return grads, reduce(grads)

    step = tf.function(lambda: strategy.run(replica))
    graph = step.get_concrete_function().graph
    collectives = [op for op in graph.get_operations() if op.type.startswith("CollectiveReduce")]
    # the first replica's collectives (on CPU:0) and its gradients (the second's are named replica_1/...)
    waits_for = [sorted(int(name.rsplit("gradient_", 1)[1]) for name in ancestors(op)
                        if name.rsplit("/", 1)[-1].startswith("gradient_") and "replica_1" not in name)
                 for op in collectives if op.device.endswith("CPU:0")]
    grads, reduced = step()
    local = strategy.experimental_local_results
    return {"collectives_per_replica": len(collectives) // strategy.num_replicas_in_sync, "waits_for": waits_for,
            "count": count,
            "replica_grads": [[g.numpy().tolist() for g in local(v)] for v in grads],
            "reduced": [[r.numpy().tolist() for r in local(v)] for v in reduced]}


def main():
    devices = ["/cpu:0", "/cpu:1"]
    # The collectives MultiWorkerMirroredStrategy runs between workers, here between two local devices
    # (TF's own tests build it so; the public constructor gives a CPU-only host one replica).
    engine = TFDistributeEngine(tf.distribute.MultiWorkerMirroredStrategy._from_local_devices(devices),
                                bytes_per_pack=BYTES_PER_PACK)
    examples = toy_examples(8, seed=3)
    found = {"packed": probe(engine, engine.allreduce_gradients, examples),
             "grouped": probe(engine, lambda grads: tf.distribute.get_replica_context().all_reduce(
                 tf.distribute.ReduceOp.MEAN, grads), examples),
             "default_bytes_per_pack": TFDistributeEngine(engine.strategy).gradient_options.bytes_per_pack}
    print(json.dumps(found), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
