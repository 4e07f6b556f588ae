"""The original TF1 names of Keras built-in layers' variables (our own layers name theirs themselves)."""
from __future__ import annotations

from compat.keras import keras


def dense_tf1_variables(dense: keras.layers.Dense, prefix: str) -> dict:
    return {f"{prefix}/kernel": dense.kernel, f"{prefix}/bias": dense.bias}


def truncated_normal(stddev: float) -> keras.initializers.Initializer:
    """The original initialises every kernel and embedding with a truncated normal of `initializer_range`.

    Call once per variable: Keras gives identical values when one unseeded instance is reused.
    """
    return keras.initializers.TruncatedNormal(stddev=stddev)
