"""The user's own classification files (run_clf.py --task_name=custom), read by the columns the
command line names: TSV (a column by 0-based index, or by name when the files have a header) or JSON
lines (a field by name).

Files in --data_dir: train/dev/test.tsv or .json. A line with an empty text, a missing column or
field, or a header without a named column is an error naming the file and line. A test file may
leave out the label.
"""

import dataclasses
from typing import Iterator, List, Optional

from data.tasks.errors import DataError, require_file, text_lines
from data.tasks.records import Record, json_field, json_label, read_json_lines

INPUT_FORMATS = ("tsv", "json")


def parse_label_list(text) -> Optional[List[str]]:
    """`neg,pos` as ["neg", "pos"] (the order gives the ids); None or "" as None."""
    if not text:
        return None
    labels = [label.strip() for label in text.split(",")]
    if any(not label for label in labels):
        raise ValueError(f"--labels={text!r} has an empty label")
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"--labels={text!r} repeats {', '.join(duplicates)}")
    return labels


@dataclasses.dataclass(frozen=True)
class CustomColumns:
    """Where text a, text b (optional) and the label are in each line of the user's files."""

    input_format: str = "tsv"
    text_a: str = "text_a"
    text_b: Optional[str] = None
    label: str = "label"
    header: bool = False  # TSV only: the first line names the columns

    def __post_init__(self):
        for role in ("text_a", "label"):
            if not getattr(self, role):
                raise ValueError(f"--task_name=custom needs --{role}_column")
        if self.input_format not in INPUT_FORMATS:
            raise ValueError(f"unknown --input_format {self.input_format!r}; known: {', '.join(INPUT_FORMATS)}")
        if self.input_format == "tsv" and not self.header:
            for role, column in self._columns():
                if not column.isdigit():
                    raise ValueError(f"--{role}_column={column!r} names a column, but without --has_header the TSV "
                                     "files have no column names: give a 0-based index")

    def _columns(self):
        columns = [("text_a", self.text_a), ("text_b", self.text_b), ("label", self.label)]
        return [(role, column) for role, column in columns if column]

    @property
    def split_files(self):
        return {split: f"{split}.{self.input_format}" for split in ("train", "dev", "test")}

    def records(self, path, split="train") -> Iterator[Record]:
        """The lines of one split's file; a test file may lack the label (column or field)."""
        return self._json_records(path) if self.input_format == "json" else self._tsv_records(path, split)

    def _json_records(self, path):
        for line_number, value in read_json_lines(path):
            text_a = _non_empty(json_field(value, self.text_a, path, line_number), self.text_a, path, line_number)
            text_b = None
            if self.text_b:
                text_b = _non_empty(json_field(value, self.text_b, path, line_number), self.text_b, path,
                                    line_number)
            yield Record(line_number, text_a, text_b, json_label(value, self.label, path, line_number),
                         value.get("id"))

    def _tsv_records(self, path, split):
        require_file(path)
        lines = [line for _, line in text_lines(path)]
        start, indices = 0, {}
        if self.header:
            names = lines[0].split("\t") if lines else []
            start = 1
            for role, column in self._columns():
                if column in names:
                    indices[role] = names.index(column)
                elif column.isdigit():
                    indices[role] = int(column)
                elif role == "label" and split == "test":
                    indices[role] = len(names)  # an unlabelled test file: no line has this column
                else:
                    raise DataError(path, f"no column named {column!r} (--{role}_column) in the header; its "
                                          f"columns: {', '.join(names)}", 1)
        else:
            indices = {role: int(column) for role, column in self._columns()}
        needed = max(indices[role] for role in indices if role != "label") + 1
        for line_number, line in enumerate(lines[start:], start=start + 1):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < needed:
                raise DataError(path, f"expected at least {needed} tab-separated columns, found {len(fields)}",
                                line_number)
            texts = {role: _non_empty(fields[indices[role]], getattr(self, role), path, line_number)
                     for role in ("text_a", "text_b") if role in indices}
            label = fields[indices["label"]].strip() if indices["label"] < len(fields) else None
            yield Record(line_number, texts["text_a"], texts.get("text_b"), label)


def _non_empty(text, column, path, line_number):
    if not text.strip():
        raise DataError(path, f"empty text in column {column!r}", line_number)
    return text
