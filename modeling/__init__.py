"""The NEZHA / BERT network and its checkpoints. Knows nothing of files other than checkpoints, nor of flags."""
from modeling.activations import get_activation
from modeling.checkpoints import (
    CheckpointError,
    CheckpointNotFoundError,
    CheckpointShapeError,
    HFCheckpointError,
    LoadReport,
    config_from_hf_json_file,
    load_checkpoint,
    load_hf_checkpoint,
    load_tf1_checkpoint,
    save_hf_checkpoint,
    save_tf1_checkpoint,
    save_tf1_model,
)
from modeling.config import ConfigError, NezhaConfig
from modeling.encoder import NezhaModel
from modeling.pretraining import NezhaForPretraining, finish_metrics, pretraining_losses, pretraining_metrics

__all__ = [
    "CheckpointError",
    "CheckpointNotFoundError",
    "CheckpointShapeError",
    "ConfigError",
    "HFCheckpointError",
    "LoadReport",
    "NezhaConfig",
    "NezhaForPretraining",
    "NezhaModel",
    "config_from_hf_json_file",
    "finish_metrics",
    "get_activation",
    "load_checkpoint",
    "load_hf_checkpoint",
    "load_tf1_checkpoint",
    "pretraining_losses",
    "pretraining_metrics",
    "save_hf_checkpoint",
    "save_tf1_checkpoint",
    "save_tf1_model",
]
