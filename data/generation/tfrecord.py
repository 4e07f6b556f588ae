"""TFRecord framing in pure Python: `uint64 length, masked crc32c(length), data, masked crc32c(data)`.

The bytes equal what `tf.io.TFRecordWriter` writes, without importing TensorFlow; the CRCs of a
whole batch of records are computed at once with numpy, one byte column at a time.
"""

import struct

import numpy as np

CRC_BATCH = 8192  # records per vectorized CRC pass; bounds the padded byte matrix


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
    for first in range(0, len(blobs), CRC_BATCH):
        result.extend(_crc32c_batch(blobs[first:first + CRC_BATCH]))
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
