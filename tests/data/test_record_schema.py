"""data/record_schema.py: what the writer writes and the readers parse is the schema, for both record kinds."""

import numpy as np
import pytest
import tensorflow as tf

from data.generation.config import GeneratorConfig
from data.generation.encoding import InstanceEncoder, UnmaskedInstanceEncoder
from data.generation.instances import TrainingInstance
from data.input.records import parse_checked
from data.record_schema import (FLOAT_FEATURES, MASKED_FEATURES, MASKED_SERIALIZATION_ORDER, UNMASKED_FEATURES,
                                dtype_name, masked_lengths, unmasked_lengths)

VOCAB = {"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "[MASK]": 3, "a": 4, "##b": 5, "c": 6}
TOKENS = ["[CLS]", "a", "##b", "[SEP]", "c", "[SEP]"]


def _lengths_and_dtypes(record):
    feature = tf.train.Example.FromString(record).features.feature
    found = {}
    for name, value in feature.items():
        kind = value.WhichOneof("kind")
        found[name] = (len(getattr(value, kind).value), "float32" if kind == "float_list" else "int64")
    return found


@pytest.mark.parametrize("kind", ["masked", "unmasked"])
def test_the_writer_writes_the_schemas_features_lengths_and_dtypes(kind):
    if kind == "masked":
        record = InstanceEncoder(VOCAB, 8, 3).encode(TrainingInstance(TOKENS, 4, [1, 4], ["a", "c"], True))
        names, lengths = MASKED_FEATURES, masked_lengths(8, 3)
    else:
        config = GeneratorConfig(max_seq_length=8, do_whole_word_mask=True, dynamic_masking=True)
        record = UnmaskedInstanceEncoder(VOCAB, config).encode(TrainingInstance(TOKENS, 4, [], [], False))
        names, lengths = UNMASKED_FEATURES, unmasked_lengths(8)
    assert list(lengths) == list(names)
    assert _lengths_and_dtypes(record) == {name: (length, dtype_name(name)) for name, (length, _) in lengths.items()}


def test_masked_serialization_order_covers_exactly_the_masked_features():
    assert sorted(MASKED_SERIALIZATION_ORDER) == sorted(MASKED_FEATURES)
    assert FLOAT_FEATURES <= set(MASKED_FEATURES)


def test_the_reader_parses_what_the_writer_wrote():
    record = InstanceEncoder(VOCAB, 8, 3).encode(TrainingInstance(TOKENS, 4, [1, 4], ["a", "c"], True))
    parsed = parse_checked(tf.constant(["x.tfrecord"]), tf.constant([0], tf.int64), tf.constant([record]),
                           masked_lengths(8, 3))
    assert sorted(parsed) == sorted(MASKED_FEATURES)
    assert list(parsed["input_ids"].numpy()[0]) == [1, 4, 5, 2, 6, 2, 0, 0]
    assert list(parsed["segment_ids"].numpy()[0]) == [0, 0, 0, 0, 1, 1, 0, 0]
    assert list(parsed["masked_lm_ids"].numpy()[0]) == [4, 6, 0]
    np.testing.assert_array_equal(parsed["masked_lm_weights"].numpy()[0], [1.0, 1.0, 0.0])
    assert parsed["masked_lm_weights"].dtype == tf.float32 and parsed["input_ids"].dtype == tf.int32
