"""The original's list forms and a general Example encoder: references for the generator's compact forms.

The generator reads into a `Corpus` of ids and encodes with `InstanceEncoder`; these build the
same things the plain way (lists of token lists, a feature dict serialized field by field), as
the original does, so a test can compare the two.
"""

import struct

from data.generation.corpus import ReadStats, tokenized_lines
from data.generation.encoding import varint
from data.generation.instances import iter_training_instances
from data.generation.shuffling import shuffle
from data.record_schema import FLOAT_FEATURES, MASKED_SERIALIZATION_ORDER


def vocab_of(words):
    """A vocabulary of the special tokens, then `words`."""
    return {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])}


def read_documents(sources, tokenize_line, stats=None, on_bytes=None):
    """Documents (lists of sentences, each a token list) in the original's way.

    A blank line starts a new document, documents continue across sources, and documents
    without sentences are dropped. `tokenize_line(text) -> tokens`. See `read_corpus` for the
    compact form the generator uses.
    """
    stats = stats if stats is not None else ReadStats()
    documents = [[]]
    for line in tokenized_lines(sources, tokenize_line, stats, on_bytes):
        if line is None:
            documents.append([])
        elif line[2]:
            documents[-1].append(line[2])
    return [d for d in documents if d], stats


def create_training_instances(documents, config, vocab_words, rng, on_document=None):
    """All instances of `dupe_factor` rounds over the documents, shuffled (documents shuffled first)."""
    instances = list(iter_training_instances(documents, config, vocab_words, rng, on_document))
    shuffle(instances, rng)
    return instances


class ExampleEncoder:
    """Serializes the seven pretraining features; varints of small values are precomputed."""

    def __init__(self, max_value=1 << 16):
        # Lengths of serialized parts also index this table, hence the floor.
        self._varints = [varint(v) for v in range(max(max_value, 1 << 16))]
        self._keys = {name: b"\x0a" + varint(len(name)) + name.encode() for name in MASKED_SERIALIZATION_ORDER}

    def _int_list(self, values):
        if not values:
            return b""
        if min(values) < 0:
            raise ValueError("negative int64 features are not used by the pretraining schema")
        if max(values) < 0x80:
            packed = bytes(values)  # one-byte varints are the values themselves
        elif max(values) < len(self._varints):
            packed = b"".join(map(self._varints.__getitem__, values))
        else:
            packed = b"".join(map(varint, values))
        return b"\x0a" + self._cached_varint(len(packed)) + packed

    def _cached_varint(self, value):
        try:
            return self._varints[value]
        except IndexError:
            return varint(value)

    def _float_list(self, values):
        packed = struct.pack(f"<{len(values)}f", *values)
        return b"\x0a" + self._cached_varint(len(packed)) + packed if packed else b""

    def encode(self, features):
        """`features`: name -> list of ints (floats for masked_lm_weights); returns Example bytes."""
        entries = []
        for name in MASKED_SERIALIZATION_ORDER:
            if name in FLOAT_FEATURES:
                value_list = self._float_list(features[name])
                feature = b"\x12" + self._cached_varint(len(value_list)) + value_list
            else:
                value_list = self._int_list(features[name])
                feature = b"\x1a" + self._cached_varint(len(value_list)) + value_list
            entry = self._keys[name] + b"\x12" + self._cached_varint(len(feature)) + feature
            entries.append(b"\x0a" + self._cached_varint(len(entry)) + entry)
        body = b"".join(entries)
        return b"\x0a" + self._cached_varint(len(body)) + body


def instance_features(instance, token_ids, masked_lm_ids, max_seq_length, max_predictions_per_seq):
    """The original's padded feature lists for one instance, given its token and label ids."""
    seq_pad = max_seq_length - len(token_ids)
    pred_pad = max_predictions_per_seq - len(masked_lm_ids)
    if seq_pad < 0 or pred_pad < 0:
        raise ValueError("instance longer than max_seq_length or max_predictions_per_seq")
    num_a = instance.num_segment_a
    return {
        "input_ids": token_ids + [0] * seq_pad,
        "input_mask": [1] * len(token_ids) + [0] * seq_pad,
        "segment_ids": [0] * num_a + [1] * (len(token_ids) - num_a) + [0] * seq_pad,
        "masked_lm_positions": list(instance.masked_lm_positions) + [0] * pred_pad,
        "masked_lm_ids": masked_lm_ids + [0] * pred_pad,
        "masked_lm_weights": [1.0] * len(masked_lm_ids) + [0.0] * pred_pad,
        "next_sentence_labels": [1 if instance.is_random_next else 0],
    }
