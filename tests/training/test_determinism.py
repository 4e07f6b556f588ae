"""--deterministic turns on TensorFlow's op determinism before the run's first op; without it, it stays off."""
import pytest
from tensorflow.python.framework import config as tf_config  # the only place TF says whether it is on

from tests.test_run_pretraining import options, small_data  # noqa: F401  (a fixture)
from training.pretraining import PretrainingRun


@pytest.mark.parametrize("deterministic", [True, False])
def test_deterministic_enables_op_determinism(small_data, deterministic):  # noqa: F811
    assert not tf_config.is_op_determinism_enabled()
    PretrainingRun(options(small_data, deterministic=deterministic))
    assert tf_config.is_op_determinism_enabled() == deterministic


def test_a_deterministic_run_trains_under_op_determinism(small_data):  # noqa: F811
    # Every op of a pretraining step has a deterministic CPU kernel (none raises UnimplementedError), and
    # the seeded random ops (dropout, initialisers) are accepted by it.
    job = PretrainingRun(options(small_data, num_train_steps=2, save_checkpoints_steps=2))
    assert tf_config.is_op_determinism_enabled()
    assert job.train().step == 2
