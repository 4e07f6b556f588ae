"""The one error type for bad task data, always naming the file and, when known, the line.

Task files are read as strict UTF-8 (`text_lines`, `read_text`): an invalid byte is a DataError
naming the file and line. Unlike pretraining text (replaced and counted, data/generation/corpus.py),
a task line is a labelled example, and a dev or test line's position is its output's.
"""

import logging
import os

from fileio.text import TextDecodeError, read_utf8, utf8_lines

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


def text_lines(path):
    """(line number, line without its end) of a task file; invalid UTF-8 is a DataError."""
    try:
        yield from utf8_lines(path)
    except TextDecodeError as error:
        raise DataError(path, error.reason, error.line_number) from None


def read_text(path):
    """A whole task file as text; invalid UTF-8 is a DataError naming the line."""
    try:
        return read_utf8(path)
    except TextDecodeError as error:
        raise DataError(path, error.reason, error.line_number) from None
