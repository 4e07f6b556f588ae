"""--task_name=custom (data/tasks/custom.py through data/tasks/classification.py): the user's own TSV
or JSON-lines files read by named columns, checked for the exact examples and one-line errors."""
import json

import pytest

from data.tasks import DataError
from data.tasks.classification import ClassificationData
from data.tasks.custom import CustomColumns, parse_label_list
from data.tasks.label_list import save_labels


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def custom(tmp_path, labels=None, output_dir=None, training=False, **columns):
    return ClassificationData("custom", str(tmp_path), output_dir, CustomColumns(**columns), labels, training)


def fields(examples):
    return [(e.text_a, e.text_b, e.label) for e in examples]


def test_tsv_with_header_by_column_names(tmp_path):
    write(tmp_path / "train.tsv", "id\tsentiment\treview\n1\tpos\t好吃\n2\tneg\t太贵\n")
    data = custom(tmp_path, text_a="review", label="sentiment", header=True)
    assert data.labels == ["neg", "pos"] and data.labels_derived
    assert fields(data.examples("train")) == [("好吃", None, "pos"), ("太贵", None, "neg")]


def test_tsv_without_header_by_indices_with_a_pair_and_given_labels(tmp_path):
    write(tmp_path / "dev.tsv", "问一\t问二\tyes\n\n问三\t问四\tno\n")
    data = custom(tmp_path, labels=["no", "yes"], text_a="0", text_b="1", label="2")
    assert not data.labels_derived
    assert fields(data.examples("dev")) == [("问一", "问二", "yes"), ("问三", "问四", "no")]


def test_a_test_file_may_leave_out_the_label(tmp_path):
    write(tmp_path / "test.tsv", "好吃\n太贵\n")
    data = custom(tmp_path, labels=["neg", "pos"], text_a="0", label="1")
    assert fields(data.examples("test")) == [("好吃", None, None), ("太贵", None, None)]


def test_a_test_file_with_header_may_leave_out_the_label_column(tmp_path):
    write(tmp_path / "test.tsv", "review\n好吃\n")
    write(tmp_path / "dev.tsv", "review\n好吃\n")
    data = custom(tmp_path, labels=["neg", "pos"], text_a="review", label="sentiment", header=True)
    assert fields(data.examples("test")) == [("好吃", None, None)]
    with pytest.raises(DataError, match=r"dev.tsv:1: no column named 'sentiment' \(--label_column\)"):
        data.examples("dev")


def test_json_lines_by_field_names(tmp_path):
    lines = [{"q": "今天", "p": "明天", "y": 1, "id": "a"}, {"q": "雨", "p": "晴", "y": 0, "id": "b"}]
    write(tmp_path / "train.json", "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    data = custom(tmp_path, input_format="json", text_a="q", text_b="p", label="y")
    assert data.labels == ["0", "1"]
    examples = data.examples("train")
    assert fields(examples) == [("今天", "明天", "1"), ("雨", "晴", "0")]
    assert [e.example_id for e in examples] == ["a", "b"]


def test_saved_labels_win_over_the_training_file_when_not_training(tmp_path):
    write(tmp_path / "train.tsv", "a\tz\n")
    out = tmp_path / "out"
    out.mkdir()
    save_labels(str(out), ["z", "y"])
    assert custom(tmp_path, output_dir=str(out), text_a="0", label="1").labels == ["z", "y"]
    assert custom(tmp_path, text_a="0", label="1").labels == ["z"]


def test_training_into_an_output_dir_saved_with_other_labels_stops_naming_both(tmp_path):
    write(tmp_path / "train.tsv", "a\tpos\nb\tneg\n")
    out = tmp_path / "out"
    out.mkdir()
    save_labels(str(out), ["pos", "neg"])  # an earlier run's order
    with pytest.raises(DataError) as raised:
        custom(tmp_path, output_dir=str(out), training=True, text_a="0", label="1")
    message = str(raised.value)
    assert message == (f"{out / 'label_list.txt'}: holds the labels ['pos', 'neg'] of an earlier run in this "
                       f"--output_dir, but the training file {tmp_path / 'train.tsv'} has ['neg', 'pos']: use a new "
                       "--output_dir (or remove the old run's files from it)")
    # resuming: the training file gives the list already saved
    save_labels(str(out), ["neg", "pos"])
    assert custom(tmp_path, output_dir=str(out), training=True, text_a="0", label="1").labels == ["neg", "pos"]


@pytest.mark.parametrize("text, columns, message", [
    ("id\ttext\n1\t好\n", dict(text_a="review", label="text", header=True),
     r"train.tsv:1: no column named 'review' \(--text_a_column\) in the header; its columns: id, text"),
    ("好\tpos\n\tneg\n", dict(text_a="0", label="1"), r"train.tsv:2: empty text in column '0'"),
    ("好\tpos\n差\tmeh\n", dict(text_a="0", label="1"), r"train.tsv:2: label 'meh' is not in the label set"),
    ("pos\t好\n差\n", dict(text_a="1", label="0"), r"train.tsv:2: expected at least 2 tab-separated columns, found 1"),
    ("好\tpos\n差\n", dict(text_a="0", label="1"), r"train.tsv:2: the line has no label"),
])
def test_bad_tsv_lines_are_one_line_errors(tmp_path, text, columns, message):
    write(tmp_path / "train.tsv", text)
    with pytest.raises(DataError, match=message):
        custom(tmp_path, labels=["neg", "pos"], **columns).examples("train")


def test_bad_json_lines_are_one_line_errors(tmp_path):
    write(tmp_path / "dev.json", '{"text": "好", "label": "pos"}\n{"txt": "差", "label": "neg"}\n')
    with pytest.raises(DataError, match=r"dev.json:2: missing field 'text' \(fields: txt, label\)"):
        custom(tmp_path, labels=["neg", "pos"], input_format="json", text_a="text").examples("dev")
    write(tmp_path / "dev.json", '{"text": "好", "label": "pos"}\n{"text": "差", "label": "bad"}\n')
    with pytest.raises(DataError, match=r"dev.json:2: label 'bad' is not in the label set \['neg', 'pos'\]$"):
        custom(tmp_path, labels=["neg", "pos"], input_format="json", text_a="text").examples("dev")
    write(tmp_path / "dev.json", '{"text": "  ", "label": "pos"}\n')
    with pytest.raises(DataError, match=r"dev.json:1: empty text in column 'text'"):
        custom(tmp_path, labels=["neg", "pos"], input_format="json", text_a="text").examples("dev")


@pytest.mark.parametrize("input_format, header", [("tsv", False), ("tsv", True), ("json", False)])
def test_invalid_utf8_is_a_one_line_error_naming_the_line(tmp_path, input_format, header):
    good = b'{"text": "\xe5\xa5\xbd", "label": "pos"}' if input_format == "json" else b"\xe5\xa5\xbd\tpos"
    bad = good.replace(b"\xe5\xa5\xbd", b"\xe5\xa5")
    head = [b"text\tlabel"] if header else []
    (tmp_path / f"train.{input_format}").write_bytes(b"\n".join(head + [good, bad, good]) + b"\n")
    columns = dict(text_a="text", label="label") if input_format == "json" or header else dict(text_a="0", label="1")
    data = custom(tmp_path, labels=["neg", "pos"], input_format=input_format, header=header, **columns)
    with pytest.raises(DataError, match=rf"train.{input_format}:{2 + header}: not valid UTF-8: byte 0xe5 at byte \d+ "
                                        r"of the line \(.*\); the file must be UTF-8 text$"):
        data.examples("train")


def test_bad_column_flags_are_clear_errors():
    with pytest.raises(ValueError, match=r"--text_a_column='review' names a column, but without --has_header"):
        CustomColumns(text_a="review", label="0")
    with pytest.raises(ValueError, match=r"unknown --input_format 'csv'"):
        CustomColumns(input_format="csv")


def test_label_list_flag():
    assert parse_label_list("neg, pos") == ["neg", "pos"]
    assert parse_label_list(None) is None
    with pytest.raises(ValueError, match=r"repeats pos"):
        parse_label_list("pos,neg,pos")
    with pytest.raises(ValueError, match=r"has an empty label"):
        parse_label_list("pos,,neg")
