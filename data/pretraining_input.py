"""tf.data pipeline over the pretraining TFRecords (the original's schema), sharded per process."""
from typing import Dict, List, Optional, Sequence, Union

import tensorflow as tf

SEQUENCE_FEATURES = ("input_ids", "input_mask", "segment_ids")
PREDICTION_FEATURES = ("masked_lm_positions", "masked_lm_ids", "masked_lm_weights")
ID_FEATURES = ("input_ids", "masked_lm_ids")
FLOAT_FEATURES = ("masked_lm_weights",)


class InputFileError(ValueError):
    """The input files are missing or do not match the flags."""


def expand_input_files(patterns: Union[str, Sequence[str]]) -> List[str]:
    """Comma-separated globs (or a list of them) -> the matching files, each glob sorted, in order."""
    if isinstance(patterns, str):
        patterns = patterns.split(",")
    patterns = [p.strip() for p in patterns if p.strip()]
    if not patterns:
        raise InputFileError("no input file given (--input_file is empty)")
    files = []
    for pattern in patterns:
        files.extend(sorted(tf.io.gfile.glob(pattern)))
    if not files:
        raise InputFileError(f"no file matches --input_file={','.join(patterns)}")
    return files


def feature_spec(max_seq_length: int, max_predictions_per_seq: int) -> Dict[str, tf.io.FixedLenFeature]:
    spec = {name: tf.io.FixedLenFeature([max_seq_length], tf.int64) for name in SEQUENCE_FEATURES}
    spec["masked_lm_positions"] = tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64)
    spec["masked_lm_ids"] = tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64)
    spec["masked_lm_weights"] = tf.io.FixedLenFeature([max_predictions_per_seq], tf.float32)
    spec["next_sentence_labels"] = tf.io.FixedLenFeature([1], tf.int64)
    return spec


def expected_lengths(max_seq_length: int, max_predictions_per_seq: int) -> Dict[str, tuple]:
    """feature -> (length every record must have, what sets that length: the flag a user would change)."""
    expected = {name: (max_seq_length, "--max_seq_length") for name in SEQUENCE_FEATURES}
    expected.update({name: (max_predictions_per_seq, "--max_predictions_per_seq") for name in PREDICTION_FEATURES})
    expected["next_sentence_labels"] = (1, "the schema")
    return expected


def first_example(path: str) -> tf.train.Example:
    """The first record of `path` as a tf.train.Example, or an InputFileError saying what it is not."""
    try:
        first = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
    except tf.errors.OpError as error:
        raise InputFileError(f"{path}: cannot read as TFRecord: {error.message}") from None
    if first is None:
        raise InputFileError(f"{path}: holds no record")
    try:
        return tf.train.Example.FromString(first.numpy())
    except Exception as error:  # a protobuf DecodeError: the record is not a tf.train.Example
        raise InputFileError(f"{path}: record 0 is not a tf.train.Example ({error})") from None


def check_first_record(path: str, feature, expected: Dict[str, tuple]) -> None:
    """Says which feature of `path`'s first record (its `features.feature` map) is absent or has
    another length than `expected` (feature -> (length, what sets it), as expected_lengths)."""
    for name, (length, source) in expected.items():
        if name not in feature:
            raise InputFileError(f"{path}: record 0 has no feature {name!r}: not a pretraining record")
        found = len(feature[name].float_list.value) if name in FLOAT_FEATURES else len(feature[name].int64_list.value)
        if found != length:
            raise InputFileError(f"{path}: record 0 has {name} of length {found}, but {source} is {length}")


def check_record_lengths(path: str, max_seq_length: int, max_predictions_per_seq: int) -> None:
    """Reads the first record of `path` and says which feature has which length, if any is wrong.

    A quick look before the model is built, so that a wrong file (or wrong flags) is reported at
    once; every later record is checked as it is read (`_decoder`).
    """
    feature = first_example(path).features.feature
    expected = expected_lengths(max_seq_length, max_predictions_per_seq)
    if "word_ids" in feature and any(name not in feature for name in expected):  # see data/unmasked_instances.py
        raise InputFileError(f"{path}: holds unmasked records (written with create_pretraining_data.py "
                             f"--dynamic_masking): train with --dynamic_masking (and --vocab_file)")
    check_first_record(path, feature, expected)


def shuffled_records(files: Sequence[str], num_cpu_threads: int, seed: int) -> tf.data.Dataset:
    """(file, index, record) in the original's training order: files shuffled and repeated, records
    interleaved from several files and shuffled in a 100-record buffer."""
    names = tf.data.Dataset.from_tensor_slices(list(files)).repeat().shuffle(len(files), seed=seed)
    records = names.interleave(_records_with_origin, cycle_length=min(num_cpu_threads, len(files)),
                               num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    return records.shuffle(100, seed=seed)


def _records_with_origin(path):
    """The records of one file, each with its file name and index, so that a bad one can be named."""
    records = tf.data.TFRecordDataset(path)
    return tf.data.Dataset.zip((tf.data.Dataset.from_tensors(path).repeat(), tf.data.Dataset.range(2**62), records))


def _decoder(max_seq_length: int, max_predictions_per_seq: int):
    """Parses a batch of (file, index, record) and checks every record's lengths (`parse_checked`)."""
    spec = feature_spec(max_seq_length, max_predictions_per_seq)
    expected = expected_lengths(max_seq_length, max_predictions_per_seq)

    def decode(paths, indices, records):
        return parse_checked(paths, indices, records, spec, expected)

    return decode


def parse_checked(paths: tf.Tensor, indices: tf.Tensor, records: tf.Tensor, spec: Dict[str, tf.io.FixedLenFeature],
                  expected: Dict[str, tuple]) -> Dict[str, tf.Tensor]:
    """A batch of records parsed with `spec`, every record's lengths checked against `expected`.

    Parsed as ragged rows first: a fixed-length parse would fail on a short record with a message
    naming neither the file nor the record. The first bad record of the batch is named in an
    assertion that the training loop turns into a one-line error.
    """
    ragged_spec = {name: tf.io.RaggedFeature(feature.dtype) for name, feature in spec.items()}
    parsed = tf.io.parse_example(records, ragged_spec)
    checks = []
    for name, (length, source) in expected.items():
        lengths = parsed[name].row_lengths()
        wrong = tf.not_equal(lengths, length)
        first = tf.argmax(tf.cast(wrong, tf.int32))
        message = tf.strings.join([
            paths[first], ": record ", tf.strings.as_string(indices[first]), f" (counting from 0) has {name} "
            "of length ", tf.strings.as_string(lengths[first]), f", but {source} is {length}"])
        checks.append(tf.debugging.Assert(tf.logical_not(tf.reduce_any(wrong)), [message]))
    with tf.control_dependencies(checks):
        features = {name: tf.identity(parsed[name].to_tensor(shape=[None, expected[name][0]]))
                    for name in spec}
    # int64 in the files, int32 in the model (as the original; TPUs and XLA prefer it)
    return {name: tf.cast(t, tf.int32) if t.dtype == tf.int64 else t for name, t in features.items()}


def _vocab_check(vocab_size: int):
    def check(features):
        largest = tf.reduce_max([tf.reduce_max(features[name]) for name in ID_FEATURES])
        with tf.control_dependencies([tf.debugging.assert_less(
                largest, vocab_size,
                message=f"the data holds a token id >= vocab_size {vocab_size} of the model config: it was "
                        f"written with a larger vocabulary; use a config whose vocab_size covers it. Largest id:")]):
            return {name: tf.identity(t) for name, t in features.items()}
    return check


def pretraining_dataset(input_files: Sequence[str], batch_size: int, max_seq_length: int,
                        max_predictions_per_seq: int, is_training: bool = True, num_shards: int = 1,
                        shard_index: int = 0, deterministic: bool = False, skip_batches: int = 0,
                        vocab_size: Optional[int] = None, num_cpu_threads: int = 4,
                        seed: int = 12345, masking=None) -> tf.data.Dataset:
    """Batches of feature dicts (int32 ids, float32 weights).

    Training: this process's files (files[shard_index::num_shards]), repeated, batches of a fixed
    size. As the original: file order shuffled, records interleaved from several files and
    shuffled in a 100-record buffer. With `deterministic`: files and records in order, no
    shuffling, and `skip_batches` batches skipped (to resume exactly). Evaluation: every record
    of every file once, in order, the last batch possibly smaller.

    With `masking` (a data.dynamic_masking.DynamicMasking) the files hold unmasked records of
    create_pretraining_data.py --dynamic_masking and the masks are drawn here, anew every time a
    record is read; the batches have the same features.
    """
    files = list(input_files)
    if num_shards > 1:
        if len(files) < num_shards:
            raise InputFileError(
                f"{len(files)} input file(s) for {num_shards} processes: each process reads its own files, so "
                f"at least {num_shards} are needed (write the data as more files)")
        files = files[shard_index::num_shards]
    if masking is not None:
        dataset = masking.dataset(files, batch_size, max_seq_length, max_predictions_per_seq, is_training,
                                  deterministic, skip_batches, shard_index, num_cpu_threads, seed)
        dataset = dataset.map(_vocab_check(vocab_size)) if vocab_size is not None else dataset
        return dataset.prefetch(tf.data.AUTOTUNE)
    for path in files:
        check_record_lengths(path, max_seq_length, max_predictions_per_seq)

    names = tf.data.Dataset.from_tensor_slices(files)
    if not is_training:
        records = names.flat_map(_records_with_origin)
    elif deterministic:
        records = names.flat_map(_records_with_origin).repeat().skip(skip_batches * batch_size)
    else:
        records = shuffled_records(files, num_cpu_threads, seed)
    dataset = records.batch(batch_size, drop_remainder=is_training)
    dataset = dataset.map(_decoder(max_seq_length, max_predictions_per_seq),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if vocab_size is not None:
        dataset = dataset.map(_vocab_check(vocab_size))
    return dataset.prefetch(tf.data.AUTOTUNE)
