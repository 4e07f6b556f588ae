"""Run by the tests in a process of its own: a script (run_pretraining.py, run_clf.py, ...) on the
tf.distribute engine with a MirroredStrategy over N logical CPU devices of this one process.

argv[1]: N (0: the script's own engine, on one device); argv[2]: the script; the rest: its flags.
The logical devices must exist before TensorFlow starts, hence the separate process. With
NO_DROPOUT=1 in the environment every Keras Dropout layer is the identity (the fine-tuning heads'
fixed dropout of 0.1 would otherwise draw different masks at different batch sizes).
"""
import os
import runpy
import sys

import tensorflow as tf

from compat.keras import keras


def main():
    count, script = int(sys.argv[1]), sys.argv[2]
    if os.environ.get("NO_DROPOUT") == "1":
        keras.layers.Dropout.call = lambda layer, inputs, training=None: inputs
    sys.argv = [script] + sys.argv[3:]
    if count == 0:
        runpy.run_path(script, run_name="__main__")
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    from training.distribution.tf_distribute import TFDistributeEngine
    from training.options import RunOptions

    devices = [f"/cpu:{i}" for i in range(count)]
    # The engine the script builds for --distribution=multi_worker_mirrored, on these devices instead.
    RunOptions.create_engine = lambda options: TFDistributeEngine(tf.distribute.MirroredStrategy(devices))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
