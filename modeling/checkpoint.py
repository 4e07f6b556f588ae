"""Reading and writing checkpoints with the original TF1 variable names (NEZHA's and Google BERT's)."""
from __future__ import annotations

import dataclasses
import os
import re
import uuid

import tensorflow as tf
from absl import logging


class CheckpointNotFoundError(FileNotFoundError):
    """No checkpoint at the given prefix or in the given directory."""


class CheckpointShapeError(ValueError):
    """A checkpoint variable's shape differs from the model variable of the same name."""


# Optimizer and bookkeeping state the original (and NVIDIA's BERT) store beside the weights.
_OPTIMIZER_STATE = re.compile(
    r"(^|/)(adam_m|adam_v|lamb_m|lamb_v|Momentum|Adam|Adam_1|LAMB|LAMB_1|Adagrad|RMSProp|RMSProp_1)$"
    r"|^(global_step|beta1_power|beta2_power|loss_scale|good_steps|current_loss_scale)$"
)


# Variables that a pretrained checkpoint is expected to supply (fine-tuning heads are not).
_ENCODER_SCOPE = "bert/"
_PRETRAINED_SCOPES = (_ENCODER_SCOPE, "cls/predictions/", "cls/seq_relationship/")


def is_optimizer_state(name: str) -> bool:
    return bool(_OPTIMIZER_STATE.search(name))


@dataclasses.dataclass
class LoadReport:
    path: str
    loaded: list
    missing_in_checkpoint: list
    unused_in_checkpoint: list
    ignored_optimizer_state: list

    def __str__(self) -> str:
        lines = [
            f"checkpoint {self.path}: loaded {len(self.loaded)} variables, "
            f"{len(self.missing_in_checkpoint)} model variables not in the checkpoint, "
            f"{len(self.unused_in_checkpoint)} checkpoint variables unused, "
            f"{len(self.ignored_optimizer_state)} optimizer variables ignored"
        ]
        for title, names in (
            ("not in the checkpoint (left as initialised)", self.missing_in_checkpoint),
            ("in the checkpoint but not in the model", self.unused_in_checkpoint),
        ):
            if names:
                lines.append(f"  {title}:")
                lines.extend(f"    {name}" for name in names)
        return "\n".join(lines)

    def warning(self) -> str | None:
        """What a user must hear about even in a non-strict load, or None.

        A fine-tuning head that is new, or pretraining heads that a fine-tuning model does not
        have, are expected; an encoder or pretraining-head variable left as initialised, or an
        encoder variable of the checkpoint that the model cannot hold (Google BERT's position
        embeddings read into a relative-position model), mean a different model from the one saved.
        """
        unloaded = [name for name in self.missing_in_checkpoint if name.startswith(_PRETRAINED_SCOPES)]
        unused = [name for name in self.unused_in_checkpoint if name.startswith(_ENCODER_SCOPE)]
        if not unloaded and not unused:
            return None
        lines = [f"checkpoint {self.path} does not match the model; its outputs will differ from the saved model's"]
        if unloaded:
            lines.append("  model variables left as initialised (not in the checkpoint): " + ", ".join(unloaded))
        if unused:
            lines.append("  checkpoint variables the model has no place for: " + ", ".join(unused))
        if any(name.endswith("position_embeddings") for name in unused + unloaded):
            lines.append("  position embeddings differ: check use_relative_position in the model config "
                         "(absent means false, as in the original and Google's BERT configs)")
        return "\n".join(lines)


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


def load_tf1_checkpoint(model, path, strict: bool = False) -> LoadReport:
    """Assigns every model variable whose original name is in the checkpoint.

    Shapes are checked for all variables before any is assigned, so a mismatch leaves the model
    unchanged. With strict=True, variables missing on either side are an error too.
    """
    prefix = resolve_checkpoint_prefix(path)
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    variables = model.tf1_variables()

    to_load = sorted(name for name in variables if name in shapes)
    for name in to_load:
        model_shape = tuple(variables[name].shape.as_list())
        checkpoint_shape = tuple(shapes[name])
        if model_shape != checkpoint_shape:
            raise CheckpointShapeError(
                f"{prefix}: variable {name} has shape {list(checkpoint_shape)} in the checkpoint "
                f"but {list(model_shape)} in the model"
            )
    unused = sorted(name for name in shapes if name not in variables)
    report = LoadReport(
        path=prefix,
        loaded=to_load,
        missing_in_checkpoint=sorted(name for name in variables if name not in shapes),
        unused_in_checkpoint=[name for name in unused if not is_optimizer_state(name)],
        ignored_optimizer_state=[name for name in unused if is_optimizer_state(name)],
    )
    if strict and (report.missing_in_checkpoint or report.unused_in_checkpoint):
        raise ValueError(f"strict loading failed:\n{report}")
    warning = report.warning()
    if warning:
        logging.warning(warning)
    for name in to_load:
        variable = variables[name]
        variable.assign(tf.cast(reader.get_tensor(name), variable.dtype))
    return report


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
    temporary = f"{prefix}.tmp-{uuid.uuid4().hex}"
    tf.raw_ops.SaveV2(
        prefix=temporary,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.convert_to_tensor(variables[name].read_value()) for name in names],
    )
    temporary_files = tf.io.gfile.glob(temporary + ".*")
    data_files = sorted(name for name in temporary_files if not name.endswith(".index"))
    for name in data_files + [temporary + ".index"]:
        tf.io.gfile.rename(name, prefix + name[len(temporary) :], overwrite=True)
    if update_checkpoint_state:
        tf.compat.v1.train.update_checkpoint_state(directory, prefix, all_model_checkpoint_paths=[prefix])
    return prefix
