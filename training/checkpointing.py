"""Run state: resumable TF2 checkpoints (rank 0 writes), which weights a run starts or evaluates
from (output_dir's latest checkpoint, its best/ copy, or --init_checkpoint), and the best/ copy.

Reading and writing a checkpoint of any format is modeling/checkpoints/'s job; this module only
decides which checkpoint a run uses, and calls `load_checkpoint` once for it.
"""
import contextlib
import glob
import os
import shutil
from typing import Optional

import tensorflow as tf
from absl import logging

from compat.keras import keras
from fileio.atomic import atomic_directory, write_failure
from modeling.checkpoints import CheckpointError, load_checkpoint, save_tf2_checkpoint

__all__ = ["BEST_DIR", "CheckpointError", "CheckpointKeeper", "ensure_writable_dir", "load_initial_weights",
           "restore_for_inference", "save_best_weights", "start_weights"]

BEST_DIR = "best"


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
        """Writes ckpt-<step> (chief only). A failed write (disk full, file too large, read-only
        folder) removes what it left and raises a WriteError naming the path and the intact checkpoint."""
        if not self.is_chief:
            return None
        previous = self.latest
        try:
            return self.manager.save(checkpoint_number=step)
        except (tf.errors.OpError, OSError) as error:
            prefix = os.path.join(self.directory, f"ckpt-{step}")
            failure = write_failure(prefix, error)
            if failure is None:
                raise
            if self.latest != prefix:  # the state file still names the previous one: remove the partial
                remove_checkpoint_files(prefix)
            raise type(failure)(f"{failure}; the previous checkpoint {previous or '(none)'} is intact") from None

    def restore_latest(self) -> Optional[str]:
        path = self.latest
        if path is not None:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        return path


def remove_checkpoint_files(prefix: str) -> None:
    """Deletes the files of the checkpoint `prefix` and TensorFlow's temporary folder for it, if any."""
    for name in glob.glob(glob.escape(prefix) + ".*") + glob.glob(glob.escape(prefix) + "_temp*"):
        if os.path.isdir(name):
            shutil.rmtree(name, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.remove(name)


def load_initial_weights(model: keras.Model, path: str, log: bool = True, what: str = "init_checkpoint"):
    """Loads `path` (any format modeling/checkpoints/formats.py reads) and logs which variables came
    from it. Returns the LoadReport (loaded, missing, unused), the same for every format."""
    report = load_checkpoint(model, path)
    if report is not None and log:
        encoder = getattr(model, "encoder", None)
        if encoder is not None:
            names = set(encoder.tf1_variables())
            logging.info("%s %s: %d of %d encoder variables loaded\n%s",
                         what, path, len(names & set(report.loaded)), len(names), report)
        else:
            logging.info("%s: %s", what, report)
    return report


def start_weights(model: keras.Model, output_dir: str, init_checkpoint: Optional[str], log: bool = True):
    """Before training: nothing when output_dir holds a checkpoint (the loop resumes from it, which
    wins over --init_checkpoint), else --init_checkpoint if given. Returns its LoadReport or None."""
    if tf.train.latest_checkpoint(output_dir) is not None or not init_checkpoint:
        return None
    return load_initial_weights(model, init_checkpoint, log=log)


def save_best_weights(model: keras.Model, output_dir: str) -> str:
    """The model's weights as output_dir/best/model, replacing the previous best/ only when complete."""
    directory = os.path.join(output_dir, BEST_DIR)
    with atomic_directory(directory) as temporary:
        save_tf2_checkpoint(model, os.path.join(temporary, "model"))
    return os.path.join(directory, "model")


def restore_for_inference(model, output_dir: str, init_checkpoint: Optional[str], prefer_best: bool,
                          required: bool = True) -> Optional[str]:
    """Weights for evaluation / prediction: output_dir/best (when prefer_best), else the latest
    training checkpoint in output_dir, else init_checkpoint. Returns what was loaded (None when
    nothing was there and not `required`)."""
    best = os.path.join(output_dir, BEST_DIR, "model")
    for source, wanted in ((best, prefer_best and tf.io.gfile.exists(best + ".index")),
                           (tf.train.latest_checkpoint(output_dir), True), (init_checkpoint, True)):
        if source and wanted:
            load_initial_weights(model, source, what="weights for evaluation / prediction")
            return source
    if required:
        raise ValueError(f"nothing to evaluate: no checkpoint in {output_dir} and no --init_checkpoint")
    return None
