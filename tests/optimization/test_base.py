"""The shared optimizer machinery: slots and the step counter survive a checkpoint."""
import numpy as np
import tensorflow as tf

from optimization import create_optimizer, name_lookup
from tests.optimization.optimization_helpers import variables_and_values


def test_slots_and_step_are_checkpointable(tmp_path):
    _, variables = variables_and_values()
    optimizer = create_optimizer("lamb", 1e-3, 10, 1, name_of=name_lookup(variables))
    pairs = [(tf.ones_like(v), v) for v in variables.values()]
    optimizer.apply_gradients(pairs)
    path = tf.train.Checkpoint(optimizer=optimizer).save(str(tmp_path / "opt"))
    fresh = create_optimizer("lamb", 1e-3, 10, 1, name_of=name_lookup(variables))
    fresh.build(list(variables.values()))
    tf.train.Checkpoint(optimizer=fresh).restore(path).assert_consumed()
    assert int(fresh.iterations) == 1
    for a, b in zip(optimizer.m_slots + optimizer.v_slots, fresh.m_slots + fresh.v_slots):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert np.any(fresh.m_slots[0].numpy() != 0)

