"""Reading text files as strict UTF-8, so that an invalid byte is named by file, line and column.

Python's own error ("'utf-8' codec can't decode byte 0xff in position 4001") names neither the
file nor the line. Lines end as in Python's text mode (\n, \r\n or \r).
"""
from typing import Iterator, Tuple


class TextDecodeError(ValueError):
    """A file that is not valid UTF-8; `reason` is the message without the file and line."""

    def __init__(self, path, line_number: int, reason: str):
        super().__init__(f"{path}:{line_number}: {reason}")
        self.path = path
        self.line_number = line_number
        self.reason = reason


def decode_utf8(raw: bytes, path, first_line: int = 1) -> str:
    """`raw` (the file's bytes from line `first_line` on) as text, or a TextDecodeError naming the line."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line_number = first_line + raw.count(b"\n", 0, error.start)
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise TextDecodeError(path, line_number, f"not valid UTF-8: byte {raw[error.start]:#04x} at byte {column} "
                                                 f"of the line ({error.reason}); the file must be UTF-8 text") from None


def read_utf8(path) -> str:
    """The whole file as text (strict UTF-8)."""
    with open(path, "rb") as f:
        return decode_utf8(f.read(), path)


def raw_lines(path) -> Iterator[Tuple[int, bytes]]:
    """(line number from 1, the line's bytes with its end) of a file, lines ending as in text mode."""
    with open(path, "rb") as f:
        data = f.read()
    for line_number, raw in enumerate(data.splitlines(keepends=True), start=1):
        yield line_number, raw


def utf8_lines(path) -> Iterator[Tuple[int, str]]:
    """(line number from 1, the line without its end) of a strict UTF-8 text file."""
    for line_number, raw in raw_lines(path):
        yield line_number, decode_utf8(raw, path, line_number).rstrip("\r\n")
