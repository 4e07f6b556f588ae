"""Damaged TFRecord framing: naming the file and byte of a corrupt record, and reading around such records.

A TFRecord is `length (uint64 LE) | masked CRC32C of length (uint32) | data | masked CRC32C of data`.
tf.data reports a bad one as "corrupted record at <offset>" (a CRC that does not match) or
"truncated record at <offset>" (the file ends inside it), without the file when several are
interleaved; `locate` finds the file by checking the framing at that offset in each input file.

With run_pretraining.py --skip_corrupt_records, `scan` reads every input file once (TensorFlow's
reader, so at disk speed) and, for a file with damage, walks the rest of it in Python to list the
good records after each bad one; `CorruptRecordSkipper.read` then serves a file's records: the
clean prefix through TensorFlow's reader, the good records after the damage from that list.
"""
import dataclasses
import re
import struct
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

HEADER_BYTES = 12  # length and its CRC
FOOTER_BYTES = 4  # the data's CRC
_TF_FRAMING_ERROR = re.compile(r"(?:\{\{function_node[^}]*\}\}\s*)?(corrupted|truncated) record at (\d+)[^\n]*")


def _crc32c_table() -> List[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum of TFRecord framing."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The CRC as TFRecord stores it: rotated and offset, so that CRCs of CRCs do not collide."""
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def record_problem(handle, offset: int, size: int) -> Tuple[Optional[str], int]:
    """(None, data length) if a good record starts at `offset` of the open file, else (what is wrong, 0)."""
    if offset + HEADER_BYTES > size:
        return "the file ends inside the record's header (truncated file)", 0
    handle.seek(offset)
    header = handle.read(HEADER_BYTES)
    length_bytes, (length_crc,) = header[:8], struct.unpack("<I", header[8:])
    if masked_crc32c(length_bytes) != length_crc:
        return "its length field does not match its CRC (damaged bytes)", 0
    (length,) = struct.unpack("<Q", length_bytes)
    if offset + HEADER_BYTES + length + FOOTER_BYTES > size:
        return f"the file ends inside the record ({length} bytes of data announced; truncated file)", 0
    data = handle.read(length)
    (data_crc,) = struct.unpack("<I", handle.read(FOOTER_BYTES))
    if masked_crc32c(data) != data_crc:
        return "its data does not match its CRC (damaged bytes)", 0
    return None, length


def _header_length(handle, offset: int, size: int) -> Optional[int]:
    """The data length of the record whose header is at `offset`, if that header is intact."""
    if offset + HEADER_BYTES > size:
        return None
    handle.seek(offset)
    header = handle.read(HEADER_BYTES)
    if masked_crc32c(header[:8]) != struct.unpack("<I", header[8:])[0]:
        return None
    return struct.unpack("<Q", header[:8])[0]


def _record_starts(handle, size: int, stop: int):
    """Offsets of the records from the file's start up to `stop`, following the length fields only."""
    offset = 0
    while offset <= stop and offset < size:
        yield offset
        length = _header_length(handle, offset, size)
        if length is None:
            return
        offset += HEADER_BYTES + length + FOOTER_BYTES


def bad_record_at(path: str, offset: int) -> Optional[Tuple[int, str]]:
    """(where the record starts, what is wrong) for the bad record TensorFlow reported at byte
    `offset` of `path` (its start for a bad length, its data's start for bad data), or None if
    `path` holds no bad record there."""
    with tf.io.gfile.GFile(path, "rb") as handle:
        size = handle.size()
        starts = set(_record_starts(handle, size, offset))
        for start in (offset, offset - HEADER_BYTES):
            if start in starts:
                problem = record_problem(handle, start, size)[0]
                if problem is not None:
                    return start, problem
    return None


def locate(files: Sequence[str], offset: int) -> List[Tuple[str, int, str]]:
    """(file, record start, what is wrong) for each of `files` with the bad record TensorFlow
    reported at byte `offset`."""
    found = []
    for path in dict.fromkeys(files):
        bad = bad_record_at(path, offset)
        if bad is not None:
            found.append((path, *bad))
    return found


def explain(message: str, files: Sequence[str]) -> Optional[str]:
    """`message` with TensorFlow's "corrupted/truncated record at N" replaced by the file, the
    record's byte offset and the reason; None when the message is not about TFRecord framing."""
    match = _TF_FRAMING_ERROR.search(message)
    if match is None:
        return None
    offset = int(match.group(2))
    found = locate(files, offset)
    if found:
        where = "; ".join(f"{path}: corrupt record at byte {start}: {problem}" for path, start, problem in found)
    else:
        where = f"a corrupt record near byte {offset} of one of the {len(files)} input file(s)"
    advice = " (--skip_corrupt_records skips such records, counting them in the log)"
    return message[:match.start()] + where + advice


@dataclasses.dataclass
class Damage:
    """One damaged file: how many records precede the first bad one, and the good records after it."""
    path: str
    clean_prefix: int
    bad: List[Tuple[int, str]]  # (byte offset, what is wrong)
    spans: List[Tuple[int, int]]  # (offset of the data, its length) of every good record after the first bad one


def _resync(handle, start: int, size: int) -> int:
    """The first offset after `start` where a whole good record starts, or `size` if none does."""
    for offset in range(start + 1, size - HEADER_BYTES - FOOTER_BYTES + 1):
        length = _header_length(handle, offset, size)
        if length is not None and record_problem(handle, offset, size)[0] is None:
            return offset
    return size


def damage_of(path: str) -> Optional[Damage]:
    """The damage of one file (read once through TensorFlow's reader), or None if it is intact."""
    return scan_file(path)[1]


def scan_file(path: str) -> Tuple[int, Optional[Damage]]:
    """(how many good records the file holds, its damage or None), from one read through TensorFlow's
    reader (and, past damage, a walk of the rest in Python)."""
    try:
        return int(tf.data.TFRecordDataset(path).reduce(np.int64(0), lambda count, _: count + 1)), None
    except tf.errors.DataLossError as error:
        match = _TF_FRAMING_ERROR.search(error.message)
        if match is None:
            raise
        reported = bad_record_at(path, int(match.group(2)))
        if reported is None:
            raise
        first_bad = reported[0]
    with tf.io.gfile.GFile(path, "rb") as handle:
        size = handle.size()
        clean_prefix = sum(1 for start in _record_starts(handle, size, first_bad) if start < first_bad)
        bad, spans, offset = [], [], first_bad
        while offset < size:
            problem, length = record_problem(handle, offset, size)
            if problem is None:
                spans.append((offset + HEADER_BYTES, length))
                offset += HEADER_BYTES + length + FOOTER_BYTES
            else:
                bad.append((offset, problem))
                offset = _resync(handle, offset, size)
    return clean_prefix + len(spans), Damage(path, clean_prefix, bad, spans)


class CorruptRecordSkipper:
    """Reads input files stepping over corrupt records found by a scan of them all at start.

    It is the pipelines' `read` (data/input/records.py: a file name tensor -> its records, here the
    good ones) and knows how many each file serves (`count`), so a resumed run that passes over whole
    files by their counts (records.stream_position) does not read them again through the skipper.
    """

    def __init__(self, damaged: Dict[str, Damage], counts: Optional[Dict[str, int]] = None):
        self.damaged = damaged
        self.counts = dict(counts or {})  # path -> good records, for the files scanned
        keys = tf.constant(list(damaged) or [""])
        prefixes = tf.constant([d.clean_prefix for d in damaged.values()] or [-1], tf.int64)
        # -1: take every record (an intact file)
        self._prefix = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, prefixes), -1)

    @classmethod
    def scan(cls, files: Sequence[str]) -> "CorruptRecordSkipper":
        damaged, counts = {}, {}
        for path in dict.fromkeys(files):
            counts[path], damage = scan_file(path)
            if damage is not None:
                damaged[path] = damage
                for offset, problem in damage.bad:
                    logging.warning("%s: skipping the corrupt record at byte %d: %s", path, offset, problem)
        count = sum(len(d.bad) for d in damaged.values())
        logging.log(logging.WARNING if count else logging.INFO,
                    "--skip_corrupt_records: %d corrupt record(s) in %d of %d input file(s), skipped every time "
                    "the file is read", count, len(damaged), len(dict.fromkeys(files)))
        return cls(damaged, counts)

    @property
    def num_skipped(self) -> int:
        return sum(len(d.bad) for d in self.damaged.values())

    def _tail(self, path: bytes):
        damage = self.damaged.get(path.decode())
        if damage is None:
            return
        with tf.io.gfile.GFile(damage.path, "rb") as handle:
            for offset, length in damage.spans:
                handle.seek(offset)
                yield handle.read(length)

    def read(self, path: tf.Tensor) -> tf.data.Dataset:
        """The good records of the file `path` (a string tensor), in file order."""
        if not self.damaged:
            return tf.data.TFRecordDataset(path)
        head = tf.data.TFRecordDataset(path).take(self._prefix.lookup(path))
        tail = tf.data.Dataset.from_generator(self._tail, args=(path,),
                                              output_signature=tf.TensorSpec([], tf.string))
        return head.concatenate(tail)

    __call__ = read

    def count(self, path: str) -> Optional[int]:
        """How many records `read` serves from `path` (None for a file the scan did not see)."""
        return self.counts.get(path)
