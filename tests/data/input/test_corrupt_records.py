"""data/input/corrupt_records.py: a damaged TFRecord named by file and byte, or stepped over and counted."""
import logging
import struct

import numpy as np
import pytest
import tensorflow as tf

from data.input.corrupt_records import CorruptRecordSkipper, damage_of, explain, locate, masked_crc32c
from data.input.pretraining_dataset import pretraining_dataset
from tests.training.pretraining_records import random_arrays, write_records

SEQ, PREDS, COUNT = 16, 4, 24


def record_offsets(path):
    """Where each record of a well-formed file starts."""
    data = open(path, "rb").read()
    offsets, offset = [], 0
    while offset < len(data):
        offsets.append(offset)
        offset += 16 + struct.unpack("<Q", data[offset:offset + 8])[0]
    return offsets


def damaged_copy(source, target, how):
    """`source` with record COUNT // 2 damaged: a data byte or a length byte flipped, or the file cut inside it."""
    data = bytearray(open(source, "rb").read())
    start = record_offsets(source)[COUNT // 2]
    if how == "data":
        data[start + 40] ^= 0xFF
    elif how == "length":
        data[start + 1] ^= 0x01
    else:
        data = data[:start + 30]
    open(target, "wb").write(bytes(data))
    return start


@pytest.fixture
def clean(tmp_path):
    return write_records(tmp_path / "clean.tfrecord", random_arrays(COUNT, SEQ, PREDS, seed=3))


def served_ids(files, skipper=None, deterministic=True, records=None):
    """input_ids of the records served: every one once (evaluation), or the first `records` of training."""
    batch_size = 1 if records is None else next(b for b in (8, 4, 2, 1) if records % b == 0)
    dataset = pretraining_dataset(files, batch_size, SEQ, PREDS, is_training=records is not None,
                                  deterministic=deterministic, skipper=skipper)
    dataset = dataset.take(records // batch_size) if records is not None else dataset
    return [tuple(row) for batch in dataset for row in batch["input_ids"].numpy()]


def test_the_crc_is_the_one_tensorflow_writes(clean):
    data = open(clean, "rb").read()
    for start in record_offsets(clean):
        length = struct.unpack("<Q", data[start:start + 8])[0]
        assert masked_crc32c(data[start:start + 8]) == struct.unpack("<I", data[start + 8:start + 12])[0]
        body = data[start + 12:start + 12 + length]
        assert masked_crc32c(body) == struct.unpack("<I", data[start + 12 + length:start + 16 + length])[0]
    assert damage_of(clean) is None


@pytest.mark.parametrize("how", ["data", "length", "cut"])
def test_the_bad_record_is_found_in_its_file(clean, tmp_path, how):
    bad = str(tmp_path / "bad.tfrecord")
    start = damaged_copy(clean, bad, how)
    with pytest.raises(tf.errors.DataLossError) as raised:
        served_ids([clean, bad])
    message = "bad training data at step 3: " + raised.value.message
    explained = explain(message, [clean, bad])
    assert explained.startswith(f"bad training data at step 3: {bad}: corrupt record at byte {start}: ")
    assert "function_node" not in explained and "Op:" not in explained
    assert ("truncated" if how == "cut" else "damaged bytes") in explained
    assert "--skip_corrupt_records" in explained
    assert locate([clean], start) == []
    assert explain("bad training data at step 3: record 2 has input_ids of length 11", [clean]) is None


@pytest.mark.parametrize("how", ["data", "length", "cut"])
def test_skipping_serves_every_other_record_in_order(clean, tmp_path, how, caplog):
    other = write_records(tmp_path / "other.tfrecord", random_arrays(COUNT, SEQ, PREDS, seed=4))
    bad = str(tmp_path / "bad.tfrecord")
    damaged_copy(other, bad, how)
    with caplog.at_level(logging.INFO):
        skipper = CorruptRecordSkipper.scan([clean, bad])
    assert skipper.num_skipped == 1
    assert "1 corrupt record(s) in 1 of 2 input file(s)" in caplog.text
    assert f"{bad}: skipping the corrupt record at byte" in caplog.text
    others = served_ids([other])
    expected = served_ids([clean]) + others[:COUNT // 2] + ([] if how == "cut" else others[COUNT // 2 + 1:])
    assert served_ids([clean, bad], skipper) == expected
    # training, in order: the damaged file's good records again on the next pass
    assert served_ids([clean, bad], skipper, records=2 * len(expected)) == expected * 2
    # shuffled training reads the same records (order aside)
    shuffled = served_ids([clean, bad], skipper, deterministic=False, records=6 * len(expected))
    assert set(shuffled) == set(expected)


def test_without_damage_skipping_changes_nothing(clean, tmp_path):
    other = write_records(tmp_path / "other.tfrecord", random_arrays(COUNT, SEQ, PREDS, seed=4))
    skipper = CorruptRecordSkipper.scan([clean, other])
    assert skipper.num_skipped == 0
    assert served_ids([clean, other], skipper, records=64) == served_ids([clean, other], records=64)


class CountingSkipper(CorruptRecordSkipper):
    """Notes every file read outside tf.data's traced functions: the pipeline reads inside them, so
    a call with a concrete path is a file read again to count it."""

    def __init__(self, damaged, counts):
        super().__init__(damaged, counts)
        self.counted = []

    def __call__(self, path):
        if tf.executing_eagerly():
            self.counted.append(path.numpy().decode())
        return super().__call__(path)


@pytest.mark.parametrize("skip_batches", [1, 5, 9, 13])
def test_a_resume_with_skipping_continues_the_stream_without_counting_the_files_again(clean, tmp_path,
                                                                                      skip_batches):
    other = write_records(tmp_path / "other.tfrecord", random_arrays(COUNT, SEQ, PREDS, seed=4))
    bad = str(tmp_path / "bad.tfrecord")
    damaged_copy(other, bad, "data")
    files = [bad, clean]
    scanned = CorruptRecordSkipper.scan(files)
    assert scanned.counts == {bad: COUNT - 1, clean: COUNT}
    skipper = CountingSkipper(scanned.damaged, scanned.counts)

    def batches(skip, count):
        dataset = pretraining_dataset(files, 4, SEQ, PREDS, deterministic=True, skip_batches=skip, skipper=skipper)
        return [tuple(row) for batch in dataset.take(count) for row in batch["input_ids"].numpy()]

    # 4 * 13 records: past the damaged file (23 good ones) and the clean one, into the second pass
    assert batches(skip_batches, 3) == batches(0, skip_batches + 3)[4 * skip_batches:]
    assert skipper.counted == [], "the scan's counts were not used: files were read again to count them"


def test_an_unreadable_tail_is_skipped_whole(clean, tmp_path):
    bad = str(tmp_path / "bad.tfrecord")
    data = bytearray(open(clean, "rb").read())
    start = record_offsets(clean)[5]
    data[start:] = np.random.RandomState(0).bytes(len(data) - start)
    open(bad, "wb").write(bytes(data))
    damage = damage_of(bad)
    assert damage.clean_prefix == 5 and damage.spans == [] and damage.bad[0][0] == start
