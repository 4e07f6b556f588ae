import pytest

from data.tasks import DataError
from data.tasks.ner import (PEOPLES_DAILY_LABELS, Sentence, char_predictions, convert_sentences,
                            derive_labels, read_sentences)


def test_reads_sentences_and_reports_missing_tag(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("中 B-LOC\n国 I-LOC\n\n\n好 O\n", encoding="utf-8")
    sentences = read_sentences(path)
    assert [(s.chars, s.tags) for s in sentences] == [(["中", "国"], ["B-LOC", "I-LOC"]), (["好"], ["O"])]
    path.write_text("中 B-LOC\n国\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train.txt:2: .*has no tag"):
        read_sentences(path)


def test_label_list_is_the_originals_for_peoples_daily(data_dir):
    sentences = read_sentences(data_dir / "peoples_daily_ner" / "dev.txt")
    assert len(sentences) == 2318
    assert derive_labels(sentences) == PEOPLES_DAILY_LABELS


def test_other_tag_sets_get_a_derived_list():
    labels = derive_labels([Sentence("a", ["x", "y"], ["B-GPE", "I-GPE"])])
    assert labels == ["O", "B-GPE", "I-GPE", "X", "[CLS]", "[SEP]"]


def test_subword_pieces_get_x_and_specials_their_labels(tokenizer):
    sentence = Sentence("s", ["我", "abcdefgh", "京"], ["O", "B-ORG", "B-LOC"])
    pieces = tokenizer.tokenize("abcdefgh")
    assert len(pieces) > 1
    feature = convert_sentences([sentence], PEOPLES_DAILY_LABELS, 16, tokenizer)[0]
    ids = {label: i for i, label in enumerate(PEOPLES_DAILY_LABELS, start=1)}
    expected = ["[CLS]", "O", "B-ORG"] + ["X"] * (len(pieces) - 1) + ["B-LOC", "[SEP]"]
    assert feature.label_ids[:len(expected)] == [ids[t] for t in expected]
    assert feature.label_ids[len(expected):] == [0] * (16 - len(expected))
    assert feature.char_positions == [1, 2, 2 + len(pieces)]
    predicted = list(feature.label_ids)
    assert char_predictions(feature, predicted, PEOPLES_DAILY_LABELS) == ["O", "B-ORG", "B-LOC"]


def test_truncated_characters_predict_o(tokenizer):
    sentence = Sentence("s", list("中国人民"), ["B-LOC", "I-LOC", "O", "O"])
    feature = convert_sentences([sentence], PEOPLES_DAILY_LABELS, 4, tokenizer)[0]
    assert feature.char_positions == [1, 2, None, None]
    assert char_predictions(feature, feature.label_ids, PEOPLES_DAILY_LABELS) == ["B-LOC", "I-LOC", "O", "O"]


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "train.txt"
    path.write_bytes("中 B-LOC\n".encode() + b"\xe5\xbd O\n")
    with pytest.raises(DataError, match=r"train.txt:2: not valid UTF-8: byte 0xe5 at byte 1 of the line"):
        read_sentences(path)


def test_a_file_without_sentences_is_an_error(tmp_path):
    path = tmp_path / "dev.txt"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dev.txt: holds no sentence"):
        read_sentences(path)
