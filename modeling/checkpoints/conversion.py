"""Converting a checkpoint between the formats a NEZHA may come in (the library of convert_checkpoint.py).

Inputs, in any format modeling/checkpoints/formats.py recognises:
- "tf1": an original NEZHA-TensorFlow / Google BERT checkpoint (TF1 names), or one written by
  save_tf1_model (our pretraining export), with a bert_config.json;
- "tf2": one of our own object-based checkpoints (the training loop's ckpt-<step>, a fine-tuning
  run's best/model), with the bert_config.json it was trained from;
- "hf": a directory saved by transformers (config.json + model.safetensors).
Outputs: the formats of formats.FORMATS that have a writer ("hf" and "tf1").

The model (pretraining, encoder, or which fine-tuning task) is read from the checkpoint where its
names tell; classification and tagging heads are named alike, so there it has to be given.
"""
from __future__ import annotations

import os
from typing import Optional

import tensorflow as tf

from modeling.checkpoints.errors import CheckpointError
from modeling.checkpoints.formats import WRITABLE_FORMATS, CheckpointFormat, checkpoint_format, format_named
from modeling.checkpoints.hf import (
    CONFIG_NAME,
    HFCheckpointError,
    config_from_hf_json_file,
    config_from_json_file,
    hf_model_class,
    read_hf_tensors,
)
from modeling.checkpoints.tf1 import CONFIG_NAME as TF1_CONFIG_NAME
from modeling.checkpoints.tf1 import resolve_checkpoint_prefix, variable_shapes
from modeling.config import NezhaConfig, read_json_file
from modeling.encoder import NezhaModel
from modeling.pretraining import NezhaForPretraining
from modeling.task_models import NezhaForClassification, NezhaForSpanExtraction, NezhaForTokenTagging

MODEL_KINDS = ("pretraining", "encoder", "classification", "tagging", "reading")
FORMATS = WRITABLE_FORMATS  # the output formats
_HF_ARCHITECTURES = {
    "NezhaForPreTraining": "pretraining",
    "NezhaModel": "encoder",
    "NezhaForSequenceClassification": "classification",
    "NezhaForTokenClassification": "tagging",
    "NezhaForQuestionAnswering": "reading",
}


class ConversionError(ValueError):
    """The input cannot be converted as asked (ambiguous, incomplete, or of an unsupported kind)."""


class Loaded:
    """A model read from a checkpoint, and what is known about how completely."""

    def __init__(self, model, kind: str, source_format: str, report=None, labels=None):
        self.model = model
        self.kind = kind
        self.source_format = source_format
        self.report = report  # a LoadReport (None for our object-based checkpoints, matched whole)
        self.labels = labels  # class names from a transformers config.json, else None


def build_model(kind: str, config: NezhaConfig, num_labels: Optional[int] = None, use_crf: bool = False):
    if kind == "pretraining":
        model = NezhaForPretraining(config)
    elif kind == "encoder":
        model = NezhaModel(config)
    elif kind == "classification":
        model = NezhaForClassification(config, num_labels=num_labels)
    elif kind == "tagging":
        model = NezhaForTokenTagging(config, num_labels=num_labels, use_crf=use_crf)
    elif kind == "reading":
        model = NezhaForSpanExtraction(config)
    else:
        raise ConversionError(f"unknown model {kind!r}; choose one of {MODEL_KINDS}")
    model.ensure_built()
    return model


def input_format(path) -> str:
    """"hf", "tf1" or "tf2" for a path (modeling.checkpoints.formats decides)."""
    return checkpoint_format(path).name


def _ambiguous(source: str, candidates, num_labels: int) -> ConversionError:
    return ConversionError(f"{source}: its head ([{num_labels}, hidden] output weights) may be any of "
                           f"{', '.join(candidates[:-1])} or {candidates[-1]}; say which with --model")


def _chosen(kind: Optional[str], detected: Optional[str], candidates, source: str, num_labels=None) -> str:
    if kind is not None:
        if kind not in MODEL_KINDS:
            raise ConversionError(f"unknown model {kind!r}; choose one of {MODEL_KINDS}")
        if detected is not None and kind != detected:
            raise ConversionError(f"{source} holds a {detected} model, not a {kind} one")
        if detected is None and kind not in candidates:
            raise ConversionError(f"{source} holds a {' or '.join(candidates)} model, not a {kind} one")
        return kind
    if detected is None:
        raise _ambiguous(source, candidates, num_labels)
    return detected


def _tf1_kind(shapes: dict, kind: Optional[str], source: str) -> tuple:
    """(kind, num_labels, use_crf) from the original variable names."""
    if "cls/predictions/output_bias" in shapes:
        return _chosen(kind, "pretraining", (), source), None, False
    if "cls/squad/output_weights" in shapes:
        return _chosen(kind, "reading", (), source), None, False
    if "output_weights" in shapes:
        num_labels = shapes["output_weights"][0]
        if "transitions" in shapes:
            return _chosen(kind, "tagging", (), source), num_labels, True
        return _chosen(kind, None, ("classification", "tagging"), source, num_labels), num_labels, False
    return _chosen(kind, "encoder", (), source), None, False


def _tf2_kind(shapes: dict, kind: Optional[str], source: str) -> tuple:
    """(kind, num_labels, use_crf) from the object-graph names of one of our checkpoints."""
    def has(prefix):
        return any(name.startswith(prefix) for name in shapes)

    if has("model/masked_lm/"):
        return _chosen(kind, "pretraining", (), source), None, False
    head = "model/head/output_weights/.ATTRIBUTES/VARIABLE_VALUE"
    if head in shapes:
        num_labels = shapes[head][0]
        if has("model/transitions/"):
            return _chosen(kind, "tagging", (), source), num_labels, True
        candidates = ("classification", "tagging", "reading") if num_labels == 2 else ("classification", "tagging")
        return _chosen(kind, None, candidates, source, num_labels), num_labels, False
    if has("model/embeddings/"):
        return _chosen(kind, "encoder", (), source), None, False
    raise ConversionError(f"{source}: not a checkpoint of one of our models (no model/ variables)")


def _tf1_config(prefix: str, config_path: Optional[str]) -> NezhaConfig:
    if config_path is None:
        config_path = os.path.join(os.path.dirname(prefix), TF1_CONFIG_NAME)
        if not os.path.isfile(config_path):
            raise ConversionError(f"{prefix}: no {TF1_CONFIG_NAME} beside the checkpoint; pass the model's "
                                  "config with --config")
    return config_from_json_file(config_path)  # the original's or a transformers config.json, by content


def load_any(path, kind: Optional[str] = None, config_path: Optional[str] = None) -> Loaded:
    """Builds the model a checkpoint holds and loads it (see the module docstring for the formats)."""
    path = os.fspath(path)
    source = checkpoint_format(path)  # the same table, and so the same readers, as --init_checkpoint
    if source.name == "hf":
        return _load_hf(path, kind, config_path, source)
    prefix = resolve_checkpoint_prefix(path)
    shapes = variable_shapes(prefix)
    config = _tf1_config(prefix, config_path)
    if source.name == "tf1":
        kind, num_labels, use_crf = _tf1_kind(shapes, kind, prefix)
        model = build_model(kind, config, num_labels, use_crf)
        return Loaded(model, kind, "tf1", report=source.load(model, prefix))
    kind, num_labels, use_crf = _tf2_kind(shapes, kind, prefix)
    model = build_model(kind, config, num_labels, use_crf)
    # What the reader could not fill is in the report, which check_complete turns into a refusal
    # (or, with --allow_partial, a warning).
    try:
        report = source.load(model, prefix)
    except (CheckpointError, ValueError, tf.errors.InvalidArgumentError) as error:
        raise ConversionError(f"{prefix} does not hold a {kind} model with the config given (another model or "
                              f"config?): {str(error)[:500]}") from None
    return Loaded(model, kind, "tf2", report=report)


def _load_hf(path: str, kind: Optional[str], config_path: Optional[str], source: CheckpointFormat) -> Loaded:
    weights, tensors = read_hf_tensors(path)
    if config_path is None:
        config_path = os.path.join(os.path.dirname(weights), CONFIG_NAME)
    config = config_from_hf_json_file(config_path)
    values = read_json_file(config_path)
    architectures = [name for name in values.get("architectures") or [] if name in _HF_ARCHITECTURES]
    names = {name[len("nezha."):] if name.startswith("nezha.") else name for name in tensors}
    detected = _HF_ARCHITECTURES[architectures[0]] if architectures else None
    if detected is None:  # no (known) architecture named: tell from the tensors where they can
        if "cls.predictions.bias" in names or "cls.predictions.decoder.bias" in names:
            detected = "pretraining"
        elif "qa_outputs.weight" in names:
            detected = "reading"
        elif "classifier.weight" not in names:
            detected = "encoder"
    classifier = tensors.get("classifier.weight")
    num_labels = int(classifier.shape[0]) if classifier is not None else None
    kind = _chosen(kind, detected, ("classification", "tagging"), weights, num_labels)
    model = build_model(kind, config, num_labels)
    id2label = values.get("id2label")
    labels = None
    if num_labels and isinstance(id2label, dict) and set(id2label) == {str(i) for i in range(num_labels)}:
        labels = [id2label[str(index)] for index in range(num_labels)]
    return Loaded(model, kind, "hf", report=source.load(model, weights), labels=labels)


def check_complete(loaded: Loaded) -> list:
    """Problems that make a conversion lossy: model variables the input lacked, input tensors the model
    cannot hold. The pooler that transformers' token-classification and question-answering classes
    lack (and that those tasks never use) is not one."""
    report = loaded.report
    if report is None:
        return []
    not_needed = set()
    if loaded.source_format == "hf" and loaded.kind in ("tagging", "reading"):
        not_needed = {"bert/pooler/dense/kernel", "bert/pooler/dense/bias"}
    problems = []
    missing = [name for name in report.missing_in_checkpoint if name not in not_needed]
    if missing:
        problems.append(f"not in the input (would be written as random initial values): {missing}")
    if report.unused_in_checkpoint:
        problems.append(f"in the input but not in a {loaded.kind} model (would be dropped): "
                        f"{report.unused_in_checkpoint}")
    return problems


def convert(input_path, output_path, to: str, kind: Optional[str] = None, config_path: Optional[str] = None,
            overwrite: bool = False, allow_partial: bool = False, vocab_file: Optional[str] = None) -> tuple:
    """Reads `input_path` (any format) and writes `output_path` as `to` ("hf" or "tf1").
    Returns (the Loaded input, the output directory). A lossy conversion is refused unless
    allow_partial."""
    if to not in FORMATS:
        raise ConversionError(f"unknown output format {to!r}; choose one of {FORMATS}")
    loaded = load_any(input_path, kind=kind, config_path=config_path)
    if to == "hf":
        hf_model_class(loaded.model)  # refuse a CRF tagger before anything is written
    problems = check_complete(loaded)
    if problems and not allow_partial:
        raise ConversionError(f"{input_path}: converting would lose or invent weights:\n  "
                              + "\n  ".join(problems) + f"\n{loaded.report}\n(--allow_partial converts anyway)")
    # Only a transformers directory carries label names and a vocabulary.
    options = {"labels": loaded.labels, "vocab_file": vocab_file} if to == "hf" else {}
    if vocab_file is not None and to != "hf":
        raise ConversionError("--vocab_file is only for --to hf (a TF1 model directory has no vocabulary)")
    output = format_named(to).save_model(loaded.model, output_path, overwrite=overwrite, **options)
    return loaded, output


__all__ = ["ConversionError", "FORMATS", "HFCheckpointError", "Loaded", "MODEL_KINDS", "build_model",
           "check_complete", "convert", "input_format", "load_any"]
