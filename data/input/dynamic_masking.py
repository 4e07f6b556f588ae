"""Dynamic whole-word masking in tf.data (RoBERTa / MacBERT style), from unmasked records.

The records are `create_pretraining_data.py --dynamic_masking`'s (data/record_schema.py):
unmasked ids plus each position's word number. Every time a record is read, a mask is drawn
with the static generator's rule (../shared/specs/create_pretraining_data.md, section 4):

- the candidates are whole words (word number > 0: never [CLS], [SEP] or padding), shuffled;
- num_to_predict = min(max_predictions_per_seq, max(1, round(n_tokens * masked_lm_prob))), with
  n_tokens counting [CLS] and [SEP] and Python's round (half to even);
- words are taken in the shuffled order; a word that would exceed num_to_predict is skipped;
- each chosen position becomes [MASK] with probability 0.8, stays itself with 0.1, and becomes a
  random id with 0.1, drawn uniformly from the whole vocabulary as the original's
  `vocab_words[randint(0, len(vocab_words) - 1)]` (special and [unused] tokens included);
- the predictions are sorted by position and zero-padded to max_predictions_per_seq,

giving the features the model takes from masked records (input_ids with the replacements,
masked_lm_positions, masked_lm_ids, masked_lm_weights, ...). Everything is TensorFlow ops inside
the tf.data graph: stateless draws of random bits (per record or per batch, see below), then the
selection vectorised over the batch (the greedy skip-if-too-long walk over the shuffled words is a short while_loop of
whole-batch rounds, see chosen_words).

Randomness: a record's bits come from a stateless generator seeded with (seed, a key of three
numbers). With `deterministic` (and for evaluation) the key is (epoch, hash of the file's base
name, index of the record in its file): the same seed gives the same masks whatever the number
of processes or the batch size, another epoch other masks, and a resumed run that skips the
consumed records continues the exact mask stream. Without it the records come interleaved and
shuffled as in the static pipeline (an order that is not reproducible), and the bits of a whole
batch are drawn at once (a per-record map would cost more than all the rest) with a seed taken
from a random stream seeded by (seed, rank, `stream`), where run_pretraining.py passes the number
of batches consumed before a resume: every rank has its own stream, and a resumed run draws masks
it has not drawn before (not the ones an uninterrupted run would have drawn).
"""
import dataclasses
import hashlib
import os
from typing import Dict, Optional, Sequence, Tuple

import tensorflow as tf

from data.input.records import (InputFileError, check_first_record, check_first_segment_ids, first_example,
                                parse_checked, records_with_origin, shuffled_records, stream_position)
from data.record_schema import MASKED_ONLY_FEATURE, WORD_IDS, unmasked_lengths
from data.tokenization import VocabularyError, load_vocab

MASK_TOKEN = "[MASK]"
# Rows of random bits drawn per record, one value per position each.
_WORD_ORDER, _MASK_OR_NOT, _KEEP_OR_RANDOM, _RANDOM_ID = range(4)
_NUM_DRAWS = 4
_FRACTION_BITS = 53  # a float64 uniform in [0, 1) from the low 53 bits


@dataclasses.dataclass(frozen=True)
class DynamicMasking:
    """What the masks are drawn with (see the module docstring)."""

    mask_id: int
    replacement_ids: Tuple[int, ...] = dataclasses.field(repr=False)  # a random replacement: one of these, uniformly
    masked_lm_prob: float = 0.15
    seed: int = 12345
    stream: int = 0  # without `deterministic`: which random stream (the batches consumed before a resume)

    @classmethod
    def from_vocab_file(cls, vocab_file: str, masked_lm_prob: float = 0.15, seed: int = 12345,
                        model_vocab_size: Optional[int] = None) -> "DynamicMasking":
        """[MASK]'s id and the replacement ids from the vocabulary the records were written with."""
        if not vocab_file:
            raise InputFileError("--dynamic_masking needs --vocab_file (the vocabulary the records were written "
                                 "with): [MASK]'s id and the ids of random replacements come from it")
        try:
            vocab = load_vocab(vocab_file)
        except VocabularyError as error:
            raise InputFileError(str(error)) from None
        if MASK_TOKEN not in vocab:
            raise InputFileError(f"{vocab_file}: the vocabulary has no {MASK_TOKEN} token")
        if model_vocab_size is not None and len(vocab) > model_vocab_size:
            raise InputFileError(f"{vocab_file} has {len(vocab)} tokens but the model config's vocab_size is "
                                 f"{model_vocab_size}: random replacements would fall outside the embedding table")
        if not 0.0 < masked_lm_prob <= 1.0:
            raise InputFileError(f"masked_lm_prob={masked_lm_prob} must be in (0, 1]")
        # The original draws from list(vocab.keys()): one entry per distinct token, with its id.
        return cls(mask_id=vocab[MASK_TOKEN], replacement_ids=tuple(vocab.values()), masked_lm_prob=masked_lm_prob,
                   seed=seed)

    def dataset(self, files: Sequence[str], batch_size: int, max_seq_length: int, max_predictions_per_seq: int,
                is_training: bool = True, deterministic: bool = False, skip_batches: int = 0, shard_index: int = 0,
                num_cpu_threads: int = 4, shuffle_seed: int = 12345, num_shards: int = 1,
                read=None, type_vocab_size: Optional[int] = None) -> tf.data.Dataset:
        """Batches of the model's features from this process's share of the unmasked record files
        (see pretraining_dataset; `read` as records_with_origin's)."""
        for path in files:
            check_unmasked_records(path, max_seq_length, type_vocab_size)
        expected = unmasked_lengths(max_seq_length)

        def decode_and_mask(paths, indices, records, bits):
            features = parse_checked(paths, indices, records, expected)
            return self.mask(features, bits, max_predictions_per_seq)

        files = list(files)
        if is_training and not deterministic:
            # Nothing here is reproducible record by record (the interleave is not), so one draw per
            # batch serves: a per-record map would cost more than the rest of the pipeline.
            records = shuffled_records(files, num_cpu_threads, shuffle_seed, num_shards, shard_index, read)
            records = records.batch(batch_size, drop_remainder=True)
            salts = tf.data.Dataset.random(seed=self._stream_seed(shard_index))
            seed = tf.constant(self.seed, tf.int64)

            def draw_and_mask(batch, salt):
                bits = _random_bits([batch_size], tf.stack([salt, seed]), max_seq_length)
                return decode_and_mask(*batch, bits)

            return tf.data.Dataset.zip((records, salts)).map(draw_and_mask, num_parallel_calls=tf.data.AUTOTUNE,
                                                             deterministic=True)
        keyed = _keyed_records(files, is_training, self.seed, max_seq_length, batch_size * skip_batches,
                               num_shards, shard_index, read)
        dataset = keyed.batch(batch_size, drop_remainder=is_training)
        return dataset.map(decode_and_mask, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def _stream_seed(self, shard_index: int) -> int:
        digest = hashlib.sha256(f"{self.seed}:{shard_index}:{self.stream}".encode()).digest()
        return int.from_bytes(digest[:7], "little")

    def mask(self, features: Dict[str, tf.Tensor], bits: tf.Tensor, max_predictions_per_seq: int
             ) -> Dict[str, tf.Tensor]:
        """The masked features of a batch of unmasked ones, given each record's random bits [B, 4, L]."""
        return mask_batch(features, bits, self.mask_id, self.replacement_ids, self.masked_lm_prob,
                          max_predictions_per_seq)


def _file_key(path: str) -> int:
    """A record's file in its mask seed: a hash of the base name (so moving the data keeps the masks)."""
    return int.from_bytes(hashlib.sha256(os.path.basename(path).encode()).digest()[:7], "little")


def _random_bits(shape, seed, max_seq_length):
    return tf.random.stateless_uniform([*shape, _NUM_DRAWS, max_seq_length], seed=seed, minval=None, maxval=None,
                                       dtype=tf.int64)


def _keyed_records(files, is_training, seed, max_seq_length, skip_records, num_shards, shard_index, read=None):
    """(file, index, record, its random bits) of this shard's records in order, the bits drawn with
    the key (epoch, file, index). A resumed run passes over whole epochs and files by their record
    counts (stream_position): nothing before its position is read but to count it, or drawn for."""
    keys = [_file_key(f) for f in files]
    base_seed = tf.constant([seed, 0], tf.int64)

    def records_of(epoch):
        def one_file(path, file_key, skip=0):
            def with_bits(path, index, record):
                record_seed = base_seed
                for part in (epoch, file_key, index):
                    record_seed = tf.random.experimental.stateless_fold_in(record_seed, part)
                return path, index, record, _random_bits([], record_seed, max_seq_length)
            return records_with_origin(path, num_shards, shard_index, read).skip(skip).map(with_bits)
        return one_file

    names = tf.data.Dataset.from_tensor_slices((files, tf.constant(keys, tf.int64)))
    if not is_training:
        return names.flat_map(records_of(tf.constant(0, tf.int64)))
    epoch, first, offset = stream_position(files, skip_records, num_shards, shard_index, read) if skip_records else (0, 0, 0)
    skips = [offset] + [0] * (len(files) - first - 1)
    partial = tf.data.Dataset.from_tensor_slices(
        (files[first:], tf.constant(keys[first:], tf.int64), tf.constant(skips, tf.int64)))
    partial = partial.flat_map(records_of(tf.constant(epoch, tf.int64)))
    later = tf.data.Dataset.counter(start=epoch + 1).flat_map(lambda e: names.flat_map(records_of(e)))
    return partial.concatenate(later)


def num_to_predict(num_tokens: tf.Tensor, masked_lm_prob: float, max_predictions_per_seq: int) -> tf.Tensor:
    """min(max_predictions, max(1, round(n * p))) as the original computes it (float64, half to even)."""
    rounded = tf.cast(tf.math.round(tf.cast(num_tokens, tf.float64) * masked_lm_prob), tf.int32)
    return tf.minimum(max_predictions_per_seq, tf.maximum(1, rounded))


def _uniform(bits: tf.Tensor) -> tf.Tensor:
    low = tf.bitwise.bitwise_and(bits, (1 << _FRACTION_BITS) - 1)
    return tf.cast(low, tf.float64) * (2.0 ** -_FRACTION_BITS)


def chosen_words(word_lengths: tf.Tensor, order_keys: tf.Tensor, budget: tf.Tensor) -> tf.Tensor:
    """[B, W] bool: which words the static generator's greedy walk takes.

    word_lengths [B, W] (0: no such word), order_keys [B, W] (the walk visits words by increasing
    key), budget [B]. The walk takes a word when it still fits (taken so far + its length <=
    budget) and skips it otherwise. Done in rounds rather than word by word: with capacity c left,
    words longer than c can never be taken; of the others, the walk takes every word up to the
    first whose running sum exceeds c, which it skips; the next round starts there with the
    smaller capacity. Each round takes at least one word, so there are at most budget rounds
    (two or three in practice) of whole-batch operations.
    """
    width = tf.shape(word_lengths)[1]
    exists = word_lengths > 0
    order = tf.argsort(tf.where(exists, order_keys, tf.int64.max), axis=1, stable=True)
    walk = tf.gather(word_lengths, order, batch_dims=1)
    step = tf.range(width)[None, :]

    def eligible(start, capacity):
        return (step >= start[:, None]) & (walk > 0) & (walk <= capacity[:, None])

    def unfinished(start, capacity, _):
        return tf.reduce_any(eligible(start, capacity))

    def walk_round(start, capacity, taken):
        candidates = eligible(start, capacity)
        running = tf.cumsum(tf.where(candidates, walk, 0), axis=1)
        take = candidates & (running <= capacity[:, None])
        first_skipped = tf.reduce_min(tf.where(candidates & (running > capacity[:, None]), step, width), axis=1)
        return first_skipped, capacity - tf.reduce_sum(tf.where(take, walk, 0), axis=1), taken | take

    _, _, taken_in_walk = tf.while_loop(
        unfinished, walk_round, (tf.zeros_like(budget), budget, tf.zeros_like(word_lengths, tf.bool)))
    # Back from walk order to word order: word w was visited at step inverse[w].
    return tf.gather(taken_in_walk, tf.argsort(order, axis=1), batch_dims=1)


def mask_batch(features: Dict[str, tf.Tensor], bits: tf.Tensor, mask_id: int, replacement_ids: Sequence[int],
               masked_lm_prob: float, max_predictions_per_seq: int) -> Dict[str, tf.Tensor]:
    """Masked features of a batch of unmasked ones (int32 [B, L] each), from random bits [B, 4, L] int64."""
    input_ids, words = features["input_ids"], features[WORD_IDS]
    batch = tf.shape(input_ids)[0]
    seq_length = input_ids.shape[1]
    if seq_length is None:
        raise ValueError("mask_batch needs a static sequence length")
    bits = tf.ensure_shape(bits, [None, _NUM_DRAWS, seq_length])
    with tf.control_dependencies([tf.debugging.assert_less(
            words, seq_length, message="a word number is >= max_seq_length: the record is not what "
                                       "create_pretraining_data.py --dynamic_masking writes")]):
        words = tf.identity(words)
    budget = num_to_predict(tf.reduce_sum(features["input_mask"], axis=1), masked_lm_prob, max_predictions_per_seq)

    # Word w's length (w in 1..L-1; the number 0 marks positions never masked).
    flat = words + seq_length * tf.range(batch)[:, None]
    lengths = tf.reshape(tf.math.unsorted_segment_sum(tf.ones_like(words), flat, batch * seq_length),
                         [batch, seq_length])
    lengths *= tf.cast(tf.range(seq_length) > 0, tf.int32)[None, :]
    taken_words = chosen_words(lengths, bits[:, _WORD_ORDER, :], budget)
    selected = tf.logical_and(tf.gather(taken_words, words, batch_dims=1), words > 0)

    # Predictions by position: the selected positions first (in order), then the unselected.
    positions = tf.range(seq_length)[None, :]
    by_position = tf.sort(tf.where(selected, positions, seq_length + positions), axis=1)
    width = min(max_predictions_per_seq, seq_length)
    first = by_position[:, :width]
    valid = first < seq_length
    masked_positions = tf.where(valid, first, 0)
    masked_ids = tf.where(valid, tf.gather(input_ids, masked_positions, batch_dims=1), 0)
    pad = [[0, 0], [0, max_predictions_per_seq - width]]

    table = tf.constant(replacement_ids, tf.int32)
    random_index = tf.math.floormod(tf.bitwise.bitwise_and(bits[:, _RANDOM_ID, :], (1 << 62) - 1), len(replacement_ids))
    random_ids = tf.gather(table, tf.cast(random_index, tf.int32))
    replacement = tf.where(_uniform(bits[:, _MASK_OR_NOT, :]) < 0.8, mask_id,
                           tf.where(_uniform(bits[:, _KEEP_OR_RANDOM, :]) < 0.5, input_ids, random_ids))
    return {
        "input_ids": tf.where(selected, replacement, input_ids),
        "input_mask": features["input_mask"],
        "segment_ids": features["segment_ids"],
        "masked_lm_positions": tf.pad(masked_positions, pad),
        "masked_lm_ids": tf.pad(masked_ids, pad),
        "masked_lm_weights": tf.pad(tf.cast(valid, tf.float32), pad),
        "next_sentence_labels": features["next_sentence_labels"],
    }


def check_unmasked_records(path: str, max_seq_length: int, type_vocab_size: Optional[int] = None) -> None:
    """Says clearly when `path` holds masked (static) records, or records of another length, or
    segment ids past `type_vocab_size`."""
    feature = first_example(path).features.feature
    if WORD_IDS not in feature:
        if MASKED_ONLY_FEATURE in feature:
            raise InputFileError(
                f"{path}: holds masked records (written without --dynamic_masking), but --dynamic_masking "
                f"draws the masks itself from unmasked records: train without --dynamic_masking, or write the "
                f"data with create_pretraining_data.py --dynamic_masking")
        raise InputFileError(f"{path}: record 0 has no feature {WORD_IDS!r}: not a record of "
                             f"create_pretraining_data.py --dynamic_masking")
    check_first_record(path, feature, unmasked_lengths(max_seq_length))
    if type_vocab_size is not None:
        check_first_segment_ids(path, feature, type_vocab_size)
