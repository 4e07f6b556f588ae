"""The one place that decides how a checkpoint a user names is read: which format it is in, and the
reader for that format. Run state (resuming, best/, --init_checkpoint against output_dir) is
training/checkpointing.py's business; it calls `load_checkpoint` here.

Formats, tried in the order of FORMATS:
- "tf2": one of our own checkpoints (TF2 object graph: training checkpoints, best/model); restored
  by object path, the whole model where it matches, and at least the whole encoder. Its LoadReport
  names variables by their TF1 names, as a TF1 checkpoint's does.
- "tf1": an original NEZHA / Google BERT checkpoint, read by TF1 variable names.
- "hf": a Hugging Face transformers NEZHA directory (config.json + model.safetensors) or its weights
  file, read by transformers' tensor names (modeling/hf_checkpoint.py). Tried first: it is no TF
  checkpoint prefix, which the other two expect.
A new format adds a `CheckpointFormat` (how to recognise it, how to read it) to FORMATS.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Dict, List, Optional

import tensorflow as tf

from modeling.checkpoint import LoadReport, load_tf1_checkpoint, resolve_checkpoint_prefix
from modeling.hf_checkpoint import HF_FILE_NAMES, HF_WEIGHT_SUFFIXES, load_hf_checkpoint

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


class CheckpointError(RuntimeError):
    """A checkpoint that exists but cannot be read, or does not hold the model's encoder."""


def _variable_names(prefix: str) -> List[str]:
    try:
        return [name for name, _ in tf.train.list_variables(prefix)]
    except (tf.errors.OpError, ValueError) as error:
        raise CheckpointError(f"cannot read checkpoint {prefix}: {getattr(error, 'message', error)}") from None


def _is_model_weight(key: str) -> bool:
    """A key of one of our checkpoints that holds a model variable (not optimizer or loop state)."""
    return key.startswith("model/") and key.endswith(VALUE_SUFFIX) and ".OPTIMIZER_SLOT" not in key


def _object_keys(model) -> Dict[str, str]:
    """TF1 name -> the key under which tf.train.Checkpoint(model=model) stores that variable: the
    object path TensorFlow gives it (the first found breadth-first, as the saver does)."""
    root = tf.train.Checkpoint(model=model)  # held: the view keeps only a weak reference
    _, paths = tf.train.TrackableView(root)._descendants_with_paths()
    return {name: "/".join(reference.name for reference in paths[variable]) + VALUE_SUFFIX
            for name, variable in model.tf1_variables().items()}


def is_tf2_checkpoint(path: str) -> bool:
    """Ours have an object graph; an original (TF1 name-based) checkpoint has none."""
    return OBJECT_GRAPH_KEY in _variable_names(resolve_checkpoint_prefix(path))


def is_tf1_checkpoint(path: str) -> bool:
    return not is_tf2_checkpoint(path)


def load_tf2_checkpoint(model, path) -> LoadReport:
    """Restores one of our checkpoints by object graph and reports, by TF1 name, what came from it."""
    prefix = resolve_checkpoint_prefix(path)
    saved = set(_variable_names(prefix))
    keys = _object_keys(model)
    encoder = getattr(model, "encoder", None)
    if encoder is not None:
        # Another task's checkpoint may lack this model's head, but it must supply the whole encoder.
        held = sum(1 for key in saved if key.startswith("model/encoder/") and _is_model_weight(key))
        if held != len(encoder.variables):
            raise CheckpointError(f"checkpoint {prefix} does not hold this model's encoder: it has {held} encoder "
                                  f"variables, the model {len(encoder.variables)} (another model or config?)")
    tf.train.Checkpoint(model=model).restore(prefix).expect_partial()
    model_keys = set(keys.values())
    others = sorted(key for key in saved - model_keys if key != OBJECT_GRAPH_KEY)
    report = LoadReport(
        path=prefix,
        loaded=sorted(name for name, key in keys.items() if key in saved),
        missing_in_checkpoint=sorted(name for name, key in keys.items() if key not in saved),
        unused_in_checkpoint=[key[: -len(VALUE_SUFFIX)] for key in others if _is_model_weight(key)],
        ignored_optimizer_state=[key for key in others if not _is_model_weight(key)],
    )
    report.log_warning()
    return report


@dataclasses.dataclass(frozen=True)
class CheckpointFormat:
    name: str
    matches: Callable[[str], bool]  # given the path the user named (a prefix or a directory)
    load: Callable[..., Optional[LoadReport]]  # (model, path) -> LoadReport


def is_hf_checkpoint(path) -> bool:
    """A transformers directory (its config.json or weights file is there) or a weights file itself;
    the pickle formats count too, so that reading them gives hf_checkpoint's advice on converting."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return path.endswith(HF_WEIGHT_SUFFIXES) or os.path.basename(path) in HF_FILE_NAMES
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, name)) for name in HF_FILE_NAMES)


FORMATS = (
    CheckpointFormat("hf", is_hf_checkpoint, load_hf_checkpoint),
    CheckpointFormat("tf2", is_tf2_checkpoint, load_tf2_checkpoint),
    CheckpointFormat("tf1", is_tf1_checkpoint, load_tf1_checkpoint),
)


def checkpoint_format(path) -> CheckpointFormat:
    """The format of the checkpoint at `path`; CheckpointNotFoundError when there is none."""
    for candidate in FORMATS:
        if candidate.matches(path):
            return candidate
    raise CheckpointError(f"{path}: not a checkpoint of a known format ({', '.join(f.name for f in FORMATS)})")


def load_checkpoint(model, path) -> Optional[LoadReport]:
    """Loads the model's weights from `path`, whatever its format."""
    return checkpoint_format(path).load(model, path)
