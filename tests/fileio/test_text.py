"""fileio/text.py: strict UTF-8 reading that names the file, line and column of an invalid byte."""
import pytest

from fileio.text import TextDecodeError, read_utf8, utf8_lines


def test_lines_end_as_in_text_mode(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("一\r\n二\rthree\n\nfour".encode())
    assert list(utf8_lines(path)) == [(1, "一"), (2, "二"), (3, "three"), (4, ""), (5, "four")]
    assert list(utf8_lines(path)) == [(n, line.rstrip("\n")) for n, line in
                                      enumerate(open(path, encoding="utf-8"), start=1)]


def test_an_invalid_byte_is_named_by_file_line_and_column(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes("好的\n第二行\n".encode() + b"ab\xffc\n")
    with pytest.raises(TextDecodeError, match=r"bad.txt:3: not valid UTF-8: byte 0xff at byte 3 of the line"):
        read_utf8(path)
    lines = utf8_lines(path)
    assert next(lines) == (1, "好的") and next(lines) == (2, "第二行")
    with pytest.raises(TextDecodeError) as raised:
        next(lines)
    assert (raised.value.path, raised.value.line_number) == (path, 3)
