"""Run state: resumable TF2 checkpoints (rank 0 writes), which weights a run starts or evaluates
from (output_dir's latest checkpoint, its best/ copy, or --init_checkpoint), and the best/ copy.

Reading and writing a checkpoint of any format is modeling/checkpoints/'s job; this module only
decides which checkpoint a run uses, and calls `load_checkpoint` once for it.
"""
import contextlib
import glob
import os
import re
import shutil
from typing import List, Optional

import tensorflow as tf
from absl import logging

from compat.keras import keras
from fileio.atomic import atomic_directory, write_failure
from modeling.checkpoints import CheckpointError, load_checkpoint, save_tf2_checkpoint

__all__ = ["BEST_DIR", "CheckpointError", "CheckpointKeeper", "checkpoint_damage", "ensure_writable_dir",
           "latest_in", "load_initial_weights", "restore_for_inference", "save_best_weights", "start_weights"]

BEST_DIR = "best"
# What TensorFlow raises reading a damaged checkpoint: a missing file, a bad checksum, or (for a
# truncated data file) an IndexError "Read less bytes than requested".
DAMAGE_ERRORS = (tf.errors.OpError, IndexError)


def _tf_message(error: BaseException) -> str:
    """TensorFlow's error text without its function-node and op decorations, first line only."""
    text = getattr(error, "message", None) or str(error)
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    text = re.sub(r"\s*\[Op:\w+\]", "", text)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def checkpoint_damage(prefix: str, error: Optional[BaseException] = None) -> Optional[str]:
    """Why the checkpoint `prefix` cannot be read, naming the file ("<file>: <reason>"), or None when
    every tensor reads back (which checks each one's checksum). `error`: what reading it raised, if known."""
    index = prefix + ".index"
    if (error is None or isinstance(error, tf.errors.NotFoundError)) and not tf.io.gfile.exists(index):
        return f"{index} is missing"
    if error is None:
        try:
            reader = tf.train.load_checkpoint(prefix)
            for name in reader.get_variable_to_shape_map():
                reader.get_tensor(name)
            return None
        except DAMAGE_ERRORS as raised:
            error = raised
    data = sorted(tf.io.gfile.glob(glob.escape(prefix) + ".data-*"))
    return f"{', '.join(data) or prefix + '.data-*'}: {_tf_message(error)}"


def latest_in(directory: str) -> Optional[str]:
    """The checkpoint output_dir's `checkpoint` state file names as the latest, whether or not its
    files are all there (tf.train.latest_checkpoint returns None when its index is missing, which
    would silently start the run over)."""
    state = tf.train.get_checkpoint_state(directory)
    if state is None or not state.model_checkpoint_path:
        return None
    path = state.model_checkpoint_path
    return path if os.path.isabs(path) else os.path.join(directory, path)


def earlier_checkpoints(directory: str) -> List[str]:
    """The checkpoints output_dir's state file lists before the latest, newest first."""
    state = tf.train.get_checkpoint_state(directory)
    paths = list(state.all_model_checkpoint_paths) if state is not None else []
    paths = [p if os.path.isabs(p) else os.path.join(directory, p) for p in paths]
    latest = latest_in(directory)
    return [p for p in reversed(paths) if p != latest]


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
        return latest_in(self.directory)

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

    def restore_latest(self, fall_back: bool = False) -> Optional[str]:
        """Restores the latest checkpoint and returns it (None when there is none). A damaged one is
        a CheckpointError naming the file and the newest earlier intact checkpoint, from which the
        run resumes instead when `fall_back` (--resume_from_previous_on_error)."""
        path = self.latest
        if path is None:
            return None
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
            return path
        except DAMAGE_ERRORS as error:
            damage = checkpoint_damage(path, error)
        intact = next((p for p in earlier_checkpoints(self.directory) if checkpoint_damage(p) is None), None)
        if intact is None:
            raise CheckpointError(f"the latest checkpoint {path} is damaged ({damage}) and no earlier checkpoint in "
                                  f"{self.directory} is intact: remove them to start over") from None
        if not fall_back:
            raise CheckpointError(f"the latest checkpoint {path} is damaged ({damage}); the earlier checkpoint "
                                  f"{intact} is intact: run again with --resume_from_previous_on_error to resume "
                                  f"from it") from None
        logging.warning("the latest checkpoint %s is damaged (%s): resuming from %s", path, damage, intact)
        self.checkpoint.restore(intact).assert_existing_objects_matched()
        return intact


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
    try:
        report = load_checkpoint(model, path)
    except DAMAGE_ERRORS as error:
        raise CheckpointError(f"{what} {path} is damaged ({checkpoint_damage(path, error)})") from None
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
    if latest_in(output_dir) is not None or not init_checkpoint:
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
