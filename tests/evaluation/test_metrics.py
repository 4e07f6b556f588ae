import json
import subprocess
import sys

import pytest

from evaluation import cmrc2018
from evaluation.classification import classification_metrics
from evaluation.ner import entity_level_metrics, extract_chunks, token_level_metrics


def test_classification_metrics_by_hand():
    metrics = classification_metrics([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], ["neg", "pos"])
    assert metrics["accuracy"] == pytest.approx(3 / 5)
    assert metrics["per_class"]["neg"]["precision"] == pytest.approx(1 / 2)
    assert metrics["per_class"]["neg"]["recall"] == pytest.approx(1 / 2)
    assert metrics["per_class"]["pos"]["precision"] == pytest.approx(2 / 3)
    assert metrics["per_class"]["pos"]["recall"] == pytest.approx(2 / 3)
    assert metrics["per_class"]["pos"]["f1"] == pytest.approx(2 / 3)


def test_chunks_with_ill_formed_i_starts():
    tags = ["I-PER", "I-PER", "O", "B-LOC", "I-ORG", "I-ORG", "B-LOC", "B-LOC", "X", "I-LOC"]
    assert extract_chunks(tags) == {("PER", 0, 1), ("LOC", 3, 3), ("ORG", 4, 5), ("LOC", 6, 6),
                                    ("LOC", 7, 7), ("LOC", 9, 9)}


def test_entity_level_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "I-ORG"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["I-ORG", "I-ORG", "O"]]
    metrics = entity_level_metrics(gold, predicted)
    # gold: PER(0-1) LOC(3) ORG(0-2); predicted: PER(0-1) ORG(3) ORG(0-1): one match.
    assert metrics["precision"] == pytest.approx(1 / 3)
    assert metrics["recall"] == pytest.approx(1 / 3)
    assert metrics["f1"] == pytest.approx(1 / 3)
    assert metrics["per_type"]["PER"]["f1"] == pytest.approx(1.0)
    assert metrics["per_type"]["ORG"]["precision"] == 0.0
    assert metrics["per_type"]["LOC"]["recall"] == 0.0


def test_token_level_by_hand():
    labels = ["O", "B-PER", "I-PER", "X", "[CLS]", "[SEP]"]  # ids 1..6
    gold = [5, 2, 3, 1, 4, 6, 0]
    pred = [5, 2, 1, 3, 4, 6, 2]
    mask = [1, 1, 1, 1, 1, 1, 0]
    metrics = token_level_metrics(gold, pred, mask, labels)
    # entity ids {2, 3}: gold positives 2, predicted positives 2 (masked position ignored), tp 1
    assert metrics["precision"] == pytest.approx(0.5)
    assert metrics["recall"] == pytest.approx(0.5)


def test_cmrc_segmentation_mixes_chinese_and_english():
    assert cmrc2018.mixed_segmentation("光荣和ω-Force 3.5版 hello, world") == [
        "光", "荣", "和", "ω", "-", "force", "3.5", "版", "hello", ",", "world"]
    assert cmrc2018.mixed_segmentation("《三国》", remove_punctuation=True) == ["三", "国"]


def test_cmrc_scores_by_hand():
    # answer segments: 北 京 大 学 (4); prediction: 在 北 京 (3); LCS run 北京 = 2
    assert cmrc2018.f1_score(["北京大学"], "在北京") == pytest.approx(2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4))
    # contiguous, not a subsequence: 北 x 京 vs 北京 -> 1
    assert cmrc2018.f1_score(["北京"], "北x京") == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    # max over answers; "-" is removed first, so "ω-force" is the one segment "ωforce":
    # prediction 光 荣 和 ωforce (4); vs "ωforce": P 1/4 R 1; vs "光荣": P 2/4 R 1 -> 2/3
    assert cmrc2018.f1_score(["ω-force", "光荣"], "光荣和ω-force") == pytest.approx(2 / 3)
    assert cmrc2018.em_score(["《三国演义》"], "三国演义") == 1
    assert cmrc2018.em_score(["三国演义"], "三国演义。") == 1
    assert cmrc2018.em_score(["三国"], "三国演义") == 0


def test_cmrc_evaluate_counts_skips(tmp_path):
    dataset = {"data": [{"paragraphs": [{"context": "", "qas": [
        {"id": "q1", "question": "?", "answers": [{"text": "北京"}]},
        {"id": "q2", "question": "?", "answers": [{"text": "apple pie"}, {"text": "pie"}]},
        {"id": "q3", "question": "?", "answers": [{"text": "上海"}]}]}]}]}
    predictions = {"q1": "北京", "q2": "an apple pie"}
    result = cmrc2018.evaluate(dataset, predictions, log=None)
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
