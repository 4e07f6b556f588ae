"""Run by test_distribution.py in a process of its own (logical devices must exist before TensorFlow
starts): the toy model trained by the loop on the tf.distribute engine over two logical CPU devices,
and by one device at twice the batch. argv: accumulation steps, "fp16" or "fp32", "xla" or "no_xla",
an output directory. Prints the largest weight difference of each comparison as JSON."""
import json
import os
import sys

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from optimization import create_optimizer, name_lookup  # noqa: E402
from toy import make_toy_model, toy_dataset, toy_loss  # noqa: E402
from training.distribution.tf_distribute import TFDistributeEngine  # noqa: E402
from training.loop import LoopSettings, Trainer  # noqa: E402
from training.precision import Precision  # noqa: E402


def trainer(output_dir, engine, k, fp16, xla):
    with engine.scope():
        model = make_toy_model()
        optimizer = create_optimizer("lamb", 1e-2, 100, 1, name_of=name_lookup(model.tf1_variables()))
        precision = Precision.create(use_fp16=fp16)
    settings = LoopSettings(output_dir, 3, save_checkpoints_steps=2, log_every=1, num_accumulation_steps=k,
                            jit_compile=xla)
    return Trainer(model, toy_loss, optimizer, settings, precision=precision, distributed=engine)


def main():
    k, fp16, xla, output_dir = int(sys.argv[1]), sys.argv[2] == "fp16", sys.argv[3] == "xla", sys.argv[4]
    from training.distribution.single import SingleDevice
    two = trainer(os.path.join(output_dir, "two"), TFDistributeEngine(
        tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])), k, fp16, xla)
    two.train(lambda consumed: toy_dataset(64, 2).skip(consumed))
    one = trainer(os.path.join(output_dir, "one"), SingleDevice(), k, fp16, xla)
    one.train(lambda consumed: toy_dataset(64, 4).skip(consumed))
    strategy = two.distributed.strategy
    copies = [strategy.experimental_local_results(v) for v in two.model.trainable_variables]
    print(json.dumps({
        "steps": [two.step, one.step],
        "between_copies": max(float(np.abs(c[0].numpy() - c[1].numpy()).max()) for c in copies),
        "two_against_one": max(float(np.abs(c[0].numpy() - v.numpy()).max())
                               for c, v in zip(copies, one.model.trainable_variables)),
        "moved": max(float(np.abs(v.numpy() - w.numpy()).max())
                     for v, w in zip(one.model.trainable_variables, make_toy_model().trainable_variables))}))


if __name__ == "__main__":
    main()
