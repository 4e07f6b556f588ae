"""Fine-tuning pieces in-process: steps, init checkpoint report, keep-best, SavedModel export."""
import numpy as np
import pytest
import tensorflow as tf

from modeling.config import NezhaConfig
from modeling.task_models import NezhaForClassification
from training.checkpointing import load_initial_weights, restore_for_inference
from training.finetune.callbacks import BEST_RESULTS, KeepBestCheckpoint
from training.finetune.export import export_saved_model
from training.finetune.run import train_steps
from training.finetune.task import run_model


def test_train_steps_as_original():
    assert train_steps(1000, 32, 3.0, 0.1) == (93, 9)
    assert train_steps(1000, 32, 3.0, 0.1, num_processes=2) == (46, 4)
    with pytest.raises(ValueError, match="make no training step"):
        train_steps(3, 32, 1.0, 0.1)


@pytest.fixture(scope="module")
def tiny(fixtures_dir):
    config = NezhaConfig.from_json_file(str(fixtures_dir / "nezha_tiny_lamb" / "bert_config.json"))
    return config, str(fixtures_dir / "nezha_tiny_lamb" / "model.ckpt")


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


class _FakeTrainer:
    is_chief = True

    def __init__(self, model):
        self.model = model


def test_keep_best_keeps_the_best_checkpoint(tiny, tmp_path):
    config, _ = tiny
    model = NezhaForClassification(config, num_labels=2)
    model.ensure_built()
    bias = model.tf1_variables()["output_bias"]
    scores = iter([0.5, 0.8, 0.6])
    keeper = KeepBestCheckpoint(lambda m: {"accuracy": next(scores)}, "accuracy", str(tmp_path))
    for step, value in ((1, 1.0), (2, 2.0), (3, 3.0)):
        bias.assign([value, value])
        keeper.on_checkpoint(step, _FakeTrainer(model))
    assert keeper.best_step == 2 and keeper.best_value == 0.8
    bias.assign([0.0, 0.0])
    source = restore_for_inference(model, str(tmp_path), None, prefer_best=True)
    assert source.endswith("best/model")
    np.testing.assert_array_equal(bias.numpy(), [2.0, 2.0])
    assert '"step": 2' in (tmp_path / BEST_RESULTS).read_text()


def test_saved_model_serving_equals_in_process(tiny, tmp_path):
    config, _ = tiny
    model = NezhaForClassification(config, num_labels=3)
    model.ensure_built()
    features = {"input_ids": np.array([[101, 2769, 102, 0], [101, 872, 1962, 102]], np.int32),
                "input_mask": np.array([[1, 1, 1, 0], [1, 1, 1, 1]], np.int32),
                "segment_ids": np.zeros([2, 4], np.int32)}
    expected = run_model(model, features, 2, ["probabilities"])["probabilities"]
    export_saved_model(model, str(tmp_path / "export"), ["probabilities"])
    serve = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    served = serve(**{k: tf.constant(v) for k, v in features.items()})["probabilities"].numpy()
    np.testing.assert_allclose(served, expected, atol=1e-6)


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
    from training.checkpointing import save_best_weights
    from training.finetune.options import FineTuneOptions
    from training.finetune.run import run

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
