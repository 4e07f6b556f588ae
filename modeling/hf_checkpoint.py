"""Reading and writing Hugging Face transformers NEZHA checkpoints (config.json + model.safetensors).

transformers' layout against the original TF1 one (`tf1_variables()` names):
- `bert/...` is `nezha....` (no prefix in a bare `NezhaModel` file), `layer_<i>` is `layer.<i>`,
  LayerNorm `gamma`/`beta` are `weight`/`bias`, embedding tables end in `.weight`.
- Dense kernels are stored transposed ([out, in], PyTorch's Linear); the output layers the original
  already stores as [outputs, hidden] (`cls/seq_relationship/output_weights`, the task heads) are not.
- The masked-LM decoder is tied to the word embeddings and not stored; its bias is `cls.predictions.bias`.
- Task heads: the classifier / tagger's `output_weights` is `classifier.weight`, the reading model's
  `cls/squad/output_weights` is `qa_outputs.weight`. transformers' token-classification and
  question-answering models have no pooler, so ours is not written for those.
Only the safetensors format is read (with the `safetensors` package's NumPy API): no PyTorch here.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from typing import Callable, Optional, Sequence

import numpy as np
import tensorflow as tf

from fileio.atomic import atomic_directory
from modeling.checkpoint import CheckpointNotFoundError, CheckpointShapeError, LoadReport
from modeling.config import ConfigError
from modeling.encoder import NezhaModel
from modeling.hf_config import config_from_hf_json_file, config_to_hf_dict
from modeling.layers.relative_position import relative_position_table
from modeling.pretraining import NezhaForPretraining
from modeling.task_models import (
    HEAD_DROPOUT,
    NezhaForClassification,
    NezhaForSpanExtraction,
    NezhaForTokenTagging,
)

WEIGHTS_NAME = "model.safetensors"
SHARDED_INDEX_NAME = "model.safetensors.index.json"
CONFIG_NAME = "config.json"
ENCODER_PREFIX = "nezha."
_PICKLE_NAMES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
# Any of these in a directory makes it a transformers checkpoint (pickles: to explain how to convert them).
HF_FILE_NAMES = (CONFIG_NAME, WEIGHTS_NAME, SHARDED_INDEX_NAME) + _PICKLE_NAMES
HF_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_POOLER = ("bert/pooler/dense/kernel", "bert/pooler/dense/bias")
# Config fields that change a model's numbers without changing any variable's shape: a mismatch
# would load without a shape error and silently compute something else.
_NUMERIC_FIELDS = ("hidden_act", "layer_norm_eps", "max_relative_position", "num_attention_heads",
                   "use_relative_position")


class HFCheckpointError(ValueError):
    """A Hugging Face checkpoint cannot be read, or a model cannot be written as one."""


def hf_tensor_name(tf1_name: str) -> Optional[tuple]:
    """(transformers name without the `nezha.` prefix, transpose?, belongs to the encoder?) for one
    original variable name; None when transformers' NEZHA classes have no such tensor."""
    heads = {
        "cls/predictions/output_bias": "cls.predictions.bias",
        "cls/seq_relationship/output_weights": "cls.seq_relationship.weight",
        "cls/seq_relationship/output_bias": "cls.seq_relationship.bias",
        "output_weights": "classifier.weight",
        "output_bias": "classifier.bias",
        "cls/squad/output_weights": "qa_outputs.weight",
        "cls/squad/output_bias": "qa_outputs.bias",
    }
    if tf1_name in heads:
        return heads[tf1_name], False, False
    if tf1_name.startswith("bert/"):
        path, in_encoder = tf1_name[len("bert/"):], True
    elif tf1_name.startswith("cls/predictions/transform/"):
        path, in_encoder = tf1_name, False
    else:
        return None
    parts = re.sub(r"(^|/)layer_(\d+)(/|$)", r"\1layer/\2\3", path).split("/")
    *module, leaf = parts
    if module == ["embeddings"]:  # the embedding tables: nn.Embedding(...).weight
        return ".".join(parts) + ".weight", False, in_encoder
    renamed = {"kernel": ("weight", True), "bias": ("bias", False), "gamma": ("weight", False),
               "beta": ("bias", False)}
    if leaf not in renamed:
        return None
    leaf, transpose = renamed[leaf]
    return ".".join(module + [leaf]), transpose, in_encoder


def hf_model_class(model) -> tuple:
    """(transformers class name, original names transformers' class lacks, classifier dropout) for one
    of our models; HFCheckpointError for models transformers cannot hold."""
    if isinstance(model, NezhaForPretraining):
        return "NezhaForPreTraining", (), None
    if isinstance(model, NezhaModel):
        return "NezhaModel", (), None
    if isinstance(model, NezhaForClassification):
        return "NezhaForSequenceClassification", (), HEAD_DROPOUT
    if isinstance(model, NezhaForTokenTagging):
        if model.use_crf:
            raise HFCheckpointError(
                "this tagging model has a CRF layer (use_crf): transformers has no CRF head, so "
                "NezhaForTokenClassification would silently decode without the learnt transitions. Export "
                "a softmax tagger (run_seq_labelling.py without --use_crf), or keep the TF1 checkpoint")
        return "NezhaForTokenClassification", _POOLER, HEAD_DROPOUT
    if isinstance(model, NezhaForSpanExtraction):
        return "NezhaForQuestionAnswering", _POOLER, None
    raise HFCheckpointError(f"no transformers NEZHA class for a {type(model).__name__}")


def _encoder_prefix(model) -> str:
    # A bare NezhaModel is saved by transformers without the prefix; every model with heads has it.
    return "" if isinstance(model, NezhaModel) else ENCODER_PREFIX


# ----------------------------------------------------------------------------------------- reading


def _pickle_error(path: str) -> HFCheckpointError:
    directory = os.path.dirname(os.path.abspath(path))
    target = os.path.join(directory, WEIGHTS_NAME)
    return HFCheckpointError(
        f"{path}: a PyTorch pickle (pytorch_model.bin) is not read here: loading it needs PyTorch and "
        "unpickling can run arbitrary code. Convert it to safetensors once, where torch and safetensors "
        "are installed:\n"
        f"  python -c \"import torch; from safetensors.torch import save_file; "
        f"state = torch.load('{path}', map_location='cpu', weights_only=True); "
        f"save_file({{k: v.contiguous().clone() for k, v in state.items()}}, '{target}', "
        f"metadata={{'format': 'pt'}})\"\n"
        f"then pass the directory {directory} (its config.json stays beside model.safetensors)")


def resolve_hf_weights(path) -> str:
    """The model.safetensors (or sharded index) file for a directory or file path; clear errors for the
    other formats transformers writes."""
    path = os.fspath(path)
    if os.path.isdir(path):
        for name in (WEIGHTS_NAME, SHARDED_INDEX_NAME):
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        for name in _PICKLE_NAMES:
            if os.path.isfile(os.path.join(path, name)):
                raise _pickle_error(os.path.join(path, name))
        if os.path.isfile(os.path.join(path, "tf_model.h5")):
            raise HFCheckpointError(f"{path}: holds only tf_model.h5, transformers' Keras format, which is not "
                                    f"read here; save the model with safe_serialization (model.safetensors)")
        raise CheckpointNotFoundError(f"{path}: directory holds no {WEIGHTS_NAME}")
    if not os.path.exists(path):
        raise CheckpointNotFoundError(f"{path}: no such file or directory")
    if path.endswith((".bin", ".pt", ".pth")) or os.path.basename(path) in _PICKLE_NAMES:
        raise _pickle_error(path)
    if not path.endswith((".safetensors", SHARDED_INDEX_NAME)):
        raise HFCheckpointError(f"{path}: expected a {WEIGHTS_NAME} file or a directory saved by transformers")
    return path


def _read_safetensors(path: str) -> dict:
    from safetensors.numpy import load_file

    try:
        return load_file(path)
    except Exception as error:  # the Rust reader raises its own error types (and TypeError for bfloat16)
        raise HFCheckpointError(f"{path}: cannot read as safetensors: {error}") from None


def read_hf_tensors(path) -> tuple:
    """(resolved file, {name: ndarray}) from a directory, a model.safetensors or a sharded index."""
    weights = resolve_hf_weights(path)
    if not weights.endswith(SHARDED_INDEX_NAME):
        return weights, _read_safetensors(weights)
    try:
        with open(weights, encoding="utf-8") as handle:
            weight_map = json.load(handle)["weight_map"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise HFCheckpointError(f"{weights}: not a safetensors index with a weight_map: {error}") from None
    tensors = {}
    for shard in sorted(set(weight_map.values())):
        tensors.update(_read_safetensors(os.path.join(os.path.dirname(weights), shard)))
    return weights, tensors


def _without_prefix(tensors: dict, source: str) -> dict:
    """bare name -> (name in the file, array): files of NezhaModel lack the `nezha.` prefix."""
    bare = {}
    for name, value in tensors.items():
        key = name[len(ENCODER_PREFIX):] if name.startswith(ENCODER_PREFIX) else name
        if key in bare:
            raise HFCheckpointError(f"{source}: holds both {bare[key][0]} and {name}")
        bare[key] = (name, value)
    return bare


def _check_config(model, config_path: str) -> None:
    hf_config = config_from_hf_json_file(config_path)
    differing = [f"{name}: {getattr(hf_config, name)!r} in the file, {getattr(model.config, name)!r} in the model"
                 for name in _NUMERIC_FIELDS if getattr(hf_config, name) != getattr(model.config, name)]
    if differing:
        raise ConfigError(f"{config_path} describes another computation than the model's config ("
                          + "; ".join(differing) + "); build the model from NezhaConfig.from_hf_json_file("
                          f"{config_path!r})")


def load_hf_checkpoint(model, path, strict: bool = False) -> LoadReport:
    """Assigns every model variable that a transformers NEZHA checkpoint holds.

    `path`: a directory saved by transformers (config.json + model.safetensors) or its
    model.safetensors. When a config.json is beside the weights, the fields that change the numbers
    without changing shapes (hidden_act, layer_norm_eps, ...) must agree with the model's config.
    Shapes are checked before anything is assigned. The report names model variables by their
    original TF1 names and unused tensors by their transformers names; with strict=True anything
    missing on either side is an error. Buffers that older transformers releases saved (position ids,
    token-type ids, the relative-position table) are not reported when they hold what the model
    computes itself, nor is a stored copy of the tied decoder equal to the word embeddings.
    """
    weights, tensors = read_hf_tensors(path)
    config_path = os.path.join(os.path.dirname(weights), CONFIG_NAME)
    if os.path.isfile(config_path):
        _check_config(model, config_path)
    available = _without_prefix(tensors, weights)
    variables = model.tf1_variables()

    to_load, missing, consumed = {}, [], set()
    for name in sorted(variables):
        mapped = hf_tensor_name(name)
        key = mapped[0] if mapped else None
        if key == "cls.predictions.bias" and key not in available:
            key = "cls.predictions.decoder.bias"  # the same parameter, under its other name
        if key not in available:
            missing.append(name)
            continue
        file_name, value = available[key]
        value = value.T if mapped[1] else value
        model_shape = tuple(variables[name].shape.as_list())
        if model_shape != value.shape:
            raise CheckpointShapeError(
                f"{weights}: tensor {file_name} has shape {list(available[key][1].shape)} in the file (as "
                f"{name}: {list(value.shape)}) but {name} is {list(model_shape)} in the model")
        to_load[name] = value
        consumed.add(key)
    # The tied decoder, when a tool stored it anyway: only its equality with what was loaded is news.
    for alias, original in (("cls.predictions.decoder.weight", "embeddings.word_embeddings.weight"),
                            ("cls.predictions.decoder.bias", "cls.predictions.bias")):
        if alias in available and original in available and original in consumed and np.array_equal(
                available[alias][1], available[original][1]):
            consumed.add(alias)
    consumed.update(key for key, (_, value) in available.items()
                    if key not in consumed and _is_recomputed_buffer(key, value, model.config))
    report = LoadReport(
        path=weights,
        loaded=sorted(to_load),
        missing_in_checkpoint=missing,
        unused_in_checkpoint=sorted(available[key][0] for key in available if key not in consumed),
        ignored_optimizer_state=[],
    )
    if strict and (report.missing_in_checkpoint or report.unused_in_checkpoint):
        raise ValueError(f"strict loading failed:\n{report}")
    report.log_warning()
    for name, value in to_load.items():
        variables[name].assign(tf.cast(value, variables[name].dtype))
    return report


_RELATIVE_BUFFER = re.compile(r"^encoder\.layer\.\d+\.attention\.self\.relative_positions_encoding\.positions_encoding$")


def _is_recomputed_buffer(key: str, value: np.ndarray, config) -> bool:
    """Whether `key` is a buffer that older transformers releases saved beside the weights and that the
    model computes itself, holding what the model computes: then nothing is lost by not loading it.

    The relative-position buffer is R[clip(j - i, -K, K) + K] ([L, L, size_per_head]); transformers
    builds it in float32, so it agrees with our table (float64, rounded) to about 1e-5, not exactly.
    """
    if key == "embeddings.token_type_ids":
        return value.ndim == 2 and not value.any()
    if key == "embeddings.position_ids":
        return value.ndim == 2 and np.array_equal(value[0], np.arange(value.shape[1]))
    if _RELATIVE_BUFFER.match(key) and config.use_relative_position:
        k, depth = config.max_relative_position, config.size_per_head
        if value.ndim != 3 or value.shape[0] != value.shape[1] or value.shape[2] != depth:
            return False
        positions = np.arange(value.shape[0])
        index = np.clip(positions[None, :] - positions[:, None], -k, k) + k
        expected = relative_position_table(k, depth)[index]
        return bool(np.abs(value.astype(np.float64) - expected).max() <= 1e-4)
    return False


# ----------------------------------------------------------------------------------------- writing


def write_directory_atomically(directory, write: Callable[[str], None], overwrite: bool = False) -> str:
    """Calls write(temporary_directory), then renames it to `directory` (fileio.atomic_directory), so
    that no reader ever sees a half-written output. An existing non-empty `directory` is an error
    unless overwrite, and is then replaced whole."""
    directory = os.path.abspath(os.fspath(directory))
    if os.path.exists(directory):
        if not os.path.isdir(directory):
            raise FileExistsError(f"{directory}: exists and is not a directory")
        if os.listdir(directory) and not overwrite:
            raise FileExistsError(f"{directory}: directory exists and is not empty (pass overwrite to replace it)")
    os.makedirs(os.path.dirname(directory), exist_ok=True)
    with atomic_directory(directory) as temporary:
        os.makedirs(temporary)
        write(temporary)
        umask = os.umask(0)
        os.umask(umask)
        for name in os.listdir(temporary):  # some writers (safetensors) create their files 0600
            if os.path.isfile(os.path.join(temporary, name)):
                os.chmod(os.path.join(temporary, name), 0o666 & ~umask)
    return directory


def hf_tensors(model) -> dict:
    """transformers name -> float array in its layout, for every tensor of the model's HF class."""
    _, not_in_class, _ = hf_model_class(model)
    prefix = _encoder_prefix(model)
    tensors = {}
    for name, variable in sorted(model.tf1_variables().items()):
        if name in not_in_class:
            continue
        mapped = hf_tensor_name(name)
        if mapped is None:
            raise HFCheckpointError(f"variable {name} has no place in transformers' NEZHA classes")
        key, transpose, in_encoder = mapped
        value = variable.numpy()
        tensors[(prefix if in_encoder else "") + key] = np.ascontiguousarray(value.T if transpose else value)
    return tensors


def save_hf_checkpoint(model, directory, labels: Optional[Sequence[str]] = None, vocab_file=None,
                       overwrite: bool = False) -> str:
    """Writes `directory` with config.json and model.safetensors that transformers (<= 4.40.2) loads
    with the matching class: NezhaForPreTraining (NezhaForPretraining), NezhaModel (the encoder),
    NezhaForSequenceClassification (NezhaForClassification), NezhaForTokenClassification (a softmax
    NezhaForTokenTagging), NezhaForQuestionAnswering (NezhaForSpanExtraction; transformers' logits
    lack our span mask, which only adds -10000 outside the context and [CLS]).

    `labels`: names for the classes of a classifier / tagger (index order; a tagger's index 0 is its
    padding label), written as id2label; default LABEL_<i>. `vocab_file`, if given, is copied in as
    vocab.txt so that transformers' BertTokenizer loads from the same directory. Written to a
    temporary directory and renamed; an existing non-empty directory needs overwrite=True.
    Returns the directory's absolute path.
    """
    architecture, _, head_dropout = hf_model_class(model)
    if labels is None and hasattr(model, "num_labels"):
        labels = [f"LABEL_{index}" for index in range(model.num_labels)]
    if labels is not None and len(labels) != getattr(model, "num_labels", None):
        raise HFCheckpointError(f"{len(labels)} label names for a model with "
                                f"{getattr(model, 'num_labels', 'no')} labels")
    config = config_to_hf_dict(model.config, architecture, head_dropout=head_dropout, labels=labels)
    tensors = hf_tensors(model)
    if vocab_file is not None and not os.path.isfile(vocab_file):
        raise FileNotFoundError(f"{vocab_file}: vocabulary file does not exist")

    def write(temporary):
        from safetensors.numpy import save_file

        # "pt": the names and layouts are PyTorch's; transformers refuses files without a format.
        save_file(tensors, os.path.join(temporary, WEIGHTS_NAME), metadata={"format": "pt"})
        with open(os.path.join(temporary, CONFIG_NAME), "w", encoding="utf-8") as handle:
            handle.write(json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        if vocab_file is not None:
            shutil.copyfile(vocab_file, os.path.join(temporary, "vocab.txt"))

    return write_directory_atomically(directory, write, overwrite=overwrite)
