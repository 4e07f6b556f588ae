"""The spool: encoded records held in an unnamed temporary file until they are written out in shuffled order."""

import contextlib
import os
import secrets
import tempfile
from array import array

from data.generation.tfrecord import CRC_BATCH, frame_length, tfrecord_frames


def _unnamed_file(directory):
    """A read-write descriptor of a new file that no name points to. Linux's O_TMPFILE creates it
    without a name; elsewhere the file is created under a name known beforehand and unlinked at
    once, so that even a stop raised inside the creation (a SIGTERM handler runs between any two
    bytecodes) finds the name to remove."""
    directory = directory or tempfile.gettempdir()
    if hasattr(os, "O_TMPFILE"):
        try:
            return os.open(directory, os.O_TMPFILE | os.O_RDWR, 0o600)
        except OSError:  # a file system without unnamed files; the named way below says what is wrong
            pass
    path = os.path.join(directory, f".create_pretraining_data-spool-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


class RecordSpool:
    """TFRecord frames appended to an unnamed temporary file, then read back by index in any order.

    The file never has a name (or loses it at once, see `_unnamed_file`): however the process ends,
    even killed, the system frees it and nothing is left behind. In memory: the frame offsets (eight
    bytes per record) and up to `batch` records awaiting their CRCs, which are computed a batch at a
    time.
    """

    def __init__(self, directory=None, batch=CRC_BATCH // 2):
        self._file = os.fdopen(_unnamed_file(directory), "w+b", buffering=0)
        self._ends = array("q", [0])
        self._pending = []
        self._batch = batch

    def add(self, record):
        self._pending.append(record)
        if len(self._pending) >= self._batch:
            self.flush()

    def flush(self):
        if not self._pending:
            return
        data = tfrecord_frames(self._pending)
        view = memoryview(data)
        while view:
            view = view[self._file.write(view):]
        end = self._ends[-1]
        for record in self._pending:
            end += frame_length(record)
            self._ends.append(end)
        self._pending = []

    def __len__(self):
        return len(self._ends) - 1 + len(self._pending)

    @property
    def size(self):
        """Bytes spooled so far (flushed frames)."""
        return self._ends[-1]

    def frame(self, index):
        start, end = self._ends[index], self._ends[index + 1]
        return os.pread(self._file.fileno(), end - start, start)

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_in_order(spool, order, output_paths):
    """Frame order[k] of the spool goes to output_paths[k % n] (already named temporaries: the
    caller renames them); returns the count per file."""
    spool.flush()
    writers = [open(path, "wb", buffering=1 << 20) for path in output_paths]
    try:
        count = len(writers)
        for k, index in enumerate(order):
            writers[k % count].write(spool.frame(index))
    finally:
        for writer in writers:
            writer.close()
    return [len(range(i, len(order), len(output_paths))) for i in range(len(output_paths))]
