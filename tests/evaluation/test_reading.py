"""evaluation/reading.py: the official CMRC2018 metric, and its command line python -m evaluation.cmrc2018."""
import json
import subprocess
import sys

import pytest

from evaluation import reading


def test_cmrc_segmentation_mixes_chinese_and_english():
    assert reading.mixed_segmentation("光荣和ω-Force 3.5版 hello, world") == [
        "光", "荣", "和", "ω", "-", "force", "3.5", "版", "hello", ",", "world"]
    assert reading.mixed_segmentation("《三国》", remove_punctuation=True) == ["三", "国"]


def test_cmrc_scores_by_hand():
    # answer segments: 北 京 大 学 (4); prediction: 在 北 京 (3); LCS run 北京 = 2
    assert reading.f1_score(["北京大学"], "在北京") == pytest.approx(2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4))
    # contiguous, not a subsequence: 北 x 京 vs 北京 -> 1
    assert reading.f1_score(["北京"], "北x京") == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    # max over answers; "-" is removed first, so "ω-force" is the one segment "ωforce":
    # prediction 光 荣 和 ωforce (4); vs "ωforce": P 1/4 R 1; vs "光荣": P 2/4 R 1 -> 2/3
    assert reading.f1_score(["ω-force", "光荣"], "光荣和ω-force") == pytest.approx(2 / 3)
    assert reading.em_score(["《三国演义》"], "三国演义") == 1
    assert reading.em_score(["三国演义"], "三国演义。") == 1
    assert reading.em_score(["三国"], "三国演义") == 0


def test_cmrc_evaluate_counts_skips(tmp_path):
    dataset = {"data": [{"paragraphs": [{"context": "", "qas": [
        {"id": "q1", "question": "?", "answers": [{"text": "北京"}]},
        {"id": "q2", "question": "?", "answers": [{"text": "apple pie"}, {"text": "pie"}]},
        {"id": "q3", "question": "?", "answers": [{"text": "上海"}]}]}]}]}
    predictions = {"q1": "北京", "q2": "an apple pie"}
    result = reading.reading_metrics(dataset, predictions, log=None)
    f1 = 100 * (1 + 2 * (2 / 3) * 1 / (2 / 3 + 1)) / 3
    em = 100 * 1 / 3
    assert list(result) == ["AVERAGE", "F1", "EM", "TOTAL", "SKIP"]
    assert result == {"AVERAGE": "%.3f" % ((f1 + em) / 2), "F1": "%.3f" % f1, "EM": "%.3f" % em,
                      "TOTAL": 3, "SKIP": 1}
    (tmp_path / "d.json").write_text(json.dumps(dataset), encoding="utf-8")
    (tmp_path / "p.json").write_text(json.dumps(predictions), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "evaluation.cmrc2018", str(tmp_path / "d.json"),
                          str(tmp_path / "p.json")], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == result
    assert "Unanswered question: q3" in out.stderr


@pytest.mark.parametrize("content,expected", [
    (b'{"data": []}\n\xff', r"d.json:2: not valid UTF-8: byte 0xff at byte 1 of the line"),
    (b'{"data": [', r"d.json:1: not valid JSON: Expecting value"),
    (b'{"data": [{"paragraphs": [{"qas": [{"id": 3}]}]}]}', r"d.json: not a SQuAD-style dataset"),
])
def test_cmrc_command_names_a_bad_file_in_one_line(tmp_path, content, expected):
    (tmp_path / "d.json").write_bytes(content)
    (tmp_path / "p.json").write_text("{}", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "evaluation.cmrc2018", str(tmp_path / "d.json"),
                          str(tmp_path / "p.json")], capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.startswith("cmrc2018: error: ") and len(out.stderr.strip().splitlines()) == 1
    assert expected in out.stderr and "Traceback" not in out.stderr
