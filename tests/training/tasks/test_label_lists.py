"""training/tasks/classification.py and ner.py: a training run derives its labels from its training
file and refuses an output_dir saved with other labels; a run without training keeps the saved ones."""
import pytest

from data.tasks import DataError
from data.tasks.label_list import save_labels


def classification_task(tmp_path, vocab_file, **modes):
    from training.tasks.classification import ClassificationOptions, ClassificationTask
    return ClassificationTask(ClassificationOptions(task_name="text_clf", data_dir=str(tmp_path),
                                                    output_dir=str(tmp_path / "out"), bert_config_file="unused",
                                                    vocab_file=str(vocab_file), **modes))


def ner_task(tmp_path, vocab_file, **modes):
    from training.tasks.ner import NerOptions, NerTask
    return NerTask(NerOptions(data_dir=str(tmp_path), output_dir=str(tmp_path / "out"), bert_config_file="unused",
                              vocab_file=str(vocab_file), **modes))


@pytest.mark.parametrize("make_task, train_file, train_text, derived, other", [
    (classification_task, "train.tsv", "b\t好\na\t差\n", ["a", "b"], ["b", "a"]),
    (ner_task, "train.txt", "张 B-XX\n三 I-XX\n好 O\n", ["O", "B-XX", "I-XX", "X", "[CLS]", "[SEP]"],
     ["O", "B-YY", "I-YY", "X", "[CLS]", "[SEP]"]),
])
def test_training_refuses_other_saved_labels(make_task, train_file, train_text, derived, other, tmp_path,
                                             vocab_file):
    if not vocab_file.is_file():
        pytest.skip(f"{vocab_file} is absent")
    (tmp_path / train_file).write_text(train_text, encoding="utf-8")
    (tmp_path / "out").mkdir()
    save_labels(str(tmp_path / "out"), other)
    for modes in (dict(do_train=True), dict(do_train_and_eval=True)):
        with pytest.raises(DataError, match=rf"^{tmp_path / 'out' / 'label_list.txt'}: holds the labels .* but the "
                                            rf"training file {tmp_path / train_file} has "):
            make_task(tmp_path, vocab_file, **modes)
    assert make_task(tmp_path, vocab_file, do_predict=True).data.labels == other
    save_labels(str(tmp_path / "out"), derived)  # resuming the run that saved them
    assert make_task(tmp_path, vocab_file, do_train=True).data.labels == derived
