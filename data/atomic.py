"""Write-to-a-temporary-name-then-rename, so an interrupted run never leaves a finished-looking file."""

import contextlib
import os
import uuid


def temporary_name(path):
    """A name in the same directory (so the final rename is atomic) that no reader mistakes for output."""
    directory, base = os.path.split(os.fspath(path))
    return os.path.join(directory, f".{base}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path to write; on success it is renamed to `path`, on failure removed.

    Works for anything written to a path (files written by other libraries included). A
    directory written at the temporary path is renamed too, but is not removed on failure.
    """
    temporary = temporary_name(path)
    try:
        yield temporary
    except BaseException:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
            os.remove(temporary)
        raise
    os.replace(temporary, path)
