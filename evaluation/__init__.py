"""Task metrics, one module per task, named by the task's key as on the other floors:

- classification.py  accuracy, per-class precision / recall / F1 (`classification_metrics`)
- ner.py             the original's token-level and conlleval entity-level metrics (`token_level_metrics`,
                     `entity_level_metrics`)
- reading.py         the official CMRC2018 metric (`reading_metrics`); `python -m evaluation.cmrc2018`
                     (cmrc2018.py) is its command line under the original's name
- scores.py          precision, recall and F1 from counts, shared by the two above

A task's reader is data/tasks/<key>.py, its training wiring training/tasks/<key>.py (docs/adding_a_task.md).
"""
from evaluation.classification import classification_metrics
from evaluation.ner import entity_level_metrics, extract_chunks, token_level_metrics
from evaluation.reading import reading_metrics
from evaluation.scores import f1_of, safe_ratio

__all__ = [
    "classification_metrics",
    "entity_level_metrics",
    "extract_chunks",
    "f1_of",
    "reading_metrics",
    "safe_ratio",
    "token_level_metrics",
]
