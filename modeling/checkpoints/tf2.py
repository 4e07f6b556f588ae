"""Our own object-based TF2 checkpoints (training checkpoints, best/model): recognised, read, written.

They are `tf.train.Checkpoint(model=model)` graphs: every model variable is stored under the object
path TensorFlow gives it below MODEL_KEY; a training checkpoint also holds the optimizer's slots and
the loop's state, which loading the weights ignores.
"""
from __future__ import annotations

import os
from typing import Dict

import tensorflow as tf

from modeling.checkpoints.errors import CheckpointError, CheckpointShapeError
from modeling.checkpoints.report import LoadReport
from modeling.checkpoints.tf1 import resolve_checkpoint_prefix, variable_names, variable_shapes

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
MODEL_KEY = "model"


def is_model_weight(key: str) -> bool:
    """A key of one of our checkpoints that holds a model variable (not optimizer or loop state)."""
    return key.startswith(MODEL_KEY + "/") and key.endswith(VALUE_SUFFIX) and ".OPTIMIZER_SLOT" not in key


def object_keys(model) -> Dict[str, str]:
    """TF1 name -> the key under which tf.train.Checkpoint(model=model) stores that variable: the
    object path TensorFlow gives it (the first found breadth-first, as the saver does)."""
    root = tf.train.Checkpoint(**{MODEL_KEY: model})  # held: the view keeps only a weak reference
    _, paths = tf.train.TrackableView(root)._descendants_with_paths()
    return {name: "/".join(reference.name for reference in paths[variable]) + VALUE_SUFFIX
            for name, variable in model.tf1_variables().items()}


def is_tf2_checkpoint(path) -> bool:
    """Ours have an object graph; an original (TF1 name-based) checkpoint has none."""
    return OBJECT_GRAPH_KEY in variable_names(resolve_checkpoint_prefix(path))


def check_shapes(model, prefix: str, keys: Dict[str, str]) -> None:
    """Before restoring: every variable the checkpoint holds has the model's shape (named by TF1 name)."""
    shapes = variable_shapes(prefix)
    variables = model.tf1_variables()
    for name, key in sorted(keys.items()):
        if key in shapes and list(shapes[key]) != variables[name].shape.as_list():
            raise CheckpointShapeError(f"{prefix}: variable {name} has shape {list(shapes[key])} in the checkpoint "
                                       f"but {variables[name].shape.as_list()} in the model", variable=name,
                                       checkpoint_shape=shapes[key])


def load_tf2_checkpoint(model, path) -> LoadReport:
    """Restores one of our checkpoints by object graph and reports, by TF1 name, what came from it:
    the whole model where it matches, and at least the whole encoder."""
    prefix = resolve_checkpoint_prefix(path)
    saved = set(variable_names(prefix))
    keys = object_keys(model)
    encoder = getattr(model, "encoder", None)
    if encoder is not None:
        # Another task's checkpoint may lack this model's head, but it must supply the whole encoder.
        held = sum(1 for key in saved if key.startswith(f"{MODEL_KEY}/encoder/") and is_model_weight(key))
        if held != len(encoder.variables):
            raise CheckpointError(f"checkpoint {prefix} does not hold this model's encoder: it has {held} encoder "
                                  f"variables, the model {len(encoder.variables)} (another model or config?)")
    check_shapes(model, prefix, keys)
    tf.train.Checkpoint(**{MODEL_KEY: model}).restore(prefix).expect_partial()
    model_keys = set(keys.values())
    others = sorted(key for key in saved - model_keys if key != OBJECT_GRAPH_KEY)
    report = LoadReport(
        path=prefix,
        loaded=sorted(name for name, key in keys.items() if key in saved),
        missing_in_checkpoint=sorted(name for name, key in keys.items() if key not in saved),
        unused_in_checkpoint=[key[: -len(VALUE_SUFFIX)] for key in others if is_model_weight(key)],
        ignored_optimizer_state=[key for key in others if not is_model_weight(key)],
    )
    report.log_warning()
    return report


def save_tf2_checkpoint(model, prefix) -> str:
    """The model's weights alone as one of our checkpoints at `prefix` (the layout load_tf2_checkpoint
    reads). Returns the prefix written."""
    return tf.train.Checkpoint(**{MODEL_KEY: model}).write(os.fspath(prefix))
