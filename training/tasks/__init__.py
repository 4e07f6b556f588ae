"""The fine-tuning tasks run by run_clf.py, run_seq_labelling.py and run_reading.py, one module per task
named by its key as on the other floors; each holds its options dataclass and its FineTuneTask:

- classification.py  `ClassificationOptions`, `ClassificationTask`
- ner.py             `NerOptions`, `NerTask`
- reading.py         `ReadingOptions`, `ReadingTask`

A task's reader is data/tasks/<key>.py, its metric evaluation/<key>.py (docs/adding_a_task.md).
"""
