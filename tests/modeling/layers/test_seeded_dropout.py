"""Dropout masks from 16-bit random numbers: the rate, the scaling and the seeded reproducibility."""
import numpy as np
import pytest
import tensorflow as tf

from compat.keras import keras
from modeling.layers.seeded_dropout import dropout, dropout_keep_mask


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_the_mask_drops_at_the_rate(rate):
    tf.random.set_seed(4)
    keep = dropout_keep_mask(tf.constant([64, 127, 129]), rate, None).numpy()  # an odd element count
    assert keep.shape == (64, 127, 129) and keep.dtype == bool
    # 1,048,000 draws: the standard error of the dropped share is under 5e-4
    assert abs((1.0 - keep.mean()) - rate) < 3e-3


def test_a_seed_gives_the_same_mask_and_another_seed_another():
    first = dropout_keep_mask([7, 9], 0.5, tf.constant([1, 2])).numpy()
    np.testing.assert_array_equal(first, dropout_keep_mask([7, 9], 0.5, tf.constant([1, 2])).numpy())
    assert not np.array_equal(first, dropout_keep_mask([7, 9], 0.5, tf.constant([1, 3])).numpy())


def test_without_a_seed_the_global_seed_makes_masks_reproducible():
    @tf.function
    def masks():
        return dropout_keep_mask([40, 40], 0.3, None), dropout_keep_mask([40, 40], 0.3, None)

    tf.random.set_seed(11)
    a, b = (m.numpy() for m in masks())
    assert not np.array_equal(a, b)  # two sites, two masks
    tf.random.set_seed(11)
    np.testing.assert_array_equal(a, masks()[0].numpy())


@pytest.mark.parametrize("dtype", [tf.float32, tf.bfloat16])
def test_dropout_scales_what_it_keeps_and_is_the_identity_outside_training(dtype):
    x = tf.cast(tf.random.uniform([50, 60], 1.0, 2.0), dtype)
    layer = keras.layers.Dropout(0.25)
    dropped = dropout(x, layer, tf.constant([5, 6]), training=True)
    assert dropped.dtype == dtype
    kept = dropout_keep_mask(tf.shape(x), 0.25, tf.constant([5, 6])).numpy()
    wide = x.numpy().astype(np.float32)
    np.testing.assert_array_equal(dropped.numpy().astype(np.float32)[~kept], 0)
    # kept values times 4/3 (rounded to the narrow type under bf16, as tf.nn.dropout does)
    np.testing.assert_allclose(dropped.numpy().astype(np.float32)[kept], wide[kept] / 0.75,
                               rtol=1e-6 if dtype == tf.float32 else 2 ** -7)
    assert dropout(x, layer, None, training=False) is x
