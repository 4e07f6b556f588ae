"""Reading pretraining TFRecords: the input files, each record with its origin, parsed and checked against the schema.

Shared by the pipeline over masked records (data/input/pretraining_dataset.py) and the one that
masks unmasked records (data/input/dynamic_masking.py); the features and their lengths are
data/record_schema.py's.
"""
import functools
from typing import Dict, List, Sequence, Tuple, Union

import tensorflow as tf

from data.record_schema import FLOAT_FEATURES, Lengths, dtype_name


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


def tf_dtype(feature: str) -> tf.dtypes.DType:
    """The dtype `feature` is stored with in the records (data/record_schema.py)."""
    return tf.as_dtype(dtype_name(feature))


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


def check_first_record(path: str, feature, expected: Lengths) -> None:
    """Says which feature of `path`'s first record (its `features.feature` map) is absent or has
    another length than `expected` (feature -> (length, what sets it), data/record_schema.py's)."""
    for name, (length, source) in expected.items():
        if name not in feature:
            raise InputFileError(f"{path}: record 0 has no feature {name!r}: not a pretraining record")
        found = len(feature[name].float_list.value) if name in FLOAT_FEATURES else len(feature[name].int64_list.value)
        if found != length:
            raise InputFileError(f"{path}: record 0 has {name} of length {found}, but {source} is {length}")


def check_first_segment_ids(path: str, feature, type_vocab_size: int) -> None:
    """Says when the segment ids of `path`'s first record (its `features.feature` map) do not fit the
    model config's token-type table: on a GPU such an id reads a row of zeros instead of failing, so
    sentence pairs with a type_vocab_size of 1 would train silently wrong."""
    largest = max(feature["segment_ids"].int64_list.value, default=0)
    if largest >= type_vocab_size:
        raise InputFileError(f"{path}: record 0 has segment id {largest}, but the model config's type_vocab_size is "
                             f"{type_vocab_size} (sentence pairs need at least 2): use a config whose "
                             f"type_vocab_size covers it")


def shuffled_records(files: Sequence[str], num_cpu_threads: int, seed: int, num_shards: int = 1,
                     shard_index: int = 0, read=None) -> tf.data.Dataset:
    """(file, index, record) in the original's training order: files shuffled and repeated, records
    interleaved from several files and shuffled in a 100-record buffer. Each of `num_shards`
    processes reads its share of every file (`records_with_origin`), so every process mixes files."""
    names = tf.data.Dataset.from_tensor_slices(list(files)).repeat().shuffle(len(files), seed=seed)
    records = names.interleave(lambda path: records_with_origin(path, num_shards, shard_index, read),
                               cycle_length=min(num_cpu_threads, len(files)),
                               num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    return records.shuffle(100, seed=seed)


def records_with_origin(path, num_shards: int = 1, shard_index: int = 0, read=None):
    """The records of one file, each with its file name and index, so that a bad one can be named.

    `read` (a file name tensor -> its records) replaces TFRecordDataset, e.g. to step over corrupt
    records (data/input/corrupt_records.py); the index then counts the records served.

    With several shards (processes), shard `shard_index` takes the records whose index in the file
    is shard_index modulo num_shards: disjoint shares that together hold every record, whatever
    the number of files, and each process reads from every file.
    """
    records = (read or tf.data.TFRecordDataset)(path)
    records = tf.data.Dataset.zip((tf.data.Dataset.from_tensors(path).repeat(), tf.data.Dataset.range(2**62), records))
    return records.shard(num_shards, shard_index) if num_shards > 1 else records


@functools.lru_cache(maxsize=None)
def _count_records(path: str, size: int, mtime: float) -> int:
    del size, mtime  # in the key only: a rewritten file is counted again
    try:
        return int(tf.data.TFRecordDataset(path).reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
    except tf.errors.OpError as error:
        raise InputFileError(f"{path}: cannot read as TFRecord: {error.message}") from None


def count_records(path: str, read=None) -> int:
    """How many records `path` holds: read once per process (without parsing), then cached. With
    `read` (records_with_origin's), how many it serves: its own `count(path)` when it has one (a
    CorruptRecordSkipper counted every file in its scan), else counted through it each call."""
    if read is not None:
        known = getattr(read, "count", None)
        counted = known(path) if known is not None else None
        if counted is not None:
            return counted
        return int(read(tf.constant(path)).reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
    stat = tf.io.gfile.stat(path)
    return _count_records(path, stat.length, stat.mtime_nsec)


def stream_position(files: Sequence[str], skip_records: int, num_shards: int = 1,
                    shard_index: int = 0, read=None) -> Tuple[int, int, int]:
    """Where a shard's stream of `files` (file after file, repeated) stands after `skip_records`
    records: (epoch, index of the file, records of that file's share to skip). Whole epochs and
    whole files are passed over by their record counts, so no skipped file is read but to count it."""
    shares = [len(range(shard_index, count_records(path, read), num_shards)) for path in files]
    total = sum(shares)
    if total == 0:
        raise InputFileError(f"the input files hold no record for process {shard_index} of {num_shards}")
    epoch, rest = divmod(skip_records, total)
    for index, share in enumerate(shares):
        if rest < share:
            return epoch, index, rest
        rest -= share
    raise AssertionError("unreachable: rest < total")


def ordered_records(files: Sequence[str], skip_records: int = 0, num_shards: int = 1,
                    shard_index: int = 0, read=None) -> tf.data.Dataset:
    """(file, index, record) of this shard, file after file, repeated, from record `skip_records` on."""
    def share(path, skip=0):
        return records_with_origin(path, num_shards, shard_index, read).skip(skip)

    epochs = tf.data.Dataset.from_tensor_slices(list(files)).flat_map(share).repeat()
    if skip_records == 0:
        return epochs
    _, first, offset = stream_position(files, skip_records, num_shards, shard_index, read)
    skips = [offset] + [0] * (len(files) - first - 1)
    partial = tf.data.Dataset.from_tensor_slices((list(files[first:]), tf.constant(skips, tf.int64))).flat_map(share)
    return partial.concatenate(epochs)


def parse_checked(paths: tf.Tensor, indices: tf.Tensor, records: tf.Tensor, expected: Lengths) -> Dict[str, tf.Tensor]:
    """A batch of records, the features of `expected` parsed and every record's lengths checked against it.

    Parsed as ragged rows first: a fixed-length parse would fail on a short record with a message
    naming neither the file nor the record. The first bad record of the batch is named in an
    assertion that the training loop turns into a one-line error.
    """
    ragged_spec = {name: tf.io.RaggedFeature(tf_dtype(name)) for name in expected}
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
                    for name in expected}
    # int64 in the files, int32 in the model (as the original; TPUs and XLA prefer it)
    return {name: tf.cast(t, tf.int32) if t.dtype == tf.int64 else t for name, t in features.items()}
