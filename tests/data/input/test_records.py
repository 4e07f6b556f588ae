"""data/input/records.py: the input files, and a file that is not pretraining records said clearly."""

import pytest
import tensorflow as tf

from data.input.records import InputFileError, check_first_record, expand_input_files, first_example
from data.record_schema import masked_lengths


def test_input_patterns_expand_sorted_in_the_order_given(tmp_path):
    for name in ("b.tfrecord", "a.tfrecord", "c.txt"):
        (tmp_path / name).write_bytes(b"")
    files = expand_input_files(f"{tmp_path}/*.tfrecord, {tmp_path}/c.txt")
    assert files == [str(tmp_path / "a.tfrecord"), str(tmp_path / "b.tfrecord"), str(tmp_path / "c.txt")]
    with pytest.raises(InputFileError, match="no input file given"):
        expand_input_files(" , ")
    with pytest.raises(InputFileError, match=r"no file matches --input_file=.*nothing\*"):
        expand_input_files(f"{tmp_path}/nothing*")


def test_files_that_are_not_pretraining_records_are_named(tmp_path):
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    with pytest.raises(InputFileError, match="empty.tfrecord: holds no record"):
        first_example(str(empty))
    text = tmp_path / "text.tfrecord"
    text.write_text("not a record file\n" * 10)
    with pytest.raises(InputFileError, match="text.tfrecord: cannot read as TFRecord"):
        first_example(str(text))
    other = tmp_path / "other.tfrecord"
    with tf.io.TFRecordWriter(str(other)) as writer:
        feature = {"label": tf.train.Feature(int64_list=tf.train.Int64List(value=[1]))}
        writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    with pytest.raises(InputFileError, match="other.tfrecord: record 0 has no feature 'input_ids'"):
        check_first_record(str(other), first_example(str(other)).features.feature, masked_lengths(8, 2))
