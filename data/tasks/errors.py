"""The one error type for bad task data, always naming the file and, when known, the line."""

import logging
import os

logger = logging.getLogger(__name__)


class DataError(ValueError):
    """Bad fine-tuning input: a missing file, a malformed line, an unknown label."""

    def __init__(self, path, message, line_number=None):
        where = f"{path}:{line_number}" if line_number is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line_number = line_number


def require_file(path):
    """Fail early with the path in the message rather than deep inside a reader."""
    if not os.path.isfile(path):
        raise DataError(path, "file not found (expected in --data_dir)")
    return path


def log_skipped(path, skipped, what="lines"):
    if skipped:
        logger.warning("%s: skipped %d dirty %s (each reported above)", path, skipped, what)
