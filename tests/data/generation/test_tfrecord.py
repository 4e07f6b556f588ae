"""data/generation/tfrecord.py: CRC-32C and TFRecord framing."""

import random

from data.generation.tfrecord import crc32c_many


def _bitwise_crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def test_crc32c_known_values_and_every_length():
    assert crc32c_many([b"123456789", b"", b"\x00" * 32]) == [0xE3069283, 0, 0x8A9136AA]
    rng = random.Random(0)
    blobs = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 41))) for _ in range(200)]
    assert crc32c_many(blobs) == [_bitwise_crc32c(b) for b in blobs]
