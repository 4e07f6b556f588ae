"""training/finetune/callbacks.py: keep-best copies the best checkpoint by the dev metric."""
import numpy as np

from modeling.task_models import NezhaForClassification
from training.checkpointing import restore_for_inference
from training.finetune.callbacks import BEST_RESULTS, KeepBestCheckpoint


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
