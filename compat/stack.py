"""Which of the two supported stacks (README, Set up) a TensorFlow release belongs to, and what only one has.

classic: TensorFlow 2.15 on Python 3.9-3.11, with Horovod and tensorflow-addons.
current: TensorFlow 2.16 and later (2.21 pinned) on Python 3.12-3.13, Keras 2 from tf-keras, neither of those.
"""
import tensorflow as tf

HOROVOD_STACK = ("Horovod is only on the classic stack (Python 3.9-3.11, TensorFlow 2.15.1: "
                 "make test, or STACK=classic bash scripts/install.sh)")


def stack_of(version: str) -> str:
    """"current" for TensorFlow 2.16 and later (where tf.keras is Keras 3), else "classic"."""
    major, minor = (int("".join(c for c in part if c.isdigit()) or 0) for part in version.split(".")[:2])
    return "current" if (major, minor) >= (2, 16) else "classic"


STACK = stack_of(tf.__version__)
