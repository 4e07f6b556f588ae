"""Readers and feature conversion of the fine-tuning tasks, one module per task named by its key as on
the other floors, plus what the tasks share:

- classification.py  the registry of sentence (pair) classification formats (lcqmc, chnsenti, text_clf, xnli,
                     mrpc, the CLUE tasks, custom): `ClassificationData`, `convert_examples`
- ner.py             character-level tagging files (`char tag`, CLUENER2020): `NerData`, `convert_sentences`,
                     `char_predictions`
- reading.py         SQuAD-style JSON (CMRC2018, SQuAD v1.1): `ReadingData`, `convert_examples` (sliding
                     windows), `decode_predictions`
- clue.py            the CLUE benchmark's JSON lines: its classification tasks' texts and label sets, WSC span
                     marking, CLUENER2020 spans to BIO tags and back
- custom.py          the user's own TSV / JSON-lines files, read by named columns (`CustomColumns`)
- records.py         a line as a `Record` (texts, label, id) and the JSON-lines reading they share
- label_list.py      the label list saved with a model (`label_list.txt`)
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
