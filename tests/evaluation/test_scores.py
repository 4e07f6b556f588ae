"""evaluation/scores.py: ratios and F1 from counts, 0 where undefined."""
import pytest

from evaluation.scores import f1_of, safe_ratio


def test_safe_ratio_is_zero_for_an_empty_denominator():
    assert safe_ratio(3, 4) == pytest.approx(0.75)
    assert safe_ratio(0, 0) == 0.0


def test_f1_is_the_harmonic_mean_and_zero_without_hits():
    assert f1_of(0.5, 1.0) == pytest.approx(2 / 3)
    assert f1_of(0.0, 0.0) == 0.0
