"""The original's `random.shuffle`, draw for draw, fast enough for the generator's hottest loop."""

import random
from array import array


def _shuffle_with_getrandbits(items, rng):
    """`rng.shuffle(items)` written out: same draws, same result, without two calls per element."""
    getrandbits = rng.getrandbits
    for i in range(len(items) - 1, 0, -1):
        bound = i + 1
        bits = bound.bit_length()
        j = getrandbits(bits)
        while j >= bound:
            j = getrandbits(bits)
        items[i], items[j] = items[j], items[i]


def _inline_shuffle_matches_library():
    for size in (0, 1, 2, 3, 7, 64, 127, 128, 129, 300):
        expected, ours = list(range(size)), list(range(size))
        library_rng, our_rng = random.Random(size), random.Random(size)
        library_rng.shuffle(expected)
        _shuffle_with_getrandbits(ours, our_rng)
        if expected != ours or library_rng.random() != our_rng.random():
            return False
    return True


# Masking shuffles ~100 positions per instance, the generator's hottest loop. The written-out
# shuffle is used only if it reproduces this Python's `random.shuffle` exactly.
FAST_SHUFFLE = _inline_shuffle_matches_library()


def shuffle(items, rng):
    if FAST_SHUFFLE and type(rng) is random.Random:
        _shuffle_with_getrandbits(items, rng)
    else:
        rng.shuffle(items)


def shuffled_order(count, rng):
    """The positions of `count` instances in the order `rng.shuffle` puts a list of them in
    (the permutation depends only on the length and the rng), eight bytes per instance."""
    order = array("q", range(count))
    shuffle(order, rng)
    return order
