"""evaluation/ner.py: conlleval chunking, entity-level and the original's token-level metrics."""
import pytest

from evaluation.ner import entity_level_metrics, extract_chunks, token_level_metrics


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
