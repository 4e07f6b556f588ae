"""tf.train.Example bytes of training instances: the original's masked records, or unmasked ones.

The masked bytes equal what the original wrote with `tf.train.Example(...).SerializeToString()`,
including its map order, without importing TensorFlow. The features, their lengths and their
order are data/record_schema.py's.

Unmasked records (`create_pretraining_data.py --dynamic_masking`) hold the sequence pairs built
exactly as without it (same documents, pairs and truncation; only the masking draws are left
out), once per dupe round, with each position's word number (`word_ids`) instead of the masks.
The words are the static generator's masking groups (`instances.candidate_groups`): `##` pieces
joined to the piece before them with --do_whole_word_mask, jieba words with --chinese_wwm,
otherwise every token its own word.
"""

import struct

from data.generation.instances import CONTINUATION_FLAG, candidate_groups
from data.record_schema import FLOAT_FEATURES, MASKED_SERIALIZATION_ORDER, UNMASKED_FEATURES, WORD_IDS


def varint(value):
    """The protobuf varint of a non-negative int."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def token_varints(vocab):
    """token (string, id, or id with CONTINUATION_FLAG) -> the varint of its vocabulary id."""
    varints = {token: varint(i) for token, i in vocab.items()}
    for i in set(vocab.values()):
        varints[i] = varints[i | CONTINUATION_FLAG] = varint(i)
    return varints


class InstanceEncoder:
    """The original's masked record (tf.train.Example bytes) of a TrainingInstance, padded to the flags' lengths.

    The hot path of writing: each token's id varint is looked up once per token, padding is
    zero bytes (the varint of 0), and the headers of a feature depend only on its packed length,
    so they are cached. Tokens may be the vocabulary's strings or their ids (with or without
    CONTINUATION_FLAG, which is not written).
    """

    def __init__(self, vocab, max_seq_length, max_predictions_per_seq):
        self.max_seq_length = max_seq_length
        self.max_predictions_per_seq = max_predictions_per_seq
        self._token_varint = token_varints(vocab)
        self._small = [varint(v) for v in range(max_seq_length + 1)]
        self._headers = {}

    def _header(self, name, packed_length, float_list=False):
        key = (name, packed_length)
        header = self._headers.get(key)
        if header is None:
            value_list_length = 1 + len(varint(packed_length)) + packed_length if packed_length else 0
            feature = (b"\x12" if float_list else b"\x1a") + varint(value_list_length)
            if packed_length:
                feature += b"\x0a" + varint(packed_length)
            name_bytes = b"\x0a" + varint(len(name)) + name.encode()
            field_length = len(feature) + packed_length
            entry_length = len(name_bytes) + 1 + len(varint(field_length)) + field_length
            header = b"\x0a" + varint(entry_length) + name_bytes + b"\x12" + varint(field_length) + feature
            self._headers[key] = header
        return header

    def encode(self, instance):
        tokens = instance.tokens
        length = len(tokens)
        seq_pad = self.max_seq_length - length
        num_predictions = len(instance.masked_lm_positions)
        pred_pad = self.max_predictions_per_seq - num_predictions
        if seq_pad < 0 or pred_pad < 0:
            raise ValueError("instance longer than max_seq_length or max_predictions_per_seq")
        token_varint = self._token_varint.__getitem__
        num_a = instance.num_segment_a
        packed = {
            "masked_lm_ids": b"".join(map(token_varint, instance.masked_lm_labels)) + b"\x00" * pred_pad,
            "input_ids": b"".join(map(token_varint, tokens)) + b"\x00" * seq_pad,
            "masked_lm_positions": b"".join(map(self._small.__getitem__, instance.masked_lm_positions))
            + b"\x00" * pred_pad,
            "next_sentence_labels": b"\x01" if instance.is_random_next else b"\x00",
            "input_mask": b"\x01" * length + b"\x00" * seq_pad,
            "masked_lm_weights": _FLOAT_ONE * num_predictions + b"\x00\x00\x00\x00" * pred_pad,
            "segment_ids": b"\x00" * num_a + b"\x01" * (length - num_a) + b"\x00" * seq_pad,
        }
        body = b"".join([self._header(name, len(packed[name]), name in FLOAT_FEATURES) + packed[name]
                         for name in MASKED_SERIALIZATION_ORDER])
        return b"\x0a" + varint(len(body)) + body


_FLOAT_ONE = struct.pack("<f", 1.0)


def word_ids(tokens, config, kinds=None):
    """Per position, 1 + the index of its masking group; 0 where nothing may be masked.
    `kinds`: the tokens' form (data.generation.instances.TokenKinds; default the original's strings)."""
    numbers = [0] * len(tokens)
    for number, group in enumerate(candidate_groups(tokens, config, kinds), start=1):
        for position in group:
            numbers[position] = number
    return numbers


def _int64_entry(name, packed):
    """One map entry of Features.feature: `name` -> Int64List of the packed varints `packed`."""
    value_list = b"\x0a" + varint(len(packed)) + packed
    feature = b"\x1a" + varint(len(value_list)) + value_list
    entry = b"\x0a" + varint(len(name)) + name.encode() + b"\x12" + varint(len(feature)) + feature
    return b"\x0a" + varint(len(entry)) + entry


class UnmaskedInstanceEncoder:
    """tf.train.Example bytes of an unmasked TrainingInstance (data/record_schema.py's unmasked records)."""

    def __init__(self, vocab, config, kinds=None):
        self.config = config
        self.kinds = kinds
        self.max_seq_length = config.max_seq_length
        self._token_varint = token_varints(vocab)
        self._small = [varint(v) for v in range(config.max_seq_length + 1)]

    def encode(self, instance):
        tokens = instance.tokens
        length = len(tokens)
        pad = b"\x00" * (self.max_seq_length - length)
        if length > self.max_seq_length:
            raise ValueError("instance longer than max_seq_length")
        num_a = instance.num_segment_a
        packed = {
            "input_ids": b"".join(map(self._token_varint.__getitem__, tokens)) + pad,
            "input_mask": b"\x01" * length + pad,
            "segment_ids": b"\x00" * num_a + b"\x01" * (length - num_a) + pad,
            WORD_IDS: b"".join(map(self._small.__getitem__, word_ids(tokens, self.config, self.kinds))) + pad,
            "next_sentence_labels": b"\x01" if instance.is_random_next else b"\x00",
        }
        body = b"".join(_int64_entry(name, packed[name]) for name in UNMASKED_FEATURES)
        return b"\x0a" + varint(len(body)) + body


def instance_encoder(vocab, config, kinds=None):
    """The encoder for the records `config` asks for: unmasked with dynamic_masking, else the original's."""
    if config.dynamic_masking:
        return UnmaskedInstanceEncoder(vocab, config, kinds)
    return InstanceEncoder(vocab, config.max_seq_length, config.max_predictions_per_seq)
