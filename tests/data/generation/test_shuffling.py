"""data/generation/shuffling.py: the written-out shuffle draws what random.shuffle draws."""

import random

from data.generation.shuffling import FAST_SHUFFLE, shuffle, shuffled_order


def test_written_out_shuffle_matches_library():
    assert FAST_SHUFFLE
    for seed in range(5):
        ours, theirs = list(range(200)), list(range(200))
        a, b = random.Random(seed), random.Random(seed)
        shuffle(ours, a)
        b.shuffle(theirs)
        assert ours == theirs and a.random() == b.random()


def test_shuffled_order_is_the_permutation_of_rng_shuffle():
    for count in (0, 1, 2, 1000):
        items = list(range(count))
        random.Random(count).shuffle(items)
        assert list(shuffled_order(count, random.Random(count))) == items
