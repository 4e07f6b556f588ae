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


def make_dataset(arrays, batch_size, training, seed=12345, shard=None):
    """Batches of feature dicts; training data is repeated and shuffled (the original's
    buffer of 100), evaluation data read once in order and the last partial batch kept.

    shard: optional (num_shards, index) so that each Horovod process reads its own part.
    """
    dataset = tf.data.Dataset.from_tensor_slices(arrays)
    if shard is not None and shard[0] > 1:
        dataset = dataset.shard(*shard)
    if training:
        dataset = dataset.repeat().shuffle(100, seed=seed)
        return dataset.batch(batch_size, drop_remainder=True).prefetch(2)
    return dataset.batch(batch_size).prefetch(2)
