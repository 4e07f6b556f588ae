"""Resumable TF2 checkpoints (rank 0 writes) and initial weights from either checkpoint layout."""
import os
from typing import Optional

import tensorflow as tf

from modeling.checkpoint import load_tf1_checkpoint, resolve_checkpoint_prefix


class CheckpointError(RuntimeError):
    pass


def ensure_writable_dir(path: str) -> None:
    """Creates `path` if needed and proves it is writable, with a message naming it otherwise."""
    try:
        tf.io.gfile.makedirs(path)
        probe = os.path.join(path, f".write_probe.{os.getpid()}")
        with tf.io.gfile.GFile(probe, "w") as f:
            f.write("ok")
        tf.io.gfile.remove(probe)
    except (tf.errors.OpError, OSError) as error:
        message = getattr(error, "message", None) or str(error)
        raise CheckpointError(f"output directory {path} is not writable: {message}") from None


class CheckpointKeeper:
    """tf.train.CheckpointManager over `directory`, saving on the chief process only.

    The manager writes the data and index files first (TensorFlow merges them from temporary
    names) and rewrites the `checkpoint` state file last, atomically; resuming reads only that
    state file, so a save interrupted at any point is never taken for a complete checkpoint.
    """

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: str, max_to_keep: int, is_chief: bool):
        self.checkpoint = checkpoint
        self.directory = directory
        self.is_chief = is_chief
        self.manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep,
                                                  checkpoint_name="ckpt")

    @property
    def latest(self) -> Optional[str]:
        return tf.train.latest_checkpoint(self.directory)

    def save(self, step: int) -> Optional[str]:
        if not self.is_chief:
            return None
        return self.manager.save(checkpoint_number=step)

    def restore_latest(self) -> Optional[str]:
        path = self.latest
        if path is not None:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        return path


def _variable_names(path: str):
    try:
        return [name for name, _ in tf.train.list_variables(path)]
    except (tf.errors.OpError, ValueError) as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {getattr(error, 'message', error)}") from None


def is_tf1_checkpoint(path: str) -> bool:
    """An original (TF1 name-based) checkpoint has no object graph; ours do."""
    return "_CHECKPOINTABLE_OBJECT_GRAPH" not in _variable_names(path)


def _saved_encoder_variables(path: str) -> int:
    """How many encoder variables one of our checkpoints holds (optimizer slots not counted)."""
    return sum(1 for name in _variable_names(path)
               if name.startswith("model/encoder/") and name.endswith("/.ATTRIBUTES/VARIABLE_VALUE")
               and ".OPTIMIZER_SLOT" not in name)


def load_initial_weights(model: tf.keras.Model, path: str):
    """Loads an original TF1 checkpoint (by TF1 names, returning its LoadReport) or one of ours
    (by object graph: the whole model where it matches, and at least the whole encoder)."""
    path = resolve_checkpoint_prefix(path)
    if is_tf1_checkpoint(path):
        return load_tf1_checkpoint(model, path)
    encoder = getattr(model, "encoder", None)
    if encoder is not None:
        # Another task's checkpoint may lack this model's head, but it must supply the whole encoder.
        saved = _saved_encoder_variables(path)
        if saved != len(encoder.variables):
            raise CheckpointError(f"checkpoint {path} does not hold this model's encoder: it has {saved} encoder "
                                  f"variables, the model {len(encoder.variables)} (another model or config?)")
    tf.train.Checkpoint(model=model).restore(path).expect_partial()
    return None
