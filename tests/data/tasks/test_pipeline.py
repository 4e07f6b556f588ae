"""data/tasks/pipeline.py: the shuffled training stream is a function of the seed, and a resumed
run continues it where the interrupted one stopped; batches are padded to their longest example, and
--group_by_length batches similar lengths without changing what an epoch reads."""
import collections

import numpy as np
import pytest

from data.tasks.pipeline import make_dataset, padded_lengths, possible_padded_lengths

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


def _lengthy_arrays(num_examples=NUM_EXAMPLES, width=40, seed=0):
    """Examples of random lengths 3..width, padded to width; `example` is each one's index."""
    lengths = np.random.default_rng(seed).integers(3, width + 1, num_examples)
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int32)
    return {"example": np.arange(num_examples, dtype=np.int32), "input_mask": mask,
            "input_ids": mask * 7, "label_ids": mask * 2}


def test_each_batch_is_padded_to_its_longest_example_rounded_up_to_8():
    arrays = _lengthy_arrays()
    for training in (False, True):
        for batch, _ in zip(make_dataset(arrays, BATCH, training=training, pad_to_multiple=8), range(6)):
            longest = int(batch["input_mask"].numpy().sum(1).max())
            width = -(-longest // 8) * 8
            assert batch["input_ids"].shape[1] == batch["label_ids"].shape[1] == min(width, 40)
            rows = batch["example"].numpy()
            # nothing but padding was cut
            np.testing.assert_array_equal(batch["input_mask"].numpy(), arrays["input_mask"][rows][:, :width])
            assert batch["example"].shape == (BATCH,) or not training
    fixed = next(iter(make_dataset(arrays, BATCH, training=False)))
    assert fixed["input_ids"].shape[1] == 40
    # the training step's input signature leaves the length open: one trace serves every length
    spec = make_dataset(arrays, BATCH, training=True, pad_to_multiple=8).element_spec
    assert spec["input_ids"].shape.as_list() == [BATCH, None] and spec["example"].shape.as_list() == [BATCH]
    assert make_dataset(arrays, BATCH, training=True).element_spec["input_ids"].shape.as_list() == [BATCH, 40]
    assert set(padded_lengths(arrays, BATCH).tolist()) <= set(possible_padded_lengths(arrays))


@pytest.mark.parametrize("stop_after", [2, 7])
def test_group_by_length_sees_each_example_once_per_epoch_and_resumes(stop_after):
    arrays = _lengthy_arrays()
    total = 3 * NUM_EXAMPLES // BATCH + 1

    def stream(seed=5, consumed=0, batches=total):
        return _examples(make_dataset(arrays, BATCH, training=True, seed=seed, group_by_length=True,
                                      consumed_batches=consumed), batches)
    uninterrupted = stream()
    assert _per_epoch(uninterrupted) == [collections.Counter(range(NUM_EXAMPLES))] * 3
    assert stream(batches=stop_after) + stream(consumed=stop_after, batches=total - stop_after) == uninterrupted
    assert stream(seed=6) != uninterrupted
    assert uninterrupted[:NUM_EXAMPLES] != uninterrupted[NUM_EXAMPLES:2 * NUM_EXAMPLES]


def test_group_by_length_batches_similar_lengths():
    arrays = _lengthy_arrays(num_examples=400, width=128)
    lengths = arrays["input_mask"].sum(1)

    def mean_spread(group_by_length):
        batches = [batch["example"].numpy() for batch, _ in zip(
            make_dataset(arrays, 8, training=True, group_by_length=group_by_length), range(50))]
        return np.mean([np.ptp(lengths[rows]) for rows in batches])
    assert mean_spread(True) < mean_spread(False) / 4
