"""The NEZHA / BERT network, its checkpoints and its optimizers. Knows nothing of files or flags."""
