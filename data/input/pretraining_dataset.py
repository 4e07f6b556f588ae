"""The tf.data pipeline run_pretraining.py trains on: batches of the model's features, sharded per process."""
from typing import Optional, Sequence

import tensorflow as tf

from data.input.records import (InputFileError, check_first_record, check_first_segment_ids, first_example,
                                ordered_records, parse_checked, records_with_origin, shuffled_records)
from data.record_schema import ID_FEATURES, WORD_IDS, masked_lengths


def check_record_lengths(path: str, max_seq_length: int, max_predictions_per_seq: int,
                         vocab_size: Optional[int] = None, type_vocab_size: Optional[int] = None) -> None:
    """Reads the first record of `path` and says which feature has which length, if any is wrong,
    or which id does not fit `vocab_size` (token ids) or `type_vocab_size` (segment ids).

    A quick look before the model is built, so that a wrong file (or wrong flags, or a config
    smaller than the vocabulary the data was written with) is reported at once; every later record
    is checked as it is read (`_decoder`, `_vocab_check`: on a GPU an id past the embedding table
    would otherwise read zeros).
    """
    feature = first_example(path).features.feature
    expected = masked_lengths(max_seq_length, max_predictions_per_seq)
    if WORD_IDS in feature and any(name not in feature for name in expected):  # unmasked records
        raise InputFileError(f"{path}: holds unmasked records (written with create_pretraining_data.py "
                             f"--dynamic_masking): train with --dynamic_masking (and --vocab_file)")
    check_first_record(path, feature, expected)
    if vocab_size is not None:
        largest = max(max(feature[name].int64_list.value, default=0) for name in ID_FEATURES)
        if largest >= vocab_size:
            raise InputFileError(f"{path}: record 0 holds token id {largest}, but the model config's vocab_size is "
                                 f"{vocab_size}: the data was written with a larger vocabulary; use a config "
                                 f"whose vocab_size covers it")
    if type_vocab_size is not None:
        check_first_segment_ids(path, feature, type_vocab_size)


def _decoder(max_seq_length: int, max_predictions_per_seq: int):
    """Parses a batch of (file, index, record) and checks every record's lengths (`parse_checked`)."""
    expected = masked_lengths(max_seq_length, max_predictions_per_seq)

    def decode(paths, indices, records):
        return parse_checked(paths, indices, records, expected)

    return decode


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
                        seed: int = 12345, masking=None, skipper=None,
                        type_vocab_size: Optional[int] = None) -> tf.data.Dataset:
    """Batches of feature dicts (int32 ids, float32 weights).

    Each of `num_shards` processes reads its share of every file: the records whose index in their
    file is shard_index modulo num_shards (data.input.records.records_with_origin), so the shares
    are disjoint, every process mixes files, and there may be fewer files than processes.
    Training: this process's records, repeated, batches of a fixed size. As the original: file
    order shuffled, records interleaved from several files and shuffled in a 100-record buffer
    (`num_cpu_threads` files read in parallel: the run passes its process's share of the host's
    cores).
    With `deterministic`: files and records in order, no shuffling, and `skip_batches` batches
    skipped (to resume exactly: whole files by their record counts, then the rest of one file,
    before anything is parsed). Evaluation: every record of this process's share once, in order,
    the last batch possibly smaller.

    With `masking` (a data.input.dynamic_masking.DynamicMasking) the files hold unmasked records of
    create_pretraining_data.py --dynamic_masking and the masks are drawn here, anew every time a
    record is read; the batches have the same features.

    With `skipper` (a data.input.corrupt_records.CorruptRecordSkipper) the corrupt records it
    found are stepped over; without one a corrupt record stops the reading with TensorFlow's error.

    `vocab_size` and `type_vocab_size`, the model config's: the first record of every file is
    checked against both before anything is read, every token id of every record as it is read.
    """
    files = list(input_files)
    if masking is not None:
        dataset = masking.dataset(files, batch_size, max_seq_length, max_predictions_per_seq, is_training,
                                  deterministic, skip_batches, shard_index, num_cpu_threads, seed, num_shards,
                                  read=skipper, type_vocab_size=type_vocab_size)
        dataset = dataset.map(_vocab_check(vocab_size)) if vocab_size is not None else dataset
        return dataset.prefetch(tf.data.AUTOTUNE)
    for path in files:
        check_record_lengths(path, max_seq_length, max_predictions_per_seq, vocab_size, type_vocab_size)

    read = skipper  # its records, and its counts of them for a resume
    if not is_training:
        records = tf.data.Dataset.from_tensor_slices(files).flat_map(
            lambda path: records_with_origin(path, num_shards, shard_index, read))
    elif deterministic:
        records = ordered_records(files, skip_batches * batch_size, num_shards, shard_index, read)
    else:
        records = shuffled_records(files, num_cpu_threads, seed, num_shards, shard_index, read)
    dataset = records.batch(batch_size, drop_remainder=is_training)
    dataset = dataset.map(_decoder(max_seq_length, max_predictions_per_seq),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if vocab_size is not None:
        dataset = dataset.map(_vocab_check(vocab_size))
    return dataset.prefetch(tf.data.AUTOTUNE)
