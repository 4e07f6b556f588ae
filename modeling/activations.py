"""The hidden activations the original accepts in `hidden_act`."""
from __future__ import annotations

import math
from typing import Callable

import tensorflow as tf

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def gelu(x: tf.Tensor) -> tf.Tensor:
    """The tanh approximation of GELU, as the original computes it (not the exact erf form)."""
    x = tf.convert_to_tensor(x)
    cdf = 0.5 * (1.0 + tf.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * tf.pow(x, 3))))
    return x * cdf


def linear(x: tf.Tensor) -> tf.Tensor:
    return x


_ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "gelu": gelu,
    "relu": tf.nn.relu,
    "tanh": tf.tanh,
    "linear": linear,
}
ACTIVATION_NAMES = frozenset(_ACTIVATIONS)


def get_activation(name: str) -> Callable[[tf.Tensor], tf.Tensor]:
    """Maps a config's `hidden_act` string (case-insensitive) to a function; ValueError when unknown."""
    if not isinstance(name, str) or name.lower() not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[name.lower()]
