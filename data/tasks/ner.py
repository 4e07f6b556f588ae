"""Character-level NER data (`char tag` per line, blank line between sentences) and the original's
feature conversion: each character is tokenized, its first piece gets the character's tag and any
further pieces `X`; [CLS] and [SEP] carry their own labels; label ids start at 1, 0 is padding.
"""

import dataclasses
import logging
import os
from typing import List, Optional

from data.tasks.errors import DataError, require_file, text_lines
from data.tasks.packing import pack_pair, padded_inputs

logger = logging.getLogger(__name__)

# The original's list for People's Daily, in the original order (ids 1..10).
PEOPLES_DAILY_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "X", "[CLS]", "[SEP]"]
SPECIAL_LABELS = ["X", "[CLS]", "[SEP]"]
SPLIT_FILES = {"train": "train.txt", "dev": "dev.txt", "test": "test.txt"}
LABEL_LIST_FILE = "label_list.txt"


@dataclasses.dataclass(frozen=True)
class Sentence:
    guid: str
    chars: List[str]
    tags: List[str]
    line_number: Optional[int] = dataclasses.field(default=None, compare=False)  # its first line in the file


@dataclasses.dataclass(frozen=True)
class NerFeatures:
    input_ids: List[int]
    input_mask: List[int]
    segment_ids: List[int]
    label_ids: List[int]
    # For each character, the position of its first piece in input_ids, or None when the
    # character produced no piece (e.g. a control character) or was truncated away.
    char_positions: List[Optional[int]] = dataclasses.field(compare=False)


def read_sentences(path, split="train"):
    """Sentences of a `char tag` file. A line without a tag, or a file without a sentence, is an error
    (file and line)."""
    require_file(path)
    sentences, chars, tags, first_line = [], [], [], [None]

    def flush():
        if chars:
            sentences.append(Sentence(f"{split}-{len(sentences)}", list(chars), list(tags), first_line[0]))
            chars.clear()
            tags.clear()

    for line_number, line in text_lines(path):
        if not line.strip():
            flush()
            continue
        fields = line.split()
        if len(fields) != 2:
            what = "has no tag" if len(fields) == 1 else f"has {len(fields)} fields"
            raise DataError(path, f"expected `char tag`, the line {what}: {_shortened(line)!r}", line_number)
        if not chars:
            first_line[0] = line_number
        chars.append(fields[0])
        tags.append(fields[1])
    flush()
    if not sentences:
        raise DataError(path, "holds no sentence (an empty file?)")
    return sentences


def _shortened(line, limit=200):
    """A line quoted in an error, cut so that a huge one keeps the message to a readable line."""
    return line if len(line) <= limit else f"{line[:limit]}... ({len(line)} characters)"


def derive_labels(sentences):
    """The label list: the original's People's Daily list when the tags fit in it, otherwise
    O, the entity tags sorted, then X, [CLS], [SEP]."""
    tags = {tag for sentence in sentences for tag in sentence.tags}
    if tags <= set(PEOPLES_DAILY_LABELS):
        return list(PEOPLES_DAILY_LABELS)
    entity_tags = sorted(tags - {"O"} - set(SPECIAL_LABELS))
    return ["O"] + entity_tags + SPECIAL_LABELS


def label_map_of(labels):
    return {label: i for i, label in enumerate(labels, start=1)}


def convert_sentence(sentence, label_map, max_seq_length, tokenizer, source="input"):
    tokens, token_labels, first_piece = [], [], []
    for offset, (char, tag) in enumerate(zip(sentence.chars, sentence.tags)):
        if tag not in label_map:
            line_number = sentence.line_number + offset if sentence.line_number is not None else None
            raise DataError(source, f"{sentence.guid}: tag {tag!r} is not in the label list "
                                    f"{list(label_map)}", line_number)
        pieces = tokenizer.tokenize(char)
        first_piece.append(len(tokens) if pieces else None)
        for i, piece in enumerate(pieces):
            tokens.append(piece)
            token_labels.append(tag if i == 0 else "X")
    # The original keeps max_seq_length - 2 pieces to leave room for [CLS] and [SEP].
    tokens = tokens[: max_seq_length - 2]
    token_labels = token_labels[: max_seq_length - 2]
    tokens, segment_ids = pack_pair(tokens)
    token_labels, _ = pack_pair(token_labels)  # [CLS] and [SEP] are their own labels
    input_ids, input_mask, segment_ids = padded_inputs(tokenizer.convert_tokens_to_ids(tokens), segment_ids,
                                                       max_seq_length)
    label_ids, _, _ = padded_inputs([label_map[label] for label in token_labels], [], max_seq_length)
    char_positions = [p + 1 if p is not None and p + 1 < len(tokens) - 1 else None for p in first_piece]
    return NerFeatures(
        input_ids=input_ids,
        input_mask=input_mask,
        segment_ids=segment_ids,
        label_ids=label_ids,
        char_positions=char_positions,
    )


def convert_sentences(sentences, labels, max_seq_length, tokenizer, source="input"):
    if max_seq_length < 3:
        raise ValueError(f"--max_seq_length {max_seq_length} leaves no room for [CLS] and [SEP]")
    label_map = label_map_of(labels)
    return [convert_sentence(s, label_map, max_seq_length, tokenizer, source) for s in sentences]


def char_predictions(feature, predicted_label_ids, labels):
    """Per-character predicted tags from per-token ids; a character without a piece in the
    window gets O. X / [CLS] / [SEP] / padding predicted on a character's first piece read as O."""
    id_to_label = dict(enumerate(labels, start=1))
    tags = []
    for position in feature.char_positions:
        tag = "O" if position is None else id_to_label.get(int(predicted_label_ids[position]), "O")
        tags.append("O" if tag in SPECIAL_LABELS else tag)
    return tags


class NerData:
    def __init__(self, data_dir, output_dir=None):
        self.data_dir = data_dir
        self.labels = self._load_labels(output_dir)

    def path(self, split):
        return os.path.join(self.data_dir, SPLIT_FILES[split])

    def _load_labels(self, output_dir):
        # A trained model's label list wins: predict-only runs must use the ids it was trained with.
        saved = os.path.join(output_dir, LABEL_LIST_FILE) if output_dir else None
        if saved and os.path.isfile(saved):
            return [line.strip() for _, line in text_lines(saved) if line.strip()]
        source = self.path("train") if os.path.isfile(self.path("train")) else self.path("dev")
        return derive_labels(read_sentences(source))

    def sentences(self, split):
        return read_sentences(self.path(split), split)
