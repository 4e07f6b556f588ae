"""Write-to-a-temporary-name-then-rename, so an interrupted run never leaves a finished-looking output.

Every writer of the project uses these: single files (`atomic_output`, `write_text`, `write_json`),
multi-file checkpoint prefixes (`atomic_prefix`) and whole directories (`atomic_directory`).
A write that fails for want of room or permission (a full disk, a file over the size limit, a
read-only folder) leaves the previous output in place and is raised as a `WriteError` naming the path.
"""

import contextlib
import errno
import glob
import json
import os
import shutil
import uuid


# The OS errors that mean "no room or no permission to write here", and how other libraries
# (TensorFlow's file system, safetensors) spell them in their own exceptions' text.
WRITE_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EIO)
WRITE_REASONS = tuple(os.strerror(code) for code in WRITE_ERRNOS)


class WriteError(OSError):
    """A write that failed (disk full, file too large, read-only folder); the message names the path."""


def write_failure(path, error: BaseException):
    """`error` as a WriteError naming `path` when it is a failed write (an OSError of WRITE_ERRNOS, or
    another library's error saying so), else None. A WriteError from a nested writer is renamed to
    `path`: the outermost writer's output is the one the user asked for."""
    if isinstance(error, WriteError):
        reason = getattr(error, "reason", None)
        if reason is None:
            return error
    elif isinstance(error, OSError) and error.errno in WRITE_ERRNOS:
        reason = error.strerror
    else:
        text = str(error)
        reason = next((r for r in WRITE_REASONS if r in text), None)
    if reason is None:
        return None
    failure = WriteError(f"could not write {os.fspath(path)}: {reason}")
    failure.reason = reason
    return failure


@contextlib.contextmanager
def failed_writes_named(path):
    """Re-raises a failed write inside the block as a WriteError naming `path` (other errors pass)."""
    try:
        yield
    except Exception as error:
        failure = write_failure(path, error)
        if failure is None:
            raise
        raise failure from None


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
    with failed_writes_named(path):
        try:
            yield temporary
        except BaseException:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                os.remove(temporary)
            raise
        os.replace(temporary, path)


def write_text(path, text: str) -> None:
    with atomic_output(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(text)


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


@contextlib.contextmanager
def atomic_prefix(prefix, last_suffix: str = ".index"):
    """Yield a temporary prefix under which several files `<prefix><suffix>` are written; on success
    each is renamed to the final prefix, the `last_suffix` file last (a reader looks for that one,
    so it appears only when the others are in place); on failure they are removed."""
    prefix = os.fspath(prefix)
    temporary = temporary_name(prefix)
    with failed_writes_named(prefix):
        try:
            yield temporary
        except BaseException:
            for name in glob.glob(glob.escape(temporary) + "*"):
                with contextlib.suppress(OSError):
                    os.remove(name)
            raise
        written = sorted(glob.glob(glob.escape(temporary) + "*"), key=lambda name: name.endswith(last_suffix))
        for name in written:
            os.replace(name, prefix + name[len(temporary):])


@contextlib.contextmanager
def atomic_directory(path):
    """Yield a temporary directory name to write; on success it replaces `path` (the previous
    directory is removed only after the new one is in place), on failure it is removed."""
    path = os.fspath(path)
    temporary = temporary_name(path)
    with failed_writes_named(path):
        try:
            yield temporary
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
    old = None
    if os.path.exists(path):
        old = temporary_name(path)
        os.replace(path, old)
    os.replace(temporary, path)
    if old:
        shutil.rmtree(old, ignore_errors=True)
