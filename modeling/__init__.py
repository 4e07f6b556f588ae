"""The NEZHA / BERT network, its checkpoints and its optimizers. Knows nothing of files or flags."""
from modeling.activations import get_activation
from modeling.checkpoint import (
    CheckpointNotFoundError,
    CheckpointShapeError,
    LoadReport,
    load_tf1_checkpoint,
    save_tf1_checkpoint,
)
from modeling.config import ConfigError, NezhaConfig
from modeling.encoder import NezhaModel
from modeling.hf_checkpoint import HFCheckpointError, load_hf_checkpoint, save_hf_checkpoint
from modeling.pretraining import NezhaForPretraining, finish_metrics, pretraining_losses, pretraining_metrics

__all__ = [
    "CheckpointNotFoundError",
    "CheckpointShapeError",
    "ConfigError",
    "HFCheckpointError",
    "LoadReport",
    "NezhaConfig",
    "NezhaForPretraining",
    "NezhaModel",
    "finish_metrics",
    "get_activation",
    "load_hf_checkpoint",
    "load_tf1_checkpoint",
    "pretraining_losses",
    "pretraining_metrics",
    "save_hf_checkpoint",
    "save_tf1_checkpoint",
]
