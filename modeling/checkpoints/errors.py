"""The errors a checkpoint of any format raises: absent, unreadable, or of the wrong shapes."""


class CheckpointError(RuntimeError):
    """A checkpoint that exists but cannot be read, or does not hold the model's encoder."""


class CheckpointNotFoundError(FileNotFoundError):
    """No checkpoint at the given prefix or in the given directory."""


class CheckpointShapeError(ValueError):
    """A checkpoint variable's shape differs from the model variable of the same name; `variable` (its
    TF1 name) and `checkpoint_shape` say which and how, for callers that explain it (a vocabulary
    that does not fit the checkpoint's word embeddings)."""

    def __init__(self, message: str, variable: str = None, checkpoint_shape=None):
        super().__init__(message)
        self.variable = variable
        self.checkpoint_shape = None if checkpoint_shape is None else list(checkpoint_shape)
