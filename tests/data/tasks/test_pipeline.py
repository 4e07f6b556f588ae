"""data/tasks/pipeline.py: the shuffled training stream is a function of the seed, and a resumed
run continues it where the interrupted one stopped."""
import collections

import numpy as np
import pytest

from data.tasks.pipeline import make_dataset

NUM_EXAMPLES, BATCH = 23, 4  # epochs end inside batches


def _examples(dataset, num_batches):
    return [int(x) for batch, _ in zip(dataset, range(num_batches)) for x in batch["example"].numpy()]


def _per_epoch(stream):
    return [collections.Counter(stream[start:start + NUM_EXAMPLES])
            for start in range(0, len(stream) - NUM_EXAMPLES + 1, NUM_EXAMPLES)]


@pytest.mark.parametrize("stop_after", [3, 6, 13])
def test_a_stop_and_resume_sees_each_example_once_per_epoch(stop_after):
    arrays = {"example": np.arange(NUM_EXAMPLES, dtype=np.int32)}
    total = 3 * NUM_EXAMPLES // BATCH + 1
    uninterrupted = _examples(make_dataset(arrays, BATCH, training=True, seed=5), total)
    before = _examples(make_dataset(arrays, BATCH, training=True, seed=5), stop_after)
    after = _examples(make_dataset(arrays, BATCH, training=True, seed=5, consumed_batches=stop_after),
                      total - stop_after)
    resumed = before + after
    every_example_once = collections.Counter(range(NUM_EXAMPLES))
    assert _per_epoch(resumed) == [every_example_once] * 3
    assert resumed == uninterrupted
    # Not the stream from its beginning again (what a resume did before).
    assert after[:BATCH * 2] != uninterrupted[:BATCH * 2]


def test_the_order_is_shuffled_differently_each_epoch_and_by_seed():
    arrays = {"example": np.arange(NUM_EXAMPLES, dtype=np.int32)}
    stream = _examples(make_dataset(arrays, 1, training=True, seed=5), 2 * NUM_EXAMPLES)
    assert stream[:NUM_EXAMPLES] != stream[NUM_EXAMPLES:]
    assert stream[:NUM_EXAMPLES] != list(range(NUM_EXAMPLES))
    other = _examples(make_dataset(arrays, 1, training=True, seed=6), NUM_EXAMPLES)
    assert other != stream[:NUM_EXAMPLES]


def test_each_shard_resumes_its_own_part():
    arrays = {"example": np.arange(NUM_EXAMPLES, dtype=np.int32)}
    for index in range(2):
        full = _examples(make_dataset(arrays, BATCH, training=True, seed=5, shard=(2, index)), 8)
        tail = _examples(make_dataset(arrays, BATCH, training=True, seed=5, shard=(2, index),
                                      consumed_batches=5), 3)
        assert full[5 * BATCH:] == tail
        assert {x % 2 for x in full} == {index}
