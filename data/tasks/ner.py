"""Character-level NER data and the original's feature conversion. Formats, by --task_name (`TASKS`):
`ner`, a `char tag` per line and a blank line between sentences (train/dev/test.txt), labels taken
from the training file; `cluener`, CLUENER2020's JSON lines (train/dev/test.json: `text` and `label`
as {type: {entity text: [[start, end], ...]}}, inclusive offsets) as character BIO tags over its 10
types (data/tasks/clue.py), whose predictions are written back in the same form.

The conversion: each character is tokenized, its first piece gets the character's tag and any further
pieces `X`; [CLS] and [SEP] carry their own labels; label ids start at 1, 0 is padding.
"""

import dataclasses
import logging
import os
from typing import Any, Callable, List, Optional

from data.tasks import clue
from data.tasks.errors import DataError, require_file, text_lines
from data.tasks.label_list import run_labels
from data.tasks.packing import pack_pair, padded_inputs
from data.tasks.records import read_json_lines

logger = logging.getLogger(__name__)

# The original's list for People's Daily, in the original order (ids 1..10).
PEOPLES_DAILY_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "X", "[CLS]", "[SEP]"]
SPECIAL_LABELS = ["X", "[CLS]", "[SEP]"]
SPLIT_FILES = {"train": "train.txt", "dev": "dev.txt", "test": "test.txt"}
CLUENER_LABELS = ["O"] + clue.cluener_tag_names() + SPECIAL_LABELS


@dataclasses.dataclass(frozen=True)
class Sentence:
    guid: str
    chars: List[str]
    tags: List[str]
    line_number: Optional[int] = dataclasses.field(default=None, compare=False)  # its first line in the file
    # The line's JSON object without its label (CLUENER2020): what a prediction is written back into.
    source: Any = dataclasses.field(default=None, compare=False)


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


def read_cluener(path, split="train"):
    """Sentences of a CLUENER2020 JSON-lines file; a test line without `label` is all O."""
    sentences = []
    for line_number, value in read_json_lines(path):
        text, tags = clue.cluener_tags(value, path, line_number)
        source = {key: item for key, item in value.items() if key != "label"}
        sentences.append(Sentence(f"{split}-{len(sentences)}", list(text), tags, source=source))
    if not sentences:
        raise DataError(path, "holds no sentence (an empty file?)")
    return sentences


def cluener_prediction(sentence, predicted_tags):
    """A sentence's predicted tags in CLUENER2020's form: its line's fields with `label` predicted."""
    return {**sentence.source, "label": clue.tags_to_spans("".join(sentence.chars), predicted_tags)}


@dataclasses.dataclass(frozen=True)
class NerFormat:
    """One tagging task's files: their names, their reader, the label list (None: from the training file)
    and, for CLUE, the file its test predictions are written to in the task's own form."""

    split_files: dict
    read: Callable[[str, str], List[Sentence]]
    labels: Optional[List[str]] = None
    submission_file: Optional[str] = None


TASKS = {
    "ner": NerFormat(SPLIT_FILES, read_sentences),
    "cluener": NerFormat(clue.SPLIT_FILES, read_cluener, CLUENER_LABELS, clue.submission_file("cluener")),
}


def ner_format(task_name):
    try:
        return TASKS[task_name.lower()]
    except KeyError:
        raise ValueError(f"unknown --task_name {task_name!r} for sequence labelling; known: "
                         f"{', '.join(sorted(TASKS))}") from None


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
    def __init__(self, data_dir, output_dir=None, task_name="ner", training=False):
        self.data_dir = data_dir
        self.format = ner_format(task_name)
        self.labels = list(self.format.labels) if self.format.labels else self._load_labels(output_dir, training)

    def path(self, split):
        return os.path.join(self.data_dir, self.format.split_files[split])

    def _load_labels(self, output_dir, training):
        # A trained model's label list wins when not training: predict-only runs must use its ids.
        source = self.path("train") if os.path.isfile(self.path("train")) else self.path("dev")
        return run_labels(output_dir, lambda: derive_labels(self.format.read(source, "train")), source, training)

    def sentences(self, split):
        return self.format.read(self.path(split), split)
