import pytest

from data.tasks import DataError
from data.tasks.classification import (ClassificationData, convert_examples, read_examples,
                                       task_format, truncate_seq_pair)


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_header_is_recognised_not_assumed(tmp_path):
    fmt = task_format("chnsenti")
    with_header = write(tmp_path / "a.tsv", "label\ttext_a\n1\t好\n0\t差\n")
    without = write(tmp_path / "b.tsv", "1\t好\n0\t差\n")
    assert [e.label for e in read_examples(with_header, fmt, ["0", "1"], "dev")] == ["1", "0"]
    assert [e.text_a for e in read_examples(without, fmt, ["0", "1"], "dev")] == ["好", "差"]


def test_xnli_reads_contradictory_as_contradiction(tmp_path):
    path = write(tmp_path / "dev.tsv", "text_a\ttext_b\tlabel\n他\t她\tcontradictory\n他\t他\tentailment\n")
    fmt = task_format("xnli")
    examples = read_examples(path, fmt, fmt.labels, "dev")
    assert [(e.text_a, e.text_b, e.label) for e in examples] == [
        ("他", "她", "contradiction"), ("他", "他", "entailment")]


def test_wrong_column_count_names_file_and_line(tmp_path):
    path = write(tmp_path / "dev.tsv", "a\tb\t1\nonly one column\n")
    with pytest.raises(DataError, match=r"dev.tsv:2: expected 3 tab-separated columns, found 1"):
        read_examples(path, task_format("lcqmc"), ["0", "1"], "dev")


def test_dirty_training_lines_are_skipped(tmp_path, caplog):
    path = write(tmp_path / "train.tsv", "a\tb\t1\nbroken line\nc\td\t0\n")
    examples = read_examples(path, task_format("lcqmc"), ["0", "1"], "train", skip_bad_lines=True)
    assert [e.label for e in examples] == ["1", "0"]
    assert "train.tsv:2" in caplog.text and "skipped 1" in caplog.text


def test_unknown_label_is_an_error(tmp_path):
    path = write(tmp_path / "dev.tsv", "a\tb\t2\n")
    with pytest.raises(DataError, match=r"dev.tsv:1: label '2' is not in the label set"):
        read_examples(path, task_format("lcqmc"), ["0", "1"], "dev")


def test_unlabelled_test_file_is_predict_only(tmp_path):
    path = write(tmp_path / "test.tsv", "a\tb\nc\td\n")
    examples = read_examples(path, task_format("lcqmc"), ["0", "1"], "test")
    assert [e.label for e in examples] == [None, None]
    single = write(tmp_path / "single.tsv", "好\n差\n")
    examples = read_examples(single, task_format("chnsenti"), ["0", "1"], "test")
    assert [(e.text_a, e.label) for e in examples] == [("好", None), ("差", None)]


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="dev.tsv: file not found"):
        ClassificationData("lcqmc", str(tmp_path)).examples("dev")


def test_text_clf_derives_labels_from_train(tmp_path):
    write(tmp_path / "train.tsv", "b\tx\na\ty\nb\tz\n")
    assert ClassificationData("text_clf", str(tmp_path)).labels == ["a", "b"]


def test_truncate_pair_longest_first():
    a, b = list("abcdef"), list("xy")
    truncate_seq_pair(a, b, 5)
    assert a == list("abc") and b == list("xy")


def test_feature_conversion_as_original(tokenizer):
    from data.tasks.classification import InputExample

    feature = convert_examples([InputExample("x", "我爱", "北京", "1")], ["0", "1"], 10, tokenizer)[0]
    tokens = ["[CLS]", "我", "爱", "[SEP]", "北", "京", "[SEP]"]
    assert feature.input_ids == tokenizer.convert_tokens_to_ids(tokens) + [0, 0, 0]
    assert feature.input_mask == [1] * 7 + [0] * 3
    assert feature.segment_ids == [0, 0, 0, 0, 1, 1, 1, 0, 0, 0]
    assert feature.label_id == 1


def test_shared_samples_read(data_dir):
    # chnsenti_small/dev.tsv has 113 lines, the last without a newline (wc -l says 112)
    for task, folder, count in [("lcqmc", "lcqmc", 8802), ("xnli", "xnli_zh", 2490),
                                ("chnsenti", "chnsenticorp", 1200), ("chnsenti", "chnsenti_small", 113)]:
        data = ClassificationData(task, str(data_dir / folder))
        assert len(data.examples("dev")) == count, folder


def test_invalid_utf8_names_file_and_line_and_is_skipped_only_in_training(tmp_path, caplog):
    path = tmp_path / "dev.tsv"
    path.write_bytes("a\tb\t1\n".encode() + b"\xff\xfe\tb\t0\n" + "c\td\t0\n".encode())
    with pytest.raises(DataError, match=r"dev.tsv:2: not valid UTF-8: byte 0xff at byte 1 of the line"):
        read_examples(path, task_format("lcqmc"), ["0", "1"], "dev")
    examples = read_examples(path, task_format("lcqmc"), ["0", "1"], "train", skip_bad_lines=True)
    assert [e.text_a for e in examples] == ["a", "c"]
    assert "dev.tsv:2: not valid UTF-8" in caplog.text and "skipped 1" in caplog.text


def test_a_file_without_examples_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"dev.tsv: holds no example \(an empty file\?\)"):
        read_examples(write(tmp_path / "dev.tsv", "\n\n"), task_format("lcqmc"), ["0", "1"], "dev")
    with pytest.raises(DataError, match=r"train.tsv: holds no example \(1 bad line\(s\) skipped\)"):
        read_examples(write(tmp_path / "train.tsv", "a\tb\n"), task_format("lcqmc"), ["0", "1"], "train",
                      skip_bad_lines=True)
