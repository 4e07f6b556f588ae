"""The one place that decides a checkpoint's format, and reads (or writes) it with that format's module.

Run state (resuming, best/, --init_checkpoint against output_dir) is training/checkpointing.py's
business; it calls `load_checkpoint` here. Conversion (modeling/checkpoints/conversion.py) reads
with the same table and writes with the formats that have a writer.

Formats, tried in the order of FORMATS:
- "hf": a Hugging Face transformers NEZHA directory (config.json + model.safetensors) or its weights
  file, read by transformers' tensor names (hf.py). Tried first: it is no TF checkpoint prefix,
  which the other two expect. A directory is decided by its weight files: an original model
  directory that also holds a config.json is TF1's.
- "tf2": one of our own checkpoints (TF2 object graph: training checkpoints, best/model; tf2.py);
  restored by object path. Its LoadReport names variables by their TF1 names, as a TF1 one's does.
- "tf1": an original NEZHA / Google BERT checkpoint, read by TF1 variable names (tf1.py).
A new format adds a `CheckpointFormat` (how to recognise it, how to read it, how to write a model
directory in it if it can be a conversion's output) to FORMATS.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from absl import logging

from modeling.checkpoints.errors import CheckpointError
from modeling.checkpoints.hf import is_hf_checkpoint, load_hf_checkpoint, save_hf_checkpoint
from modeling.checkpoints.report import LoadReport
from modeling.checkpoints.tf1 import load_tf1_checkpoint, save_tf1_model
from modeling.checkpoints.tf2 import is_tf2_checkpoint, load_tf2_checkpoint


def is_tf1_checkpoint(path) -> bool:
    """Any TF checkpoint that is not one of ours (tried after "tf2", which it complements)."""
    return not is_tf2_checkpoint(path)


@dataclasses.dataclass(frozen=True)
class CheckpointFormat:
    name: str
    matches: Callable[[str], bool]  # given the path the user named (a prefix or a directory)
    load: Callable[..., LoadReport]  # (model, path) -> LoadReport
    # (model, directory, overwrite=False, ...) -> the directory written; None: not a conversion's output
    save_model: Optional[Callable[..., str]] = None


FORMATS = (
    CheckpointFormat("hf", is_hf_checkpoint, load_hf_checkpoint, save_hf_checkpoint),
    CheckpointFormat("tf2", is_tf2_checkpoint, load_tf2_checkpoint),
    CheckpointFormat("tf1", is_tf1_checkpoint, load_tf1_checkpoint, save_tf1_model),
)
# The formats a model directory can be written in (conversion's outputs).
WRITABLE_FORMATS = tuple(candidate.name for candidate in FORMATS if candidate.save_model is not None)


def format_named(name: str) -> CheckpointFormat:
    for candidate in FORMATS:
        if candidate.name == name:
            return candidate
    raise ValueError(f"unknown checkpoint format {name!r}; choose one of {[f.name for f in FORMATS]}")


def checkpoint_format(path) -> CheckpointFormat:
    """The format of the checkpoint at `path`; CheckpointNotFoundError when there is none."""
    for candidate in FORMATS:
        if candidate.matches(path):
            return candidate
    raise CheckpointError(f"{path}: not a checkpoint of a known format ({', '.join(f.name for f in FORMATS)})")


def load_checkpoint(model, path) -> LoadReport:
    """Loads the model's weights from `path`, whatever its format; the report names the format chosen."""
    chosen = checkpoint_format(path)
    logging.info("checkpoint %s: read as %s", path, chosen.name)
    report = chosen.load(model, path)
    if report is not None:
        report.format = chosen.name
    return report
