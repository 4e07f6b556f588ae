"""Writing small pretraining TFRecords (the original's schema) for tests."""
from typing import Dict

import numpy as np
import tensorflow as tf

from data.record_schema import FLOAT_FEATURES
from tests.helpers import smallest_config, write_config


def write_records(path, arrays: Dict[str, np.ndarray]) -> str:
    """One record per row of the arrays (each [n, length])."""
    count = len(next(iter(arrays.values())))
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i in range(count):
            feature = {}
            for name, values in arrays.items():
                row = np.asarray(values[i]).reshape(-1)
                if name in FLOAT_FEATURES:
                    feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=row.astype(np.float32)))
                else:
                    feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=row.astype(np.int64)))
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return str(path)


def random_arrays(n, seq=16, preds=4, vocab=50, seed=0, full_weights=True):
    """Random but well-formed examples; full_weights makes every example weigh the same in the MLM loss."""
    rng = np.random.RandomState(seed)
    lengths = np.full(n, seq) if full_weights else rng.randint(seq // 2, seq + 1, size=n)
    mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)
    positions = np.stack([np.sort(rng.choice(np.arange(1, seq // 2), preds, replace=False)) for _ in range(n)])
    return {
        "input_ids": rng.randint(5, vocab, size=(n, seq)) * mask,
        "input_mask": mask,
        "segment_ids": (np.arange(seq)[None, :] >= seq // 2).astype(np.int64) * mask,
        "masked_lm_positions": positions,
        "masked_lm_ids": rng.randint(5, vocab, size=(n, preds)),
        "masked_lm_weights": np.ones((n, preds), np.float32),
        "next_sentence_labels": rng.randint(0, 2, size=(n, 1)),
    }


def tiny_config(path, vocab=50, dropout=0.0, seq=64):
    """A 2-layer config file for the pretraining runs (relative positions up to the original's 64)."""
    config = smallest_config(vocab_size=vocab, num_hidden_layers=2, hidden_dropout_prob=dropout,
                             attention_probs_dropout_prob=dropout, max_position_embeddings=seq, max_relative_position=64)
    return write_config(config, path)
