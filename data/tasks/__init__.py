"""Readers and feature conversion of the fine-tuning tasks, one module per task named by its key as on
the other floors, plus what the tasks share:

- classification.py  sentence (pair) classification files (lcqmc, chnsenti, text_clf, xnli, mrpc):
                     `ClassificationData`, `convert_examples`
- ner.py             character-level `char tag` files: `NerData`, `convert_sentences`, `char_predictions`
- reading.py         SQuAD-style JSON (CMRC2018, SQuAD v1.1): `ReadingData`, `convert_examples` (sliding
                     windows), `decode_predictions`
- packing.py         the `[CLS] a [SEP] (b [SEP])` layout and padding every task uses
- pipeline.py        feature arrays and the tf.data pipeline over them (imports TensorFlow, so it is not
                     re-exported here)
- errors.py          `DataError`, the one error for bad task data (file and line)

A task's training wiring is training/tasks/<key>.py, its metric evaluation/<key>.py (docs/adding_a_task.md).
"""
from data.tasks.classification import ClassificationData
from data.tasks.errors import DataError
from data.tasks.ner import NerData
from data.tasks.reading import ReadingData

__all__ = ["ClassificationData", "DataError", "NerData", "ReadingData"]
