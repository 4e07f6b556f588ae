"""training/finetune/task.py: inference over in-memory arrays compiles the model once per model."""
import json

import numpy as np
import pytest
import tensorflow as tf

from compat.keras import keras
from training.finetune.task import run_model


class CountingModel(keras.Model):
    """Counts how often its Python `call` runs: once per trace of a compiled caller."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)
        self.calls = 0

    def call(self, features, training=False):
        self.calls += 1
        hidden = tf.cast(features["input_ids"], tf.float32)
        return {"probabilities": tf.nn.softmax(self.dense(hidden))}


def test_evaluating_again_reuses_the_compiled_function():
    """--do_train_and_eval evaluates the dev set at every checkpoint: each evaluation must not
    trace the model again."""
    model = CountingModel()
    arrays = {"input_ids": np.arange(15, dtype=np.int32).reshape(5, 3)}
    first = run_model(model, arrays, 2, ["probabilities"])  # batches of 2, 2, 1
    traces = model.calls
    assert traces >= 1
    for _ in range(3):
        again = run_model(model, arrays, 2, ["probabilities"])
    assert model.calls == traces, "run_model traced the model again"
    np.testing.assert_array_equal(first["probabilities"], again["probabilities"])
    assert first["probabilities"].shape == (5, 2)


def test_each_model_gets_its_own_function():
    a, b = CountingModel(), CountingModel()
    arrays = {"input_ids": np.ones((4, 3), np.int32)}
    run_model(a, arrays, 4, ["probabilities"])
    traced_a = a.calls
    out = run_model(b, arrays, 4, ["probabilities"])["probabilities"]
    assert a.calls == traced_a and b.calls >= 1
    np.testing.assert_allclose(out, b({"input_ids": tf.constant(arrays["input_ids"])})["probabilities"].numpy(),
                               rtol=1e-6)


class CountingTokenizer:
    """Counts the texts tokenized by the wrapped tokenizer."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.texts = 0

    def tokenize(self, text):
        self.texts += 1
        return self.tokenizer.tokenize(text)

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)


def classification_task(shared_dir, vocab_file, tmp_path):
    from training.tasks.classification import ClassificationOptions, ClassificationTask
    lines = (shared_dir / "data" / "chnsenticorp" / "train.tsv").read_text(encoding="utf-8").splitlines()[:10]
    (tmp_path / "train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")  # header + 9 examples
    return ClassificationTask(ClassificationOptions(task_name="chnsenti", data_dir=str(tmp_path), output_dir=str(
        tmp_path / "out"), bert_config_file="unused", vocab_file=str(vocab_file), max_seq_length=24))


def ner_task(shared_dir, vocab_file, tmp_path):
    from training.tasks.ner import NerOptions, NerTask
    sentences = ["我 O\n在 O\n北 B-LOC\n京 I-LOC\n", "张 B-PER\n三 I-PER\n好 O\n", "上 B-LOC\n海 I-LOC\n"] * 3
    (tmp_path / "train.txt").write_text("\n".join(sentences), encoding="utf-8")
    (tmp_path / "out").mkdir(exist_ok=True)
    return NerTask(NerOptions(data_dir=str(tmp_path), output_dir=str(tmp_path / "out"), bert_config_file="unused",
                              vocab_file=str(vocab_file), max_seq_length=16))


@pytest.mark.parametrize("make_task", [classification_task, ner_task])
def test_each_process_tokenizes_only_its_shard_of_the_training_set(make_task, shared_dir, vocab_file, tmp_path):
    """With 2 processes, process i trains on features[i::2] of the whole set: it converts only those
    examples (the two tokenize the training set once between them)."""
    whole_task = make_task(shared_dir, vocab_file, tmp_path)
    whole_task.tokenizer = CountingTokenizer(whole_task.tokenizer)
    whole = whole_task.train_arrays()
    assert all(len(values) == 9 for values in whole.values())
    texts = []
    for index in (0, 1):
        task = make_task(shared_dir, vocab_file, tmp_path)
        task.tokenizer = CountingTokenizer(task.tokenizer)
        shard = task.train_arrays(2, index)
        assert shard.keys() == whole.keys()
        for name, values in whole.items():
            np.testing.assert_array_equal(shard[name], values[index::2], err_msg=name)
        texts.append(task.tokenizer.texts)
    assert sum(texts) == whole_task.tokenizer.texts


def reading_task(shared_dir, vocab_file, tmp_path):
    """CMRC2018's first three articles' first paragraphs (12 questions, contexts of 500-815
    characters), read in windows of 64 with a stride of 24: 312 windows, several per question."""
    from training.tasks.reading import ReadingOptions, ReadingTask
    dataset = json.loads((shared_dir / "data" / "cmrc2018" / "cmrc2018_train.json").read_text(encoding="utf-8"))
    dataset["data"] = [dict(article, paragraphs=article["paragraphs"][:1]) for article in dataset["data"][:3]]
    (tmp_path / "cmrc2018_train.json").write_text(json.dumps(dataset, ensure_ascii=False), encoding="utf-8")
    return ReadingTask(ReadingOptions(data_dir=str(tmp_path), output_dir=str(tmp_path / "out"), bert_config_file="unused",
                                      vocab_file=str(vocab_file), max_seq_length=64, doc_stride=24))


def test_reading_on_one_process_trains_on_every_window_in_file_order(shared_dir, vocab_file, tmp_path):
    from data.tasks.pipeline import features_to_arrays
    from training.tasks.reading import TRAIN_FIELDS

    task = reading_task(shared_dir, vocab_file, tmp_path)
    arrays = task.train_arrays()
    # what a process converted when every process converted the whole training set
    whole = features_to_arrays(task._convert(task.data.examples("train"), True), TRAIN_FIELDS)
    assert arrays.keys() == whole.keys()
    for name, values in whole.items():
        np.testing.assert_array_equal(arrays[name], values, err_msg=name)


def test_reading_processes_convert_only_their_questions_and_hold_every_window_once(shared_dir, vocab_file, tmp_path):
    """Sharded by question (a question's windows are known only once it is converted): process i
    converts questions i::2, and the two shards hold every window of the whole set once."""
    whole_task = reading_task(shared_dir, vocab_file, tmp_path)
    whole_task.tokenizer = CountingTokenizer(whole_task.tokenizer)
    features = whole_task._convert(whole_task.data.examples("train"), True)
    whole = whole_task.train_arrays()
    assert len(features) > 2 * len(whole_task.data.examples("train")), "too few windows per question to test"
    texts, sizes = [], []
    for index in (0, 1):
        task = reading_task(shared_dir, vocab_file, tmp_path)
        task.tokenizer = CountingTokenizer(task.tokenizer)
        shard = task.train_arrays(2, index)
        assert shard.keys() == whole.keys()
        # the windows of questions index, index + 2, ... in file order
        rows = [i for i, feature in enumerate(features) if feature.example_index % 2 == index]
        for name, values in whole.items():
            np.testing.assert_array_equal(shard[name], values[rows], err_msg=name)
        texts.append(task.tokenizer.texts)
        sizes.append(len(shard["input_ids"]))
    whole_task.tokenizer.texts = 0
    whole_task.train_arrays()
    assert sum(texts) == whole_task.tokenizer.texts, "the processes tokenized a question twice"
    assert sum(sizes) == len(features)
