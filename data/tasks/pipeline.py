"""tf.data input pipelines built from in-memory task features (the fine-tuning sets are small).

Features are stored padded to max_seq_length. By default (`pad_to_multiple`) each batch is cut
back to its own longest example rounded up to a multiple of 8, so that the compute follows the text
and not the padding; the cut positions are padding (mask 0) in every example of the batch, so no
result changes. A compiled step then sees at most max_seq_length / 8 sequence lengths.
"""

import dataclasses

import numpy as np
import tensorflow as tf

# Batches are padded to a multiple of this: few enough distinct shapes for XLA and for kernels.
PAD_MULTIPLE = 8
# --group_by_length sorts by length within chunks of this many batches of a shuffled epoch, so
# that batches hold similar lengths while the epoch's order stays random between chunks.
GROUP_CHUNK_BATCHES = 50


def features_to_arrays(features, int_fields):
    """A list of feature dataclasses -> dict of int32 numpy arrays, one per named field."""
    if not features:
        raise ValueError("no features to build a dataset from")
    columns = {name: [] for name in int_fields}
    for feature in features:
        values = dataclasses.asdict(feature)
        for name in int_fields:
            columns[name].append(values[name])
    return {name: np.asarray(column, dtype=np.int32) for name, column in columns.items()}


def example_lengths(arrays):
    """Each example's length in word pieces ([CLS] and [SEP] included): the ones of its input_mask."""
    return np.asarray(arrays["input_mask"], dtype=np.int64).sum(axis=1)


def round_up(lengths, multiple, max_length):
    """Lengths rounded up to a multiple of `multiple`, never beyond max_length (numpy)."""
    return np.minimum(-(-np.asarray(lengths) // multiple) * multiple, max_length)


def padded_lengths(arrays, batch_size, multiple=PAD_MULTIPLE):
    """The padded length of every batch of arrays read in order (evaluation and prediction)."""
    lengths = example_lengths(arrays)
    width = arrays["input_mask"].shape[1]
    longest = [lengths[i:i + batch_size].max() for i in range(0, len(lengths), batch_size)]
    return round_up(np.asarray(longest), multiple, width)


def possible_padded_lengths(arrays, multiple=PAD_MULTIPLE):
    """Every length a batch of these examples can be padded to, in any order: a batch's padded
    length is that of its longest example, so at most one per distinct rounded example length."""
    return sorted(set(int(n) for n in round_up(example_lengths(arrays), multiple, arrays["input_mask"].shape[1])))


def trim_to_longest(batch, multiple):
    """A batch with every [batch, seq] field cut to its longest example's length rounded up to
    `multiple` (at most the stored length); other fields (labels of rank 1) unchanged."""
    mask = batch["input_mask"]
    width = tf.shape(mask)[1]
    longest = tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1))
    length = tf.minimum((longest + multiple - 1) // multiple * multiple, width)
    return {name: value[:, :length] if value.shape.rank == 2 else value for name, value in batch.items()}


def make_dataset(arrays, batch_size, training, seed=12345, shard=None, consumed_batches=0,
                 pad_to_multiple=None, group_by_length=False):
    """Batches of feature dicts; training data is repeated and shuffled (the original's
    buffer of 100), evaluation data read once in order and the last partial batch kept.

    shard: optional (num_shards, index) so that each Horovod process reads its own part.
    consumed_batches: training batches already consumed (by a run being resumed); the stream
    starts after them. Each epoch is shuffled with a seed drawn from (seed, epoch) alone, so the
    order is the same in every run with that seed, and a resumed run skips whole epochs without
    reading them and continues the interrupted epoch where it stopped: no example is seen twice.
    pad_to_multiple: None keeps every batch at the stored length (max_seq_length, the original's
    shapes); a number cuts each batch to its longest example rounded up to that multiple.
    group_by_length (training): batches of examples of similar length, in shuffled order; every
    example is still read once per epoch, but batches are composed differently (other numbers).
    """
    if shard is not None and shard[0] > 1:
        arrays = {name: value[shard[1]::shard[0]] for name, value in arrays.items()}
    if training and group_by_length:
        batches = grouped_stream(arrays, batch_size, seed, consumed_batches)
    else:
        batches = shuffled_stream(arrays, batch_size, seed, consumed_batches) if training else \
            tf.data.Dataset.from_tensor_slices(arrays).batch(batch_size)
    if pad_to_multiple:
        batches = batches.map(lambda batch: trim_to_longest(batch, pad_to_multiple))
    return batches.prefetch(2)


def stream_start(num_examples, batch_size, consumed_batches):
    """(first epoch, examples of it already read) of a stream that has served consumed_batches."""
    consumed = consumed_batches * batch_size
    return divmod(consumed, num_examples) if num_examples > 0 else (0, 0)


def shuffled_stream(arrays, batch_size, seed, consumed_batches):
    """The original's shuffling (a buffer of 100) per epoch, epochs back to back, full batches."""
    dataset = tf.data.Dataset.from_tensor_slices(arrays)
    first_epoch, offset = stream_start(int(dataset.cardinality()), batch_size, consumed_batches)

    def epoch(index):
        return dataset.shuffle(100, seed=epoch_seed(seed, index), reshuffle_each_iteration=False)

    stream = tf.data.Dataset.range(first_epoch, EPOCHS_UNBOUNDED).flat_map(epoch).skip(offset)
    return stream.batch(batch_size, drop_remainder=True)


def grouped_epoch_order(lengths, batch_size, epoch_seed_value, head):
    """One epoch's example order for --group_by_length: a seeded permutation whose first `head`
    examples complete the batch the previous epoch left open, then whole batches of similar
    length (sorted by length within chunks of GROUP_CHUNK_BATCHES batches) in shuffled order,
    then the examples left over for the next epoch's first batch. Every index appears once."""
    num_examples = tf.shape(lengths, out_type=tf.int64)[0]
    seed = tf.stack([epoch_seed_value, tf.constant(0, tf.int64)])
    permutation = tf.argsort(tf.random.stateless_uniform([num_examples], seed=seed), stable=True)
    permutation = tf.cast(permutation, tf.int64)
    body = permutation[head:]
    whole = tf.size(body, out_type=tf.int64) // batch_size * batch_size
    grouped = body[:whole]
    chunk = tf.range(whole) // (batch_size * GROUP_CHUNK_BATCHES)
    keys = chunk * (tf.reduce_max(lengths) + 1) + tf.gather(lengths, grouped)
    grouped = tf.gather(grouped, tf.argsort(keys, stable=True))
    rows = tf.reshape(grouped, [-1, batch_size])
    row_seed = tf.stack([epoch_seed_value, tf.constant(1, tf.int64)])
    rows = tf.gather(rows, tf.argsort(tf.random.stateless_uniform([tf.shape(rows)[0]], seed=row_seed)))
    return tf.concat([permutation[:head], tf.reshape(rows, [-1]), body[whole:]], axis=0)


def grouped_stream(arrays, batch_size, seed, consumed_batches):
    """Epochs of grouped_epoch_order back to back, in full batches aligned across epochs, so that
    a resumed run continues exactly as --group_by_length's uninterrupted stream."""
    lengths = tf.constant(example_lengths(arrays), tf.int64)
    num_examples = len(lengths)
    first_epoch, offset = stream_start(num_examples, batch_size, consumed_batches)
    tables = {name: tf.constant(value) for name, value in arrays.items()}

    def epoch(index):
        # the stream's batches start every batch_size examples from the start of epoch 0
        head = tf.minimum((batch_size - (index * num_examples) % batch_size) % batch_size, num_examples)
        order = grouped_epoch_order(lengths, batch_size, epoch_seed(seed, index), head)
        return tf.data.Dataset.from_tensor_slices(order)

    indexes = tf.data.Dataset.range(first_epoch, EPOCHS_UNBOUNDED).flat_map(epoch).skip(offset)
    return indexes.batch(batch_size, drop_remainder=True).map(
        lambda rows: {name: tf.gather(table, rows) for name, table in tables.items()})


# tf.data has no infinite range; no run reaches this many epochs.
EPOCHS_UNBOUNDED = 2 ** 62


def epoch_seed(seed, epoch):
    """The shuffling seed of one epoch: a function of the run's seed and the epoch only."""
    return tf.cast(seed, tf.int64) * 1000003 + tf.cast(epoch, tf.int64)
