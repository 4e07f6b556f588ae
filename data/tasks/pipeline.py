"""tf.data input pipelines built from in-memory task features (the fine-tuning sets are small)."""

import dataclasses

import numpy as np
import tensorflow as tf


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


def make_dataset(arrays, batch_size, training, seed=12345, shard=None, consumed_batches=0):
    """Batches of feature dicts; training data is repeated and shuffled (the original's
    buffer of 100), evaluation data read once in order and the last partial batch kept.

    shard: optional (num_shards, index) so that each Horovod process reads its own part.
    consumed_batches: training batches already consumed (by a run being resumed); the stream
    starts after them. Each epoch is shuffled with a seed drawn from (seed, epoch) alone, so the
    order is the same in every run with that seed, and a resumed run skips whole epochs without
    reading them and continues the interrupted epoch where it stopped: no example is seen twice.
    """
    dataset = tf.data.Dataset.from_tensor_slices(arrays)
    if shard is not None and shard[0] > 1:
        dataset = dataset.shard(*shard)
    if not training:
        return dataset.batch(batch_size).prefetch(2)
    num_examples = int(dataset.cardinality())
    consumed = consumed_batches * batch_size
    first_epoch, offset = divmod(consumed, num_examples) if num_examples > 0 else (0, 0)

    def epoch(index):
        return dataset.shuffle(100, seed=epoch_seed(seed, index), reshuffle_each_iteration=False)

    stream = tf.data.Dataset.range(first_epoch, EPOCHS_UNBOUNDED).flat_map(epoch).skip(offset)
    return stream.batch(batch_size, drop_remainder=True).prefetch(2)


# tf.data has no infinite range; no run reaches this many epochs.
EPOCHS_UNBOUNDED = 2 ** 62


def epoch_seed(seed, epoch):
    """The shuffling seed of one epoch: a function of the run's seed and the epoch only."""
    return tf.cast(seed, tf.int64) * 1000003 + tf.cast(epoch, tf.int64)
