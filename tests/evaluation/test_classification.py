"""evaluation/classification.py: accuracy and per-class precision / recall / F1."""
import pytest

from evaluation.classification import classification_metrics


def test_classification_metrics_by_hand():
    metrics = classification_metrics([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], ["neg", "pos"])
    assert metrics["accuracy"] == pytest.approx(3 / 5)
    assert metrics["per_class"]["neg"]["precision"] == pytest.approx(1 / 2)
    assert metrics["per_class"]["neg"]["recall"] == pytest.approx(1 / 2)
    assert metrics["per_class"]["pos"]["precision"] == pytest.approx(2 / 3)
    assert metrics["per_class"]["pos"]["recall"] == pytest.approx(2 / 3)
    assert metrics["per_class"]["pos"]["f1"] == pytest.approx(2 / 3)
