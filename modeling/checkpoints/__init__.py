"""Checkpoints of the NEZHA models in every format they come in: one module per format, one dispatch.

- errors.py: CheckpointError, CheckpointNotFoundError, CheckpointShapeError;
- report.py: LoadReport, what every loader returns (the same for every format);
- tf1.py: the original TF1 variable names (NEZHA's and Google BERT's), read and written, and the
  original's model directory (bert_config.json + model.ckpt + `checkpoint`);
- tf2.py: our own object-based checkpoints (training checkpoints, best/model);
- hf.py: Hugging Face transformers NEZHA (config.json mapping + model.safetensors tensors);
- formats.py: which format a path holds (FORMATS), and `load_checkpoint` for any of them;
- conversion.py: reading one format and writing another (convert_checkpoint.py is its command line);
- directory.py: writing a checkpoint directory whole or not at all.
"""
from modeling.checkpoints.errors import CheckpointError, CheckpointNotFoundError, CheckpointShapeError
from modeling.checkpoints.formats import FORMATS, CheckpointFormat, checkpoint_format, load_checkpoint
from modeling.checkpoints.hf import (
    HFCheckpointError,
    config_from_hf_dict,
    config_from_hf_json_file,
    config_from_json_file,
    config_to_hf_dict,
    load_hf_checkpoint,
    save_hf_checkpoint,
)
from modeling.checkpoints.report import LoadReport
from modeling.checkpoints.tf1 import load_tf1_checkpoint, save_tf1_checkpoint, save_tf1_model
from modeling.checkpoints.tf2 import load_tf2_checkpoint, save_tf2_checkpoint

__all__ = [
    "FORMATS",
    "CheckpointError",
    "CheckpointFormat",
    "CheckpointNotFoundError",
    "CheckpointShapeError",
    "HFCheckpointError",
    "LoadReport",
    "checkpoint_format",
    "config_from_hf_dict",
    "config_from_hf_json_file",
    "config_from_json_file",
    "config_to_hf_dict",
    "load_checkpoint",
    "load_hf_checkpoint",
    "load_tf1_checkpoint",
    "load_tf2_checkpoint",
    "save_hf_checkpoint",
    "save_tf1_checkpoint",
    "save_tf1_model",
    "save_tf2_checkpoint",
]
