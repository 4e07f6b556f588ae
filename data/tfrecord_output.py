"""The pretraining TFRecord files: tf.train.Example serialization and TFRecord framing in pure Python.

The bytes equal what the original wrote with `tf.train.Example(...).SerializeToString()` and
`tf.io.TFRecordWriter`, including its map order (the order below, checked against reference
files), without importing TensorFlow: a TFRecord is `uint64 length, masked crc32c(length),
data, masked crc32c(data)`, and the CRCs of a whole batch of records are computed at once with
numpy, one byte column at a time.
"""

import contextlib
import os
import secrets
import struct
import tempfile
from array import array

import numpy as np

from fileio.atomic import atomic_output
from data.pretraining_data import CONTINUATION_FLAG

# The order in which the original's protobuf serialized the feature map.
FEATURE_ORDER = ("masked_lm_ids", "input_ids", "masked_lm_positions", "next_sentence_labels",
                 "input_mask", "masked_lm_weights", "segment_ids")
FLOAT_FEATURES = frozenset({"masked_lm_weights"})
_CRC_BATCH = 8192  # records per vectorized CRC pass; bounds the padded byte matrix


def _varint(value):
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class ExampleEncoder:
    """Serializes the seven pretraining features; varints of small values are precomputed."""

    def __init__(self, max_value=1 << 16):
        # Lengths of serialized parts also index this table, hence the floor.
        self._varints = [_varint(v) for v in range(max(max_value, 1 << 16))]
        self._keys = {name: b"\x0a" + _varint(len(name)) + name.encode() for name in FEATURE_ORDER}

    def _int_list(self, values):
        if not values:
            return b""
        if min(values) < 0:
            raise ValueError("negative int64 features are not used by the pretraining schema")
        if max(values) < 0x80:
            packed = bytes(values)  # one-byte varints are the values themselves
        elif max(values) < len(self._varints):
            packed = b"".join(map(self._varints.__getitem__, values))
        else:
            packed = b"".join(map(_varint, values))
        return b"\x0a" + self._varint(len(packed)) + packed

    def _varint(self, value):
        try:
            return self._varints[value]
        except IndexError:
            return _varint(value)

    def _float_list(self, values):
        packed = struct.pack(f"<{len(values)}f", *values)
        return b"\x0a" + self._varint(len(packed)) + packed if packed else b""

    def encode(self, features):
        """`features`: name -> list of ints (floats for masked_lm_weights); returns Example bytes."""
        entries = []
        for name in FEATURE_ORDER:
            if name in FLOAT_FEATURES:
                value_list = self._float_list(features[name])
                feature = b"\x12" + self._varint(len(value_list)) + value_list
            else:
                value_list = self._int_list(features[name])
                feature = b"\x1a" + self._varint(len(value_list)) + value_list
            entry = self._keys[name] + b"\x12" + self._varint(len(feature)) + feature
            entries.append(b"\x0a" + self._varint(len(entry)) + entry)
        body = b"".join(entries)
        return b"\x0a" + self._varint(len(body)) + body


def token_varints(vocab):
    """token (string, id, or id with CONTINUATION_FLAG) -> the varint of its vocabulary id."""
    varints = {token: _varint(i) for token, i in vocab.items()}
    for i in set(vocab.values()):
        varints[i] = varints[i | CONTINUATION_FLAG] = _varint(i)
    return varints


class InstanceEncoder:
    """Example bytes straight from a TrainingInstance, equal to `ExampleEncoder.encode(instance_features(...))`.

    The hot path of writing: each token's id varint is looked up once per token, padding is
    zero bytes (the varint of 0), and the headers of a feature depend only on its packed length,
    so they are cached. Tokens may be the vocabulary's strings or their ids (with or without
    CONTINUATION_FLAG, which is not written).
    """

    def __init__(self, vocab, max_seq_length, max_predictions_per_seq):
        self.max_seq_length = max_seq_length
        self.max_predictions_per_seq = max_predictions_per_seq
        self._token_varint = token_varints(vocab)
        self._small = [_varint(v) for v in range(max_seq_length + 1)]
        self._headers = {}

    def _header(self, name, packed_length, float_list=False):
        key = (name, packed_length)
        header = self._headers.get(key)
        if header is None:
            value_list_length = 1 + len(_varint(packed_length)) + packed_length if packed_length else 0
            feature = (b"\x12" if float_list else b"\x1a") + _varint(value_list_length)
            if packed_length:
                feature += b"\x0a" + _varint(packed_length)
            name_bytes = b"\x0a" + _varint(len(name)) + name.encode()
            entry_length = len(name_bytes) + 1 + len(_varint(len(feature) + packed_length)) + len(feature) + packed_length
            header = (b"\x0a" + _varint(entry_length) + name_bytes + b"\x12"
                      + _varint(len(feature) + packed_length) + feature)
            self._headers[key] = header
        return header

    def encode(self, instance):
        tokens = instance.tokens
        length = len(tokens)
        seq_pad = self.max_seq_length - length
        num_predictions = len(instance.masked_lm_positions)
        pred_pad = self.max_predictions_per_seq - num_predictions
        if seq_pad < 0 or pred_pad < 0:
            raise ValueError("instance longer than max_seq_length or max_predictions_per_seq")
        token_varint = self._token_varint.__getitem__
        num_a = instance.num_segment_a
        packed = {
            "masked_lm_ids": b"".join(map(token_varint, instance.masked_lm_labels)) + b"\x00" * pred_pad,
            "input_ids": b"".join(map(token_varint, tokens)) + b"\x00" * seq_pad,
            "masked_lm_positions": b"".join(map(self._small.__getitem__, instance.masked_lm_positions))
            + b"\x00" * pred_pad,
            "next_sentence_labels": b"\x01" if instance.is_random_next else b"\x00",
            "input_mask": b"\x01" * length + b"\x00" * seq_pad,
            "masked_lm_weights": _FLOAT_ONE * num_predictions + b"\x00\x00\x00\x00" * pred_pad,
            "segment_ids": b"\x00" * num_a + b"\x01" * (length - num_a) + b"\x00" * seq_pad,
        }
        body = b"".join([self._header(name, len(packed[name]), name in FLOAT_FEATURES) + packed[name]
                         for name in FEATURE_ORDER])
        return b"\x0a" + _varint(len(body)) + body


_FLOAT_ONE = struct.pack("<f", 1.0)


def instance_features(instance, token_ids, masked_lm_ids, max_seq_length, max_predictions_per_seq):
    """The original's padded feature lists for one instance, given its token and label ids."""
    seq_pad = max_seq_length - len(token_ids)
    pred_pad = max_predictions_per_seq - len(masked_lm_ids)
    if seq_pad < 0 or pred_pad < 0:
        raise ValueError("instance longer than max_seq_length or max_predictions_per_seq")
    num_a = instance.num_segment_a
    return {
        "input_ids": token_ids + [0] * seq_pad,
        "input_mask": [1] * len(token_ids) + [0] * seq_pad,
        "segment_ids": [0] * num_a + [1] * (len(token_ids) - num_a) + [0] * seq_pad,
        "masked_lm_positions": list(instance.masked_lm_positions) + [0] * pred_pad,
        "masked_lm_ids": masked_lm_ids + [0] * pred_pad,
        "masked_lm_weights": [1.0] * len(masked_lm_ids) + [0.0] * pred_pad,
        "next_sentence_labels": [1 if instance.is_random_next else 0],
    }


def _crc32c_tables():
    """Tables for CRC-32C four bytes at a time ("slicing by 4"); tables[0] is the bytewise one."""
    first = np.zeros(256, dtype=np.uint32)
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        first[byte] = crc
    tables = [first]
    for _ in range(3):
        previous = tables[-1]
        tables.append((previous >> 8) ^ first[previous & 0xFF])
    return tables


_T0, _T1, _T2, _T3 = _crc32c_tables()


def crc32c_many(blobs):
    """CRC-32C of every bytes object in `blobs`, as a list of ints (vectorized over the batch)."""
    result = []
    for first in range(0, len(blobs), _CRC_BATCH):
        result.extend(_crc32c_batch(blobs[first:first + _CRC_BATCH]))
    return result


def _crc32c_batch(batch):
    if not batch:
        return []
    lengths = np.fromiter((len(b) for b in batch), dtype=np.int64, count=len(batch))
    order = np.argsort(-lengths, kind="stable")  # longest first: the rows still running are a prefix
    lengths = lengths[order]
    num_words = lengths // 4
    width = 4 * (int(num_words[0]) + 1)
    rows = np.zeros((len(batch), width), dtype=np.uint8)
    rows[np.arange(width)[None, :] < lengths[:, None]] = np.frombuffer(b"".join(batch[i] for i in order), np.uint8)
    # words[w] holds bytes 4w..4w+3 of every record, little-endian, as CRC-32C consumes them.
    words = np.ascontiguousarray(rows.view("<u4").T)
    running = np.searchsorted(-num_words, -np.arange(int(num_words[0])), side="left")
    crc = np.full(len(batch), 0xFFFFFFFF, dtype=np.uint32)
    for w, n in enumerate(running):
        x = crc[:n] ^ words[w, :n]
        crc[:n] = _T3[x & 0xFF] ^ _T2[(x >> 8) & 0xFF] ^ _T1[(x >> 16) & 0xFF] ^ _T0[x >> 24]
    # The last 0-3 bytes of each record, one at a time.
    for extra in range(3):
        tail = np.nonzero(lengths % 4 > extra)[0]
        if len(tail) == 0:
            break
        byte = rows[tail, 4 * num_words[tail] + extra]
        crc[tail] = _T0[(crc[tail] ^ byte) & 0xFF] ^ (crc[tail] >> 8)
    crc ^= np.uint32(0xFFFFFFFF)
    unsorted = np.empty_like(crc)
    unsorted[order] = crc
    return [int(c) for c in unsorted]


def _masked(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord_frames(records):
    """The TFRecord file bytes of `records` (serialized protos), in order."""
    headers = [struct.pack("<Q", len(r)) for r in records]
    header_crcs = crc32c_many(headers)
    data_crcs = crc32c_many(records)
    parts = []
    for header, header_crc, record, data_crc in zip(headers, header_crcs, records, data_crcs):
        parts.append(header + struct.pack("<I", _masked(header_crc)) + record + struct.pack("<I", _masked(data_crc)))
    return b"".join(parts)


def frame_length(record):
    """Bytes of one record's TFRecord frame: the record plus length, and two CRCs."""
    return len(record) + 16


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

    def __init__(self, directory=None, batch=_CRC_BATCH // 2):
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


def write_round_robin(records, output_paths):
    """Record k goes to output_paths[k % n], each file written atomically; returns counts per file."""
    counts = []
    for index, path in enumerate(output_paths):
        own = records[index::len(output_paths)]
        with atomic_output(path) as temporary:
            with open(temporary, "wb") as writer:
                writer.write(tfrecord_frames(own))
        counts.append(len(own))
    return counts
