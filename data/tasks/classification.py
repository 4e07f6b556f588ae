"""Sentence and sentence-pair classification data: the registry of task formats, their readers and
BERT feature conversion.

Every task is a format in `TASKS` (or `custom`, built from the columns the user names): what its
files are called, how a file is read into examples, its label set (None: taken from the training
file and saved with the model) and, for CLUE, the name of its submission file.

Tab-separated formats (train/dev/test.tsv, UTF-8):
  lcqmc              q1 TAB q2 TAB label(0/1), normally no header
  chnsenti, text_clf label TAB text (ChnSentiCorp has the header `label TAB text_a`)
  xnli               premise TAB hypothesis TAB label (entailment/neutral/contradiction;
                     "contradictory" is read as contradiction), header `text_a TAB text_b TAB label`
  mrpc               the GLUE MRPC layout: Quality TAB #1 ID TAB #2 ID TAB #1 String TAB #2 String
A header is recognised (its label field is a column name, not a label) and skipped, never assumed.
A test file may lack the label column; its examples then have label None (predict only).

CLUE's JSON lines (train/dev/test.json; data/tasks/clue.py): afqmc, cmnli, ocnli, tnews, iflytek,
csl, cluewsc2020, with the label sets the task fixes. Examples labelled "-" (CMNLI/OCNLI: no gold
label) are left out of train and dev and counted in the log; in a test file they are kept, unlabelled.

custom (data/tasks/custom.py): TSV or JSON lines with the columns named by the command line.
"""

import dataclasses
import logging
import os
from typing import Any, Callable, Iterable, List, Optional, Sequence

from data.tasks import clue
from data.tasks.custom import CustomColumns
from data.tasks.errors import DataError, log_skipped, require_file, text_lines
from data.tasks.label_list import run_labels
from fileio.text import TextDecodeError, decode_utf8, raw_lines
from data.tasks.packing import pack_tokens
from data.tasks.records import Record

logger = logging.getLogger(__name__)

# Values that only a header row has in its label column.
_HEADER_LABEL_NAMES = {"label", "labels", "quality", "gold_label", "class"}


@dataclasses.dataclass(frozen=True)
class InputExample:
    guid: str
    text_a: str
    text_b: Optional[str] = None
    label: Optional[str] = None
    example_id: Any = None  # the id a submission file names (CLUE's `id`); None for TSV lines


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

    split_files = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
    submission_file = None

    def read(self, path, labels, split, skip_bad_lines=False):
        return read_examples(path, self, labels, split, skip_bad_lines)

    def derive_labels(self, path):
        return derive_labels(path, self)


@dataclasses.dataclass(frozen=True)
class RecordFormat:
    """A format read line by line into records (CLUE's JSON lines, the user's own files)."""

    records: Callable[[str, str], Iterable[Record]]  # (path, split) -> the file's records
    labels: Optional[Sequence[str]]  # None: derived from the training file
    split_files: dict
    skip_labels: frozenset = frozenset()  # labels that mean "no gold label": such examples are left out
    submission_file: Optional[str] = None  # written beside test_results.tsv by --do_predict

    def read(self, path, labels, split, skip_bad_lines=False):
        """The examples of one split. Every line must be well formed (skip_bad_lines is for TSV only);
        a training or dev line without a label is an error, a test line may have none."""
        labels = list(labels)
        examples, skipped = [], 0
        for record in self.records(path, split):
            label = record.label
            if label in self.skip_labels:
                if split != "test":
                    skipped += 1
                    continue
                label = None  # kept: test lines must stay aligned with the submission
            if label is None and split != "test":
                raise DataError(path, "the line has no label", record.line_number)
            if label is not None and label not in labels:
                raise DataError(path, f"label {label!r} is not in the label set {labels}", record.line_number)
            examples.append(InputExample(f"{split}-{len(examples)}", record.text_a, record.text_b, label,
                                         record.example_id))
        if skipped:
            logger.warning("%s: skipped %d examples labelled %s (no gold label)", path, skipped,
                           " or ".join(repr(label) for label in sorted(self.skip_labels)))
        if not examples:
            raise DataError(path, "holds no example" + (f" ({skipped} without a gold label skipped)" if skipped else
                                                        " (an empty file?)"))
        return examples

    def derive_labels(self, path):
        found = {record.label for record in self.records(path, "train")
                 if record.label is not None and record.label not in self.skip_labels}
        if not found:
            raise DataError(path, "no labelled lines to derive the label list from")
        return sorted(found)


CUSTOM_TASK = "custom"

TASKS = {
    "lcqmc": TaskFormat(3, 0, 1, 2, ("0", "1")),
    "chnsenti": TaskFormat(2, 1, None, 0, ("0", "1")),
    "text_clf": TaskFormat(2, 1, None, 0, None),
    "xnli": TaskFormat(3, 0, 1, 2, ("contradiction", "entailment", "neutral"),
                       {"contradictory": "contradiction"}),
    "mrpc": TaskFormat(5, 3, 4, 0, ("0", "1")),
    **{name: RecordFormat(task.records, task.labels, clue.SPLIT_FILES, task.skip_labels, clue.submission_file(name))
       for name, task in clue.CLASSIFICATION_TASKS.items()},
}

SPLIT_FILES = TaskFormat.split_files


def task_format(task_name, custom_columns: Optional[CustomColumns] = None, labels: Optional[Sequence[str]] = None):
    """The format of a task; `custom` reads `custom_columns` with the given labels (None: derived)."""
    name = task_name.lower()
    if name == CUSTOM_TASK:
        columns = custom_columns or CustomColumns()
        return RecordFormat(columns.records, tuple(labels) if labels else None, columns.split_files)
    try:
        return TASKS[name]
    except KeyError:
        known = ", ".join(sorted([*TASKS, CUSTOM_TASK]))
        raise ValueError(f"unknown --task_name {task_name!r}; known: {known}") from None


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
    """The files of one task in --data_dir, with the task's label list.

    A task without a fixed label set (text_clf, custom without labels) takes the sorted labels of its
    training file (`labels_derived` says so); without `training`, the list saved in output_dir by an
    earlier training run wins (prediction must use the ids the model was trained with), and with it a
    different saved list is an error (label_list.run_labels).
    """

    def __init__(self, task_name, data_dir, output_dir=None, custom_columns=None, labels=None, training=False):
        self.task_name = task_name
        self.data_dir = data_dir
        self.format = task_format(task_name, custom_columns, labels)
        self.labels_derived = self.format.labels is None
        if not self.labels_derived:
            self.labels = list(self.format.labels)
        else:
            train = self.path("train")
            self.labels = run_labels(output_dir, lambda: self.format.derive_labels(train), train, training)

    def path(self, split):
        return os.path.join(self.data_dir, self.format.split_files[split])

    def examples(self, split):
        return self.format.read(self.path(split), self.labels, split, skip_bad_lines=(split == "train"))
