"""Checkpoints under the original TF1 variable names (NEZHA's and Google BERT's): reading and writing."""
from __future__ import annotations

import os
import re
from typing import List

import tensorflow as tf

from fileio.atomic import atomic_prefix, write_text
from modeling.checkpoints.directory import write_directory_atomically
from modeling.checkpoints.errors import CheckpointError, CheckpointNotFoundError, CheckpointShapeError
from modeling.checkpoints.report import LoadReport

CONFIG_NAME = "bert_config.json"
CHECKPOINT_NAME = "model.ckpt"
STATE_NAME = "checkpoint"

# Optimizer and bookkeeping state the original (and NVIDIA's BERT) store beside the weights.
OPTIMIZER_STATE = re.compile(
    r"(^|/)(adam_m|adam_v|lamb_m|lamb_v|Momentum|Adam|Adam_1|LAMB|LAMB_1|Adagrad|RMSProp|RMSProp_1)$"
    r"|^(global_step|beta1_power|beta2_power|loss_scale|good_steps|current_loss_scale)$"
)


def is_optimizer_state(name: str) -> bool:
    return bool(OPTIMIZER_STATE.search(name))


def resolve_checkpoint_prefix(path) -> str:
    """A checkpoint prefix, or a directory (its latest checkpoint); CheckpointNotFoundError otherwise."""
    path = os.fspath(path)
    if os.path.isdir(path):
        prefix = tf.train.latest_checkpoint(path)
        if prefix is None:
            raise CheckpointNotFoundError(f"{path}: directory holds no checkpoint (no valid 'checkpoint' file)")
        return prefix
    if not tf.io.gfile.exists(path + ".index"):
        raise CheckpointNotFoundError(f"{path}: no checkpoint with this prefix ({path}.index does not exist)")
    return path


def variable_shapes(prefix: str) -> dict:
    """name -> shape of every tensor in the checkpoint at `prefix`; CheckpointError when it cannot be read."""
    try:
        return dict(tf.train.list_variables(prefix))
    except (tf.errors.OpError, ValueError) as error:
        raise CheckpointError(f"cannot read checkpoint {prefix}: {getattr(error, 'message', error)}") from None


def variable_names(prefix: str) -> List[str]:
    return list(variable_shapes(prefix))


def load_tf1_checkpoint(model, path, strict: bool = False) -> LoadReport:
    """Assigns every model variable whose original name is in the checkpoint.

    Shapes are checked for all variables before any is assigned, so a mismatch leaves the model
    unchanged. With strict=True, variables missing on either side are an error too.
    """
    prefix = resolve_checkpoint_prefix(path)
    shapes = variable_shapes(prefix)
    reader = tf.train.load_checkpoint(prefix)
    variables = model.tf1_variables()

    to_load = sorted(name for name in variables if name in shapes)
    for name in to_load:
        model_shape = tuple(variables[name].shape.as_list())
        checkpoint_shape = tuple(shapes[name])
        if model_shape != checkpoint_shape:
            raise CheckpointShapeError(
                f"{prefix}: variable {name} has shape {list(checkpoint_shape)} in the checkpoint "
                f"but {list(model_shape)} in the model", variable=name, checkpoint_shape=checkpoint_shape
            )
    unused = sorted(name for name in shapes if name not in variables)
    report = LoadReport(
        path=prefix,
        loaded=to_load,
        missing_in_checkpoint=sorted(name for name in variables if name not in shapes),
        unused_in_checkpoint=[name for name in unused if not is_optimizer_state(name)],
        ignored_optimizer_state=[name for name in unused if is_optimizer_state(name)],
    )
    if strict:
        report.check_strict()
    report.log_warning()
    for name in to_load:
        variable = variables[name]
        variable.assign(tf.cast(reader.get_tensor(name), variable.dtype))
    return report


def write_checkpoint_state(directory: str, checkpoint_name: str) -> None:
    """The directory's `checkpoint` file, naming the checkpoint relatively (so the directory can be
    moved), as the original's Saver keeps it. Its text format is written directly: TensorFlow's
    helper for it is deprecated and stores the path as given."""
    write_text(os.path.join(directory, STATE_NAME), f'model_checkpoint_path: "{checkpoint_name}"\n'
                                                    f'all_model_checkpoint_paths: "{checkpoint_name}"\n')


def save_tf1_checkpoint(model, path, update_checkpoint_state: bool = True) -> str:
    """Writes the model's variables under their original names as a TF1 (V2-format) checkpoint at `path`.

    Written under a temporary prefix and renamed (data first, index last) so that an interrupted save
    never leaves a checkpoint that looks complete. Also points the directory's `checkpoint` file at
    it, as the original's Saver does, unless update_checkpoint_state is false. Returns the prefix.
    """
    prefix = os.fspath(path)
    directory = os.path.dirname(prefix) or "."
    tf.io.gfile.makedirs(directory)
    variables = model.tf1_variables()
    names = sorted(variables)
    with atomic_prefix(prefix, last_suffix=".index") as temporary:
        tf.raw_ops.SaveV2(
            prefix=temporary,
            tensor_names=names,
            shape_and_slices=[""] * len(names),
            tensors=[tf.convert_to_tensor(variables[name].read_value()) for name in names],
        )
    if update_checkpoint_state:
        write_checkpoint_state(directory, os.path.basename(prefix))
    return prefix


def save_tf1_model(model, directory, checkpoint_name: str = CHECKPOINT_NAME, overwrite: bool = False) -> str:
    """The original's model directory: directory/bert_config.json, directory/<checkpoint_name> (original
    names) and a `checkpoint` state file naming it. Written to a temporary directory and renamed, so a
    reader sees the whole directory or none; an existing non-empty one needs overwrite=True and is
    replaced whole. Returns the directory's absolute path."""
    def write(temporary):
        model.config.to_json_file(os.path.join(temporary, CONFIG_NAME))
        save_tf1_checkpoint(model, os.path.join(temporary, checkpoint_name))

    return write_directory_atomically(directory, write, overwrite=overwrite)
