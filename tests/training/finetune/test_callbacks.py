"""training/finetune/callbacks.py: keep-best copies the best checkpoint by the dev metric; the loss history."""
import json

import numpy as np

from modeling.task_models import NezhaForClassification
from training.checkpointing import restore_for_inference
from training.finetune.callbacks import BEST_RESULTS, LOSS_HISTORY, KeepBestCheckpoint, LossHistory


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


def test_only_the_chief_evaluates_and_writes_best(tmp_path):
    """Another process goes on training while the chief evaluates: evaluating on every process
    repeats the whole dev set there for nothing."""
    class NotChief:
        is_chief = False
        model = None

    evaluated = []
    keeper = KeepBestCheckpoint(lambda m: evaluated.append(m) or {"accuracy": 1.0}, "accuracy", str(tmp_path))
    keeper.on_checkpoint(1, NotChief())
    assert evaluated == [] and keeper.best_step is None
    assert not (tmp_path / BEST_RESULTS).exists() and not (tmp_path / "best").exists()


class _ResumedTrainer(_FakeTrainer):
    def __init__(self, model, resumed_from):
        super().__init__(model)
        self.resumed_from = resumed_from


def test_keep_best_survives_a_kill_between_two_evaluations(tiny, tmp_path):
    """Run 1 evaluates 0.8 at step 2 and is killed; run 2 resumes and evaluates 0.6 at step 3:
    best/ keeps step 2's weights and best_eval_results.txt its record."""
    config, _ = tiny
    model = NezhaForClassification(config, num_labels=2)
    model.ensure_built()
    bias = model.tf1_variables()["output_bias"]
    first = KeepBestCheckpoint(lambda m: {"accuracy": 0.8}, "accuracy", str(tmp_path))
    first.on_train_begin(_ResumedTrainer(model, None))
    bias.assign([2.0, 2.0])
    first.on_checkpoint(2, _ResumedTrainer(model, None))
    del first  # the kill: nothing of this process's memory survives

    resumed = KeepBestCheckpoint(lambda m: {"accuracy": 0.6}, "accuracy", str(tmp_path))
    resumed.on_train_begin(_ResumedTrainer(model, str(tmp_path / "ckpt-2")))
    assert (resumed.best_value, resumed.best_step) == (0.8, 2)
    bias.assign([3.0, 3.0])
    resumed.on_checkpoint(3, _ResumedTrainer(model, str(tmp_path / "ckpt-2")))
    assert (resumed.best_value, resumed.best_step) == (0.8, 2)
    assert '"step": 2' in (tmp_path / BEST_RESULTS).read_text()
    bias.assign([0.0, 0.0])
    restore_for_inference(model, str(tmp_path), None, prefer_best=True)
    np.testing.assert_array_equal(bias.numpy(), [2.0, 2.0])


def test_a_new_run_ignores_an_earlier_runs_best(tiny, tmp_path):
    """Without a checkpoint to resume, the earlier record does not count: the first evaluation wins."""
    config, _ = tiny
    model = NezhaForClassification(config, num_labels=2)
    model.ensure_built()
    KeepBestCheckpoint(lambda m: {"accuracy": 0.9}, "accuracy", str(tmp_path)).on_checkpoint(
        5, _ResumedTrainer(model, None))
    fresh = KeepBestCheckpoint(lambda m: {"accuracy": 0.3}, "accuracy", str(tmp_path))
    fresh.on_train_begin(_ResumedTrainer(model, None))
    fresh.on_checkpoint(1, _ResumedTrainer(model, None))
    assert (fresh.best_value, fresh.best_step) == (0.3, 1)
    assert '"step": 1' in (tmp_path / BEST_RESULTS).read_text()


def test_loss_history_is_on_disk_at_each_log_and_a_resume_continues_it(tmp_path):
    """A killed run leaves what it logged; the run resumed from step 2 keeps steps 1-2 and logs
    step 3 again (the killed run's step 3 came after the checkpoint it resumes from)."""
    class Trainer:
        is_chief = True

        def __init__(self, resumed_from, step):
            self.resumed_from, self.step = resumed_from, step

    killed = LossHistory(str(tmp_path))
    killed.on_train_begin(Trainer(None, 0))
    for step, loss in ((1, 3.0), (2, 2.5), (3, 2.0)):
        killed.on_log(step, {"total_loss": loss}, Trainer(None, step))
    del killed  # no on_train_end
    assert json.loads((tmp_path / LOSS_HISTORY).read_text()) == {"1": 3.0, "2": 2.5, "3": 2.0}

    resumed = LossHistory(str(tmp_path))
    resumed.on_train_begin(Trainer(str(tmp_path / "ckpt-2"), 2))
    resumed.on_log(3, {"total_loss": 2.2}, Trainer(None, 3))
    resumed.on_train_end(Trainer(None, 3))
    assert json.loads((tmp_path / LOSS_HISTORY).read_text()) == {"1": 3.0, "2": 2.5, "3": 2.2}
