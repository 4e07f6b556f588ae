"""Lines of a task file as records (texts, label, id) with their line numbers, and the JSON-lines
reading that the CLUE and custom readers share; bad lines raise DataError with the file and line.
"""

import dataclasses
import json
from typing import Any, Iterator, Optional, Tuple

from data.tasks.errors import DataError, require_file, text_lines


@dataclasses.dataclass(frozen=True)
class Record:
    """One example as read from its line, before the label is checked against the task's list."""

    line_number: int
    text_a: str
    text_b: Optional[str] = None
    label: Optional[str] = None  # None: the line has no label (a test file)
    example_id: Any = None  # the id a submission file names (CLUE's `id`), when the line has one


def read_json_lines(path) -> Iterator[Tuple[int, dict]]:
    """(line number, object) for each non-blank line; a line that is not one JSON object is an error."""
    require_file(path)
    for line_number, line in text_lines(path):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(path, f"not a JSON object: {error.msg} (column {error.colno})", line_number) from None
        if not isinstance(value, dict):
            raise DataError(path, f"expected one JSON object per line, found {type(value).__name__}", line_number)
        yield line_number, value


def json_field(value: dict, key: str, path, line_number, kind=str):
    """value[key], which must exist and be a `kind`."""
    if key not in value:
        raise DataError(path, f"missing field {key!r} (fields: {', '.join(value) or 'none'})", line_number)
    found = value[key]
    if not isinstance(found, kind):
        raise DataError(path, f"field {key!r} should be a {kind.__name__}, found {type(found).__name__}",
                        line_number)
    return found


def json_label(value: dict, key: str, path, line_number) -> Optional[str]:
    """The label as a string, None when the line has none; a JSON number or boolean reads as CLUE
    writes it as a string ("1", "true")."""
    if key not in value:
        return None
    label = value[key]
    if isinstance(label, bool):
        return "true" if label else "false"
    if not isinstance(label, (str, int)):
        raise DataError(path, f"field {key!r} should be a string, found {type(label).__name__}", line_number)
    return str(label).strip()
