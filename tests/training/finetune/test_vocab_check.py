"""Fine-tuning checks at start-up that the config's embedding tables hold the vocabulary and the
segment ids (on a GPU an id past a table's end reads zeros instead of failing)."""
import dataclasses
import types

import numpy as np
import pytest

from modeling import save_tf1_checkpoint
from modeling.task_models import NezhaForClassification
from training.finetune.options import FineTuneOptions
from training.finetune.run import run
from training.finetune.task import run_model


class _PairTask:
    """A sentence-pair task whose data and tokenizer are given; it must never reach training."""
    main_metric = "accuracy"
    serving_outputs = ("probabilities",)

    def __init__(self, config, vocab_size):
        self.config = config
        self.tokenizer = types.SimpleNamespace(vocab={f"t{i}": i for i in range(vocab_size)})

    def build_model(self, config):
        return NezhaForClassification(config, num_labels=2)

    def train_arrays(self, num_shards=1, index=0):
        segments = np.zeros((8, 6), np.int32)
        segments[:, 3:] = 1  # the second sentence of each pair
        return {"input_ids": np.ones((8, 6), np.int32), "input_mask": np.ones((8, 6), np.int32),
                "segment_ids": segments, "label_ids": np.zeros((8,), np.int32)}

    def loss_fn(self, model, features, training):
        raise AssertionError("the check must stop the run before training")

    def evaluate(self, model):
        self.inferred = run_model(model, self.train_arrays(), 4, ["probabilities"])["probabilities"]
        return {"accuracy": 0.0}

    def write_eval_results(self, results, output_dir):
        pass

    def predict(self, model, output_dir):
        self.evaluate(model)


def start(tmp_path, config, vocab_size, **modes):
    config_file = tmp_path / "bert_config.json"
    config.to_json_file(config_file)
    options = FineTuneOptions(data_dir=str(tmp_path / "data"), output_dir=str(tmp_path / "out"),
                              bert_config_file=str(config_file), vocab_file=str(tmp_path / "vocab.txt"),
                              **(modes or {"do_train": True}))
    task = _PairTask(config, vocab_size)
    run(task, options)
    return task


def checkpoint_of(config, tmp_path):
    """Weights of the config's own shapes: evaluation needs some, and the checkpoint must not be what fails."""
    model = NezhaForClassification(config, num_labels=2)
    model.ensure_built()
    return save_tf1_checkpoint(model, str(tmp_path / "ckpt" / "model.ckpt"))


def test_a_vocabulary_larger_than_vocab_size_stops_the_run(tiny, tmp_path):
    config, _ = tiny
    with pytest.raises(ValueError, match=rf"bert_config.json is too small for the data: the vocabulary .*vocab.txt "
                                         rf"has {config.vocab_size + 1} tokens but vocab_size is {config.vocab_size}"):
        start(tmp_path, config, config.vocab_size + 1)


def test_a_vocabulary_larger_than_config_and_init_checkpoint_names_all_three_numbers(tiny, tmp_path):
    from modeling.checkpoints import CheckpointError
    config, checkpoint = tiny  # the config the checkpoint was trained with: they agree
    larger = config.vocab_size + 1
    (tmp_path / "vocab.txt").write_text("".join(f"t{i}\n" for i in range(larger)))
    with pytest.raises(CheckpointError, match=rf"vocab_size {config.vocab_size} in --bert_config_file .*, {larger} "
                                              rf"tokens in --vocab_file .*, {config.vocab_size} word-embedding rows"):
        start(tmp_path, config, larger, do_train=True, init_checkpoint=checkpoint)


def test_sentence_pairs_need_two_segment_types(tiny, tmp_path):
    config, _ = tiny
    single = dataclasses.replace(config, type_vocab_size=1)
    with pytest.raises(ValueError, match=r"the training data in .*data has segment id 1 but type_vocab_size is 1 "
                                         r"\(sentence pairs need at least 2\)"):
        start(tmp_path, single, config.vocab_size)


@pytest.mark.parametrize("mode", ["do_eval", "do_predict"])
def test_a_run_without_training_checks_the_segment_ids_of_what_it_infers_on(tiny, tmp_path, mode):
    config, _ = tiny
    single = dataclasses.replace(config, type_vocab_size=1)
    with pytest.raises(ValueError, match=r"the data evaluated or predicted on \(--data_dir .*data\) has segment id 1 "
                                         r"but type_vocab_size is 1 \(sentence pairs need at least 2\)"):
        start(tmp_path, single, config.vocab_size, init_checkpoint=checkpoint_of(single, tmp_path), **{mode: True})


def test_a_config_that_holds_the_segment_ids_evaluates(tiny, tmp_path):
    config, _ = tiny
    task = start(tmp_path, config, config.vocab_size, init_checkpoint=checkpoint_of(config, tmp_path), do_eval=True)
    assert task.inferred.shape == (8, 2)
