"""Run by the tests in a process of its own: a script (run_pretraining.py, run_clf.py, ...) on the
tf.distribute engine with a MirroredStrategy over N logical CPU devices of this one process.

argv[1]: N; argv[2]: the script; the rest: its flags. The logical devices must exist before
TensorFlow starts, hence the separate process.
"""
import runpy
import sys

import tensorflow as tf


def main():
    count, script = int(sys.argv[1]), sys.argv[2]
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    from training.distribution.tf_distribute import TFDistributeEngine
    from training.options import RunOptions

    devices = [f"/cpu:{i}" for i in range(count)]
    # The engine the script builds for --distribution=multi_worker_mirrored, on these devices instead.
    RunOptions.create_engine = lambda options: TFDistributeEngine(tf.distribute.MirroredStrategy(devices))
    sys.argv = [script] + sys.argv[3:]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
