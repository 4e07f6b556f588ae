"""training/finetune/run.py: steps from epochs, the initial weights, which weights evaluation uses."""
import numpy as np
import pytest
import tensorflow as tf

from modeling.task_models import NezhaForClassification
from training.checkpointing import load_initial_weights, save_best_weights
from training.finetune.options import FineTuneOptions
from training.finetune.run import run, train_steps


def test_train_steps_as_original():
    assert train_steps(1000, 32, 3.0, 0.1) == (93, 9)
    assert train_steps(1000, 32, 3.0, 0.1, num_processes=2) == (46, 4)
    with pytest.raises(ValueError, match="make no training step"):
        train_steps(3, 32, 1.0, 0.1)


def test_init_checkpoint_loads_every_encoder_variable(tiny):
    config, checkpoint = tiny
    model = NezhaForClassification(config, num_labels=2)
    model.ensure_built()
    report = load_initial_weights(model, checkpoint)
    encoder = set(model.encoder.tf1_variables())
    assert encoder <= set(report.loaded)
    assert set(report.missing_in_checkpoint) == {"output_weights", "output_bias"}
    reader = tf.train.load_checkpoint(checkpoint)
    name = "bert/encoder/layer_1/attention/self/query/kernel"
    np.testing.assert_array_equal(model.tf1_variables()[name].numpy(), reader.get_tensor(name))


class _BiasTask:
    """A task whose 'accuracy' is the classifier's first output bias: shows which weights were used."""
    main_metric = "accuracy"
    serving_outputs = ("probabilities",)

    def __init__(self, config):
        self.config = config
        self.evaluated = []

    def build_model(self, config):
        return NezhaForClassification(self.config, num_labels=2)

    def evaluate(self, model):
        self.evaluated.append(float(model.tf1_variables()["output_bias"].numpy()[0]))
        return {"accuracy": self.evaluated[-1]}

    def write_eval_results(self, results, output_dir):
        pass


@pytest.mark.parametrize("has_best", [True, False])
def test_evaluation_only_uses_best_when_present(tiny, tmp_path, has_best):
    config, _ = tiny
    config_file = tmp_path / "bert_config.json"
    config.to_json_file(config_file)
    model = NezhaForClassification(config, num_labels=2)
    model.ensure_built()
    bias = model.tf1_variables()["output_bias"]
    if has_best:
        bias.assign([2.0, 2.0])
        save_best_weights(model, str(tmp_path))
    bias.assign([1.0, 1.0])  # the latest training checkpoint, written after best/
    tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    task = _BiasTask(config)
    run(task, FineTuneOptions(data_dir=str(tmp_path), output_dir=str(tmp_path), bert_config_file=str(config_file),
                              do_eval=True))
    assert task.evaluated == [2.0 if has_best else 1.0]
