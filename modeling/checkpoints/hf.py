"""Hugging Face transformers NEZHA checkpoints (config.json + model.safetensors): config mapping and tensors.

The config: transformers' config.json shares most field names with bert_config.json; what differs:
- `hidden_act`: transformers' "gelu" is the exact erf GELU (ours: "gelu_erf"), its "gelu_new" is the
  tanh approximation that the original NEZHA calls "gelu".
- transformers' NEZHA always uses relative positions and fills absent keys with its own defaults
  (`type_vocab_size` 2, not the original's 16), so a config.json is read with those defaults.
- It carries many generic keys (`architectures`, `id2label`, token ids, generation settings, ...)
  that do not change the encoder's numbers; a few that would (a decoder, pruned heads, untied
  output embeddings) are refused rather than ignored.

The tensors, against the original TF1 layout (`tf1_variables()` names):
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
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from modeling.checkpoints.directory import write_directory_atomically
from modeling.checkpoints.errors import CheckpointNotFoundError, CheckpointShapeError
from modeling.checkpoints.report import LoadReport
from modeling.config import ConfigError, NezhaConfig, read_json_file
from modeling.encoder import NezhaModel
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
# The weight files that make a directory a transformers checkpoint (tf_model.h5: to say it is not read).
HF_WEIGHT_NAMES = (WEIGHTS_NAME, SHARDED_INDEX_NAME, "tf_model.h5") + _PICKLE_NAMES
HF_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_POOLER = ("bert/pooler/dense/kernel", "bert/pooler/dense/bias")
# Config fields that change a model's numbers without changing any variable's shape: a mismatch
# would load without a shape error and silently compute something else.
_NUMERIC_FIELDS = ("hidden_act", "layer_norm_eps", "max_relative_position", "num_attention_heads",
                   "use_relative_position")


class HFCheckpointError(ValueError):
    """A Hugging Face checkpoint cannot be read, or a model cannot be written as one."""


# ------------------------------------------------------------------------------------------ config

# transformers' NezhaConfig defaults, used for keys a config.json leaves out (as transformers does).
_HF_DEFAULTS = {
    "vocab_size": 21128,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "max_relative_position": 64,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
}

# transformers' activation name -> ours. The tanh forms ("gelu_new", "gelu_fast", "gelu_pytorch_tanh")
# are one formula written three ways; "gelu" and "gelu_python" are the exact erf GELU.
HF_TO_OUR_ACTIVATION = {
    "gelu": "gelu_erf",
    "gelu_python": "gelu_erf",
    "gelu_new": "gelu",
    "gelu_fast": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "relu": "relu",
    "tanh": "tanh",
    "linear": "linear",
}
OUR_TO_HF_ACTIVATION = {"gelu": "gelu_new", "gelu_erf": "gelu", "relu": "relu", "tanh": "tanh", "linear": "linear"}

# Keys whose non-default value would make transformers build a different network than ours.
_REFUSED = {
    "is_decoder": (False, "a decoder (causal attention) is not a NEZHA encoder"),
    "add_cross_attention": (False, "cross-attention layers have no counterpart here"),
    "tie_word_embeddings": (True, "the masked-LM output here is always tied to the word embeddings"),
}


def config_from_hf_dict(values: Mapping[str, Any], source: str = "config.json") -> NezhaConfig:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{source}: expected a JSON object, got {type(values).__name__}")
    model_type = values.get("model_type", "nezha")
    if model_type != "nezha":
        raise ConfigError(f"{source}: model_type is {model_type!r}, not 'nezha': only transformers' NEZHA "
                          "checkpoints are read here")
    # transformers' NEZHA has no absolute position embeddings
    return _config_from_transformers_fields(values, _HF_DEFAULTS, True, source)


def _config_from_transformers_fields(values: Mapping[str, Any], defaults: Mapping[str, Any],
                                     use_relative_position: bool, source: str) -> NezhaConfig:
    """The checks and the mapping a transformers NEZHA and BERT config.json share."""
    for key, (expected, why) in _REFUSED.items():
        if key in values and values[key] != expected:
            raise ConfigError(f"{source}: {key} is {values[key]!r}; {why}")
    if values.get("pruned_heads"):
        raise ConfigError(f"{source}: pruned_heads {values['pruned_heads']!r}; models with pruned attention "
                          "heads cannot be held here (every layer has num_attention_heads heads)")
    fields = {key: values.get(key, default) for key, default in defaults.items()}
    activation = fields["hidden_act"]
    if not isinstance(activation, str) or activation.lower() not in HF_TO_OUR_ACTIVATION:
        raise ConfigError(f"{source}: hidden_act {activation!r} has no counterpart here; supported "
                          f"transformers activations: {sorted(HF_TO_OUR_ACTIVATION)}")
    fields["hidden_act"] = HF_TO_OUR_ACTIVATION[activation.lower()]
    fields["use_relative_position"] = use_relative_position
    return NezhaConfig.from_dict(fields, source=source)


def config_from_hf_json_file(path: str | os.PathLike) -> NezhaConfig:
    """`path`: a config.json, or the directory holding it."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    return config_from_hf_dict(read_json_file(path), source=path)


# transformers' BertConfig defaults, for a BERT config.json (absolute positions, exact-erf "gelu").
_HF_BERT_DEFAULTS = dict(_HF_DEFAULTS, vocab_size=30522)
_HF_BERT_DEFAULTS.pop("max_relative_position")


def config_from_hf_bert_dict(values: Mapping[str, Any], source: str = "config.json") -> NezhaConfig:
    """A transformers BERT config.json (model_type "bert"): absolute position embeddings, no relative ones."""
    position_type = values.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ConfigError(f"{source}: position_embedding_type {position_type!r}; only BERT's \"absolute\" "
                          "position embeddings have a counterpart here (NEZHA's relative positions: model_type nezha)")
    return _config_from_transformers_fields(values, _HF_BERT_DEFAULTS, False, source)


def config_from_json_file(path: str | os.PathLike) -> NezhaConfig:
    """The config in `path`, decided by its content: a transformers config.json (it names its
    `model_type`: "nezha" or "bert") or the original's bert_config.json (which has none)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, CONFIG_NAME)
    values = read_json_file(path)
    if not isinstance(values, Mapping) or "model_type" not in values:
        return NezhaConfig.from_dict(values, source=path)
    if values["model_type"] == "bert":
        return config_from_hf_bert_dict(values, source=path)
    return config_from_hf_dict(values, source=path)


def config_to_hf_dict(config: NezhaConfig, architecture: str, head_dropout: Optional[float] = None,
                      labels: Optional[Sequence[str]] = None) -> dict:
    """The config.json transformers needs to rebuild `architecture` with our numbers.

    `labels` (index -> name) become id2label / label2id, which also set transformers' num_labels.
    """
    if not config.use_relative_position:
        raise ConfigError("this model uses absolute position embeddings (use_relative_position false): it is a "
                          "Google BERT, which transformers' NEZHA classes cannot hold (they have relative "
                          "positions only)")
    activation = config.hidden_act.lower()
    if activation not in OUR_TO_HF_ACTIVATION:
        raise ConfigError(f"hidden_act {config.hidden_act!r} has no transformers counterpart")
    values = {
        "architectures": [architecture],
        "model_type": "nezha",
        "vocab_size": config.vocab_size,
        "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_hidden_layers,
        "num_attention_heads": config.num_attention_heads,
        "intermediate_size": config.intermediate_size,
        "hidden_act": OUR_TO_HF_ACTIVATION[activation],
        "hidden_dropout_prob": config.hidden_dropout_prob,
        "attention_probs_dropout_prob": config.attention_probs_dropout_prob,
        "max_position_embeddings": config.max_position_embeddings,
        "max_relative_position": config.max_relative_position,
        "type_vocab_size": config.type_vocab_size,
        "initializer_range": config.initializer_range,
        "layer_norm_eps": config.layer_norm_eps,
        "torch_dtype": "float32",
    }
    if head_dropout is not None:
        values["classifier_dropout"] = head_dropout
    if labels is not None:
        names = [str(label) for label in labels]
        if len(set(names)) != len(names):
            raise ConfigError(f"label names must be distinct, got {names}")
        values["id2label"] = {str(index): name for index, name in enumerate(names)}
        values["label2id"] = {name: index for index, name in enumerate(names)}
    return values


# ------------------------------------------------------------------------------------------ names


# Original names of the output layers -> transformers' names; these are not transposed.
HEAD_NAMES = {
    "cls/predictions/output_bias": "cls.predictions.bias",
    "cls/seq_relationship/output_weights": "cls.seq_relationship.weight",
    "cls/seq_relationship/output_bias": "cls.seq_relationship.bias",
    "output_weights": "classifier.weight",
    "output_bias": "classifier.bias",
    "cls/squad/output_weights": "qa_outputs.weight",
    "cls/squad/output_bias": "qa_outputs.bias",
}
# The last part of an original name -> (transformers' last part, stored transposed?).
LEAF_NAMES = {"kernel": ("weight", True), "bias": ("bias", False), "gamma": ("weight", False),
              "beta": ("bias", False)}
# Scopes of the original names that map part by part: (scope, the part of it that stays, in the encoder?).
MAPPED_SCOPES = (("bert/", "", True), ("cls/predictions/transform/", "cls/predictions/transform/", False))
_LAYER_NUMBER = re.compile(r"(^|/)layer_(\d+)(/|$)")


def hf_tensor_name(tf1_name: str) -> Optional[tuple]:
    """(transformers name without the `nezha.` prefix, transpose?, belongs to the encoder?) for one
    original variable name; None when transformers' NEZHA classes have no such tensor."""
    if tf1_name in HEAD_NAMES:
        return HEAD_NAMES[tf1_name], False, False
    for scope, kept, in_encoder in MAPPED_SCOPES:
        if tf1_name.startswith(scope):
            path = kept + tf1_name[len(scope):]
            break
    else:
        return None
    parts = _LAYER_NUMBER.sub(r"\1layer/\2\3", path).split("/")
    *module, leaf = parts
    if module == ["embeddings"]:  # the embedding tables: nn.Embedding(...).weight
        return ".".join(parts) + ".weight", False, in_encoder
    if leaf not in LEAF_NAMES:
        return None
    leaf, transpose = LEAF_NAMES[leaf]
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


def is_hf_checkpoint(path) -> bool:
    """A transformers directory or a weights file itself; the pickle formats count too, so that reading
    them gives the advice on converting them. A directory is decided by the weight files it holds: one
    with transformers' weights is theirs; one with a TF checkpoint (an original model directory that
    also holds a config.json) is not; one with neither but transformers' config.json is theirs, so
    that reading it says which weights file is missing."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return path.endswith(HF_WEIGHT_SUFFIXES) or os.path.basename(path) in HF_FILE_NAMES
    if not os.path.isdir(path):
        return False
    if any(os.path.isfile(os.path.join(path, name)) for name in HF_WEIGHT_NAMES):
        return True
    if holds_tf_checkpoint(path):
        return False
    return os.path.isfile(os.path.join(path, CONFIG_NAME))


def holds_tf_checkpoint(directory: str) -> bool:
    """A `checkpoint` state file or a checkpoint's .index file in `directory`."""
    return os.path.isfile(os.path.join(directory, "checkpoint")) or any(
        name.endswith(".index") for name in os.listdir(directory))


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
                          + "; ".join(differing) + "); build the model from config_from_hf_json_file("
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
    # transformers' token-classification and question-answering models have no pooler, and ours
    # never reads it: left as initialised, it changes no output, so its absence is no mismatch.
    unread = list(_POOLER) if isinstance(model, (NezhaForTokenTagging, NezhaForSpanExtraction)) else []

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
                f"{name}: {list(value.shape)}) but {name} is {list(model_shape)} in the model",
                variable=name, checkpoint_shape=value.shape)
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
        unread_by_model=sorted(unread),
    )
    if strict:
        report.check_strict()
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
