"""Sentence and sentence-pair classification data: readers per task and BERT feature conversion.

Formats (tab-separated, UTF-8):
  lcqmc              q1 TAB q2 TAB label(0/1), normally no header
  chnsenti, text_clf label TAB text (ChnSentiCorp has the header `label TAB text_a`)
  xnli               premise TAB hypothesis TAB label (entailment/neutral/contradiction;
                     "contradictory" is read as contradiction), header `text_a TAB text_b TAB label`
  mrpc               the GLUE MRPC layout: Quality TAB #1 ID TAB #2 ID TAB #1 String TAB #2 String
A header is recognised (its label field is a column name, not a label) and skipped, never assumed.
A test file may lack the label column; its examples then have label None (predict only).
"""

import dataclasses
import logging
import os
from typing import List, Optional, Sequence

from data.tasks.errors import DataError, log_skipped, require_file, text_lines
from fileio.text import TextDecodeError, decode_utf8, raw_lines
from data.tasks.packing import pack_tokens

logger = logging.getLogger(__name__)

# Values that only a header row has in its label column.
_HEADER_LABEL_NAMES = {"label", "labels", "quality", "gold_label", "class"}


@dataclasses.dataclass(frozen=True)
class InputExample:
    guid: str
    text_a: str
    text_b: Optional[str] = None
    label: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class InputFeatures:
    input_ids: List[int]
    input_mask: List[int]
    segment_ids: List[int]
    label_id: int


@dataclasses.dataclass(frozen=True)
class TaskFormat:
    """Where each field sits in a line; column indices are 0-based."""

    num_columns: int
    text_a_column: int
    text_b_column: Optional[int]
    label_column: int
    labels: Optional[Sequence[str]]  # None: derived from train.tsv (text_clf)
    label_aliases: dict = dataclasses.field(default_factory=dict)


TASKS = {
    "lcqmc": TaskFormat(3, 0, 1, 2, ("0", "1")),
    "chnsenti": TaskFormat(2, 1, None, 0, ("0", "1")),
    "text_clf": TaskFormat(2, 1, None, 0, None),
    "xnli": TaskFormat(3, 0, 1, 2, ("contradiction", "entailment", "neutral"),
                       {"contradictory": "contradiction"}),
    "mrpc": TaskFormat(5, 3, 4, 0, ("0", "1")),
}

SPLIT_FILES = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}


def task_format(task_name):
    try:
        return TASKS[task_name.lower()]
    except KeyError:
        raise ValueError(f"unknown --task_name {task_name!r}; known: {', '.join(sorted(TASKS))}") from None


def _is_header(fields, fmt, labels):
    if len(fields) <= fmt.label_column:
        return False
    value = fields[fmt.label_column].strip()
    return value.lower() in _HEADER_LABEL_NAMES and value not in labels


def derive_labels(path, fmt):
    """The sorted set of labels in a file (text_clf has no fixed label set)."""
    require_file(path)
    found = set()
    for line_number, line in text_lines(path):
        fields = line.split("\t")
        if not line.strip() or len(fields) != fmt.num_columns:
            continue
        if line_number == 1 and fields[fmt.label_column].strip().lower() in _HEADER_LABEL_NAMES:
            continue
        found.add(fields[fmt.label_column].strip())
    if not found:
        raise DataError(path, "no labelled lines to derive the label list from")
    return sorted(found)


def read_examples(path, fmt, labels, split, skip_bad_lines=False):
    """Reads one split.

    Blank lines are skipped; a file without an example is a DataError. A line with the wrong number of columns or that is not valid UTF-8
    raises DataError, unless skip_bad_lines (safe for training data only: dev/test lines must stay
    aligned with the outputs), in which case it is reported and skipped and the count is logged.
    """
    require_file(path)
    labels = list(labels)
    examples, skipped = [], 0
    for line_number, raw in raw_lines(path):
        try:
            line = decode_utf8(raw, path, line_number).rstrip("\r\n")
        except TextDecodeError as error:
            if skip_bad_lines:
                logger.warning("%s; line skipped", error)
                skipped += 1
                continue
            raise DataError(path, error.reason, line_number) from None
        if not line.strip():
            continue
        fields = line.split("\t")
        if line_number == 1 and _is_header(fields, fmt, labels):
            continue
        has_label = True
        if len(fields) != fmt.num_columns:
            # A test file may simply omit the label column.
            if split == "test" and len(fields) == fmt.num_columns - 1:
                has_label = False
                fields = fields[:fmt.label_column] + [None] + fields[fmt.label_column:]
            else:
                message = f"expected {fmt.num_columns} tab-separated columns, found {len(fields)}"
                if skip_bad_lines:
                    logger.warning("%s:%d: %s; line skipped", path, line_number, message)
                    skipped += 1
                    continue
                raise DataError(path, message, line_number)
        label = None
        if has_label:
            label = fields[fmt.label_column].strip()
            label = fmt.label_aliases.get(label, label)
            if label not in labels:
                raise DataError(path, f"label {label!r} is not in the label set {labels}", line_number)
        text_b = fields[fmt.text_b_column] if fmt.text_b_column is not None else None
        examples.append(InputExample(f"{split}-{len(examples)}", fields[fmt.text_a_column], text_b, label))
    log_skipped(path, skipped)
    if not examples:
        raise DataError(path, "holds no example" + (f" ({skipped} bad line(s) skipped)" if skipped else
                                                    " (an empty file?)"))
    return examples


def truncate_seq_pair(tokens_a, tokens_b, max_length):
    """The original's rule: drop one token at a time from the end of the longer sequence."""
    while len(tokens_a) + len(tokens_b) > max_length:
        if len(tokens_a) > len(tokens_b):
            tokens_a.pop()
        else:
            tokens_b.pop()


def convert_example(example, label_map, max_seq_length, tokenizer):
    tokens_a = tokenizer.tokenize(example.text_a)
    tokens_b = tokenizer.tokenize(example.text_b) if example.text_b is not None else None
    if tokens_b is not None:
        truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
    else:
        tokens_a = tokens_a[: max_seq_length - 2]
    input_ids, input_mask, segment_ids = pack_tokens(tokens_a, tokens_b, tokenizer, max_seq_length)
    label_id = label_map[example.label] if example.label is not None else 0
    return InputFeatures(input_ids, input_mask, segment_ids, label_id)


def convert_examples(examples, labels, max_seq_length, tokenizer):
    if max_seq_length < 3:
        raise ValueError(f"--max_seq_length {max_seq_length} leaves no room for [CLS] and [SEP]")
    label_map = {label: i for i, label in enumerate(labels)}
    return [convert_example(e, label_map, max_seq_length, tokenizer) for e in examples]


class ClassificationData:
    """The files of one task in --data_dir, with the task's label list."""

    def __init__(self, task_name, data_dir):
        self.task_name = task_name
        self.data_dir = data_dir
        self.format = task_format(task_name)
        if self.format.labels is not None:
            self.labels = list(self.format.labels)
        else:
            self.labels = derive_labels(self.path("train"), self.format)

    def path(self, split):
        return os.path.join(self.data_dir, SPLIT_FILES[split])

    def examples(self, split):
        return read_examples(self.path(split), self.format, self.labels, split,
                             skip_bad_lines=(split == "train"))
