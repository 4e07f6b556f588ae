"""Keras 2 on every supported TensorFlow: `keras` is tf-keras on TensorFlow 2.16 and later, `tf.keras` before.

The model, its checkpoints and its SavedModels are written for Keras 2. From TensorFlow 2.16 on,
`tf.keras` is Keras 3 unless TF_USE_LEGACY_KERAS was set before TensorFlow was first imported,
which a library cannot promise (the user may have imported TensorFlow already), so the choice is
made here by version and every module asks this one for Keras.
"""
import tensorflow as tf

from compat.stack import STACK

if STACK == "current":
    try:
        import tf_keras as keras
    except ImportError as error:
        raise ImportError(
            f"TensorFlow {tf.__version__} needs the tf-keras package (Keras 2) for this project: "
            f"pip install 'tf-keras=={'.'.join(tf.__version__.split('.')[:2])}.*' "
            "(or install the current stack: STACK=current bash scripts/install.sh)") from error
else:
    keras = tf.keras

__all__ = ["keras"]
