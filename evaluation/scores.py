"""Precision, recall and F1 from counts, shared by the classification and NER metrics (0 where undefined)."""


def safe_ratio(numerator, denominator) -> float:
    """numerator / denominator as a float, 0.0 when the denominator is 0."""
    return float(numerator) / float(denominator) if denominator else 0.0


def f1_of(precision, recall):
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
