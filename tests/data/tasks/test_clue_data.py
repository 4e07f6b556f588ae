"""The CLUE readers (data/tasks/clue.py through data/tasks/classification.py and ner.py) on small
files in CLUE's JSON-lines form, checked for the exact examples they give."""
import json
import logging

import pytest

from data.tasks import DataError
from data.tasks.classification import ClassificationData, task_format
from data.tasks.clue import TNEWS_LABELS, tags_to_spans
from data.tasks.ner import CLUENER_LABELS, NerData, cluener_prediction


def write_lines(path, objects):
    path.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects), encoding="utf-8")
    return path


def read(task, tmp_path, split, objects):
    write_lines(tmp_path / f"{split}.json", objects)
    return ClassificationData(task, str(tmp_path)).examples(split)


def fields(examples):
    return [(e.text_a, e.text_b, e.label) for e in examples]


def test_label_sets_are_fixed_by_the_task(tmp_path):
    assert TNEWS_LABELS == ("100", "101", "102", "103", "104", "106", "107", "108", "109", "110", "112", "113",
                            "114", "115", "116")
    assert ClassificationData("iflytek", str(tmp_path)).labels == [str(i) for i in range(119)]
    assert ClassificationData("cmnli", str(tmp_path)).labels == ["contradiction", "entailment", "neutral"]
    assert ClassificationData("cluewsc2020", str(tmp_path)).labels == ["true", "false"]
    assert ClassificationData("AFQMC", str(tmp_path)).labels == ["0", "1"]


def test_afqmc_pairs_and_a_test_file_without_labels(tmp_path):
    assert fields(read("afqmc", tmp_path, "dev", [{"sentence1": "花呗", "sentence2": "借呗", "label": "0"},
                                                 {"sentence1": "还款", "sentence2": "还钱", "label": "1"}])) == [
        ("花呗", "借呗", "0"), ("还款", "还钱", "1")]
    examples = read("afqmc", tmp_path, "test", [{"id": 7, "sentence1": "a", "sentence2": "b"},
                                               {"id": 8, "sentence1": "c", "sentence2": "d"}])
    assert [(e.example_id, e.label) for e in examples] == [(7, None), (8, None)]


def test_cmnli_dash_labels_are_skipped_and_counted_but_kept_in_test(tmp_path, caplog):
    lines = [{"sentence1": "他来了", "sentence2": "他到了", "label": "entailment"},
             {"sentence1": "他来了", "sentence2": "他没来", "label": "-"},
             {"sentence1": "他来了", "sentence2": "天晴", "label": "neutral"},
             {"sentence1": "x", "sentence2": "y", "label": "-"}]
    with caplog.at_level(logging.WARNING):
        examples = read("cmnli", tmp_path, "train", lines)
    assert fields(examples) == [("他来了", "他到了", "entailment"), ("他来了", "天晴", "neutral")]
    assert [e.guid for e in examples] == ["train-0", "train-1"]
    assert "skipped 2 examples labelled '-'" in caplog.text
    test = read("ocnli", tmp_path, "test", [{"id": 0, "sentence1": "a", "sentence2": "b", "label": "-"},
                                            {"id": 1, "sentence1": "c", "sentence2": "d"}])
    assert [(e.example_id, e.label) for e in test] == [(0, None), (1, None)]


@pytest.mark.parametrize("split", ["train", "dev"])
def test_ocnli_dash_labels_are_skipped_and_counted(tmp_path, caplog, split):
    lines = [{"sentence1": "他来了", "sentence2": "他没来", "label": "-", "genre": "news"},
             {"sentence1": "天晴了", "sentence2": "没下雨", "label": "entailment", "genre": "news"},
             {"sentence1": "a", "sentence2": "b", "label": "-"},
             {"sentence1": "c", "sentence2": "d", "label": "-"},
             {"sentence1": "他来了", "sentence2": "他没来", "label": "contradiction"}]
    with caplog.at_level(logging.WARNING):
        examples = read("ocnli", tmp_path, split, lines)
    assert fields(examples) == [("天晴了", "没下雨", "entailment"), ("他来了", "他没来", "contradiction")]
    assert [e.guid for e in examples] == [f"{split}-0", f"{split}-1"]
    assert f"{split}.json: skipped 3 examples labelled '-' (no gold label)" in caplog.text


def test_tnews_and_iflytek_single_sentences_and_unused_codes(tmp_path):
    assert fields(read("tnews", tmp_path, "dev", [{"label": "102", "label_desc": "news_entertainment",
                                                  "sentence": "新片上映", "keywords": ""}])) == [
        ("新片上映", None, "102")]
    with pytest.raises(DataError, match=r"dev.json:1: label '105' is not in the label set"):
        read("tnews", tmp_path, "dev", [{"label": "105", "sentence": "x"}])
    assert fields(read("iflytek", tmp_path, "dev", [{"label": "118", "label_des": "其他", "sentence": "一款应用"}])) == [
        ("一款应用", None, "118")]


def test_csl_keywords_joined_by_spaces(tmp_path):
    lines = [{"id": 0, "abst": "摘要一", "keyword": ["图像"], "label": "1"},
             {"id": 1, "abst": "摘要二", "keyword": ["深度学习", "图像", "分割"], "label": "0"}]
    assert fields(read("csl", tmp_path, "dev", lines)) == [("图像", "摘要一", "1"),
                                                          ("深度学习 图像 分割", "摘要二", "0")]


def wsc(text, span1, span2, label="true"):
    return {"target": {"span1_index": span1[0], "span1_text": span1[1], "span2_index": span2[0],
                       "span2_text": span2[1]}, "idx": 0, "label": label, "text": text}


def test_wsc_marks_span1_with_underscores_and_span2_with_brackets(tmp_path):
    lines = [wsc("小明说他饿了", (0, "小明"), (3, "他")),  # span1 at the start
             wsc("他说小明来了吗", (2, "小明"), (0, "他"), "false"),  # span2 before span1, at the start
             wsc("张三看见了李四", (0, "张三"), (5, "李四"))]  # span2 at the end
    assert fields(read("cluewsc2020", tmp_path, "dev", lines)) == [
        ("_小明_说[他]饿了", None, "true"), ("[他]说_小明_来了吗", None, "false"), ("_张三_看见了[李四]", None, "true")]


def test_wsc_labels_written_as_json_booleans_read_as_clue_writes_them(tmp_path):
    line = wsc("他来了", (0, "他"), (2, "了"))
    line["label"] = False
    assert fields(read("cluewsc2020", tmp_path, "dev", [line])) == [("_他_来[了]", None, "false")]


@pytest.mark.parametrize("span1, span2, message", [
    ((1, "小明"), (3, "他"), r"target.span1_text '小明' is not at target.span1_index 1"),
    ((0, "小明"), (9, "他"), r"target.span2_text '他' is not at target.span2_index 9"),
    ((0, "小明说"), (2, "说"), r"target.span1 and target.span2 overlap in the text"),
])
def test_wsc_spans_that_do_not_match_name_the_line(tmp_path, span1, span2, message):
    with pytest.raises(DataError, match=r"dev.json:2: " + message):
        read("cluewsc2020", tmp_path, "dev", [wsc("小明说他饿了", (0, "小明"), (3, "他")),
                                              wsc("小明说他饿了", span1, span2)])


def test_bad_json_lines_name_file_line_and_reason(tmp_path):
    (tmp_path / "dev.json").write_text('{"sentence1": "a", "sentence2": "b", "label": "0"}\n{"sentence1": \n',
                                       encoding="utf-8")
    with pytest.raises(DataError, match=r"dev.json:2: not a JSON object"):
        ClassificationData("afqmc", str(tmp_path)).examples("dev")
    with pytest.raises(DataError, match=r"dev.json:1: missing field 'sentence2'"):
        read("afqmc", tmp_path, "dev", [{"sentence1": "a", "label": "0"}])
    with pytest.raises(DataError, match=r"dev.json:1: the line has no label"):
        read("afqmc", tmp_path, "dev", [{"sentence1": "a", "sentence2": "b"}])
    with pytest.raises(DataError, match=r"train.json: file not found"):
        ClassificationData("csl", str(tmp_path)).examples("train")


def test_a_file_without_an_example_is_an_error(tmp_path):
    (tmp_path / "dev.json").write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dev.json: holds no example \(an empty file\?\)$"):
        ClassificationData("afqmc", str(tmp_path)).examples("dev")
    with pytest.raises(DataError, match=r"train.json: holds no example \(2 without a gold label skipped\)$"):
        read("ocnli", tmp_path, "train", [{"sentence1": "a", "sentence2": "b", "label": "-"}] * 2)
    with pytest.raises(DataError, match=r"dev.json: holds no sentence \(an empty file\?\)$"):
        NerData(str(tmp_path), task_name="cluener").sentences("dev")


def test_clue_tasks_name_their_submission_file():
    assert task_format("tnews").submission_file == "tnews_predict.json"
    assert task_format("cluewsc2020").submission_file == "cluewsc2020_predict.json"
    assert task_format("lcqmc").submission_file is None


def cluener(text, label=None, **extra):
    line = {**extra, "text": text}
    if label is not None:
        line["label"] = label
    return line


def test_cluener_spans_become_char_bio_tags(tmp_path):
    write_lines(tmp_path / "dev.json", [
        cluener("浙商银行企业信贷部叶老桂", {"name": {"叶老桂": [[9, 11]]}, "company": {"浙商银行": [[0, 3]]}}),
        cluener("北京北京", {"address": {"北京": [[0, 1], [2, 3]]}}),
        cluener("无实体"),
    ])
    data = NerData(str(tmp_path), task_name="cluener")
    types = ["address", "book", "company", "game", "government", "movie", "name", "organization", "position",
             "scene"]
    assert data.labels == CLUENER_LABELS == (
        ["O"] + [f"{prefix}-{t}" for t in types for prefix in ("B", "I")] + ["X", "[CLS]", "[SEP]"])
    sentences = data.sentences("dev")
    assert sentences[0].chars == list("浙商银行企业信贷部叶老桂")
    assert sentences[0].tags == ["B-company", "I-company", "I-company", "I-company", "O", "O", "O", "O", "O",
                                 "B-name", "I-name", "I-name"]
    assert sentences[1].tags == ["B-address", "I-address", "B-address", "I-address"]
    assert sentences[2].tags == ["O", "O", "O"]


@pytest.mark.parametrize("label, message", [
    ({"name": {"叶老桂": [[9, 12]]}}, r"name '叶老桂': span \[9, 12\] is outside the text \(length 12\)"),
    ({"name": {"叶老桂": [[8, 10]]}}, r"name '叶老桂': span \[8, 10\] reads '部叶老' in the text"),
    ({"company": {"浙商银行": [[0, 3]]}, "organization": {"银行企业": [[2, 5]]}},
     r"organization '银行企业': span \[2, 5\] overlaps company span \[0, 3\]"),
    ({"person": {"叶老桂": [[9, 11]]}}, r"unknown entity type 'person'"),
    ({"name": {"叶老桂": [9, 11]}}, r"name '叶老桂': a span should be \[start, end\], found 9"),
])
def test_cluener_bad_spans_name_the_line(tmp_path, label, message):
    write_lines(tmp_path / "train.json", [cluener("浙商银行企业信贷部叶老桂", {"name": {"叶老桂": [[9, 11]]}}),
                                          cluener("浙商银行企业信贷部叶老桂", label)])
    with pytest.raises(DataError, match=r"train.json:2: " + message):
        NerData(str(tmp_path), task_name="cluener").sentences("train")


def test_cluener_predictions_are_written_back_in_its_form(tmp_path):
    write_lines(tmp_path / "test.json", [cluener("去北京看故宫", id=3)])
    sentence = NerData(str(tmp_path), task_name="cluener").sentences("test")[0]
    assert sentence.tags == ["O"] * 6
    predicted = ["O", "B-address", "I-address", "O", "B-scene", "I-scene"]
    assert cluener_prediction(sentence, predicted) == {
        "id": 3, "text": "去北京看故宫", "label": {"address": {"北京": [[1, 2]]}, "scene": {"故宫": [[4, 5]]}}}


def test_tags_to_spans_round_trips_and_reads_a_stray_i_as_a_start():
    assert tags_to_spans("北京北京", ["B-address", "I-address", "B-address", "I-address"]) == {
        "address": {"北京": [[0, 1], [2, 3]]}}
    assert tags_to_spans("ab", ["I-name", "I-game"]) == {"name": {"a": [[0, 0]]}, "game": {"b": [[1, 1]]}}
    assert tags_to_spans("abc", ["O", "O", "B-book"]) == {"book": {"c": [[2, 2]]}}


def test_unknown_tagging_task_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"unknown --task_name 'clue' for sequence labelling; known: cluener, ner"):
        NerData(str(tmp_path), task_name="clue")
