"""Unmasked pretraining records, for `--dynamic_masking`: the masks are drawn at training time.

`create_pretraining_data.py --dynamic_masking` builds the sequence pairs exactly as without it
(same documents, same pairs, same truncation; only the masking draws are left out) and writes
each pair once per dupe round with these int64 features instead of the masked ones:

  input_ids [max_seq_length]        the tokens' ids, unmasked, zero-padded
  input_mask, segment_ids           as in the masked records
  word_ids [max_seq_length]         per position, the number (1, 2, ...) of the whole word it
                                    belongs to; 0 for [CLS], [SEP] and padding, which are never masked
  next_sentence_labels [1]

The words are the static generator's masking groups (`pretraining_data._candidate_groups`): `##`
pieces joined to the piece before them with --do_whole_word_mask, jieba words with
--chinese_wwm, otherwise every token its own word. The records hold no masked_lm_* feature: the
input pipeline tells the two kinds apart by which features a record has (data/dynamic_masking.py).
"""

from data.pretraining_data import _candidate_groups
from data.tfrecord_output import InstanceEncoder, _varint, token_varints

WORD_IDS = "word_ids"
UNMASKED_FEATURES = ("input_ids", "input_mask", "segment_ids", WORD_IDS, "next_sentence_labels")


def word_ids(tokens, config, kinds=None):
    """Per position, 1 + the index of its masking group; 0 where nothing may be masked.
    `kinds`: the tokens' form (data.pretraining_data.TokenKinds; default the original's strings)."""
    numbers = [0] * len(tokens)
    for number, group in enumerate(_candidate_groups(tokens, config, kinds), start=1):
        for position in group:
            numbers[position] = number
    return numbers


def _int64_entry(name, packed):
    """One map entry of Features.feature: `name` -> Int64List of the packed varints `packed`."""
    value_list = b"\x0a" + _varint(len(packed)) + packed
    feature = b"\x1a" + _varint(len(value_list)) + value_list
    entry = b"\x0a" + _varint(len(name)) + name.encode() + b"\x12" + _varint(len(feature)) + feature
    return b"\x0a" + _varint(len(entry)) + entry


class UnmaskedInstanceEncoder:
    """tf.train.Example bytes of an unmasked TrainingInstance (the schema in the module docstring)."""

    def __init__(self, vocab, config, kinds=None):
        self.config = config
        self.kinds = kinds
        self.max_seq_length = config.max_seq_length
        self._token_varint = token_varints(vocab)
        self._small = [_varint(v) for v in range(config.max_seq_length + 1)]

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
        return b"\x0a" + _varint(len(body)) + body


def instance_encoder(vocab, config, kinds=None):
    """The encoder for the records `config` asks for: unmasked with dynamic_masking, else the original's."""
    if config.dynamic_masking:
        return UnmaskedInstanceEncoder(vocab, config, kinds)
    return InstanceEncoder(vocab, config.max_seq_length, config.max_predictions_per_seq)
