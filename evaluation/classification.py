"""Accuracy and per-class precision / recall / F1 (fractions in [0, 1]; 0 where undefined)."""

import numpy as np

from evaluation.scores import f1_of, safe_ratio


def classification_metrics(label_ids, predicted_ids, labels):
    """labels: the label names, index = id. Returns accuracy, macro_f1 and per_class metrics."""
    gold = np.asarray(label_ids)
    predicted = np.asarray(predicted_ids)
    if gold.shape != predicted.shape:
        raise ValueError(f"{gold.shape[0]} gold labels but {predicted.shape[0]} predictions")
    per_class = {}
    for index, name in enumerate(labels):
        true_positive = int(np.sum((predicted == index) & (gold == index)))
        precision = safe_ratio(true_positive, np.sum(predicted == index))
        recall = safe_ratio(true_positive, np.sum(gold == index))
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1_of(precision, recall),
                           "support": int(np.sum(gold == index))}
    return {
        "accuracy": safe_ratio(np.sum(gold == predicted), gold.size),
        "macro_f1": float(np.mean([m["f1"] for m in per_class.values()])) if per_class else 0.0,
        "per_class": per_class,
    }
