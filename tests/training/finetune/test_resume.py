"""A fine-tuning run stopped and resumed through the loop: keep-best remembers the best evaluation
before the stop, and the training stream continues after the batches already consumed."""
import json

import numpy as np

from data.tasks.pipeline import make_dataset
from tests.training.test_loop import make_trainer
from tests.training.toy import toy_examples
from training.finetune.callbacks import BEST_RESULTS, KeepBestCheckpoint


def test_stop_and_resume_keeps_the_best_and_the_data_order(tmp_path):
    arrays = dict(toy_examples(40), example=np.arange(40, dtype=np.int32))
    asked = []

    def data(consumed):
        asked.append(consumed)
        return make_dataset(arrays, 8, training=True, seed=3, consumed_batches=consumed)

    scores = iter([0.5, 0.9, 0.7, 0.6])  # evaluations at steps 2, 4 | stop | 6, 8
    keep_best = lambda: KeepBestCheckpoint(lambda model: {"accuracy": next(scores)}, "accuracy", str(tmp_path))
    make_trainer(tmp_path, steps=4, callbacks=[keep_best()]).train(data)
    assert asked == [0]  # built once: its first batch builds the model, then it streams from its start
    resumed = keep_best()
    result = make_trainer(tmp_path, steps=8, callbacks=[resumed]).train(data)
    assert result.resumed_from.endswith("ckpt-4")
    assert asked[1:] == [4]  # the resumed stream starts after the 4 batches consumed before the stop
    assert (resumed.best_value, resumed.best_step) == (0.9, 4)
    assert json.loads((tmp_path / BEST_RESULTS).read_text())["step"] == 4
