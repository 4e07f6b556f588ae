"""The errors a checkpoint of any format raises: absent, unreadable, or of the wrong shapes."""


class CheckpointError(RuntimeError):
    """A checkpoint that exists but cannot be read, or does not hold the model's encoder."""


class CheckpointNotFoundError(FileNotFoundError):
    """No checkpoint at the given prefix or in the given directory."""


class CheckpointShapeError(ValueError):
    """A checkpoint variable's shape differs from the model variable of the same name."""
