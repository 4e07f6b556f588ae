"""The hidden activations the original accepts in `hidden_act`, plus the exact erf GELU.

The original's `gelu` is the tanh approximation. Checkpoints from other tools (Hugging Face
transformers' `"gelu"`) use the exact erf form, which is `gelu_erf` here.
"""
from __future__ import annotations

import math
from typing import Callable

import tensorflow as tf

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INVERSE_SQRT_2 = 1.0 / math.sqrt(2.0)


def _widened(x: tf.Tensor) -> tf.Tensor:
    """x in float32 when it is float16 or bfloat16: the cubic of gelu overflows float16 for |x| > 40
    and its derivative's x^2 for |x| > 256 (where the backward pass then computes 0 * inf = NaN)."""
    return tf.cast(x, tf.float32) if x.dtype in (tf.float16, tf.bfloat16) else x


def _gelu_cdf(x: tf.Tensor) -> tf.Tensor:
    wide = _widened(x)
    return tf.cast(0.5 * (1.0 + tf.tanh(_SQRT_2_OVER_PI * (wide + 0.044715 * tf.pow(wide, 3)))), x.dtype)


@tf.custom_gradient
def _gelu_keeping_input_only(x: tf.Tensor):
    # TensorFlow's own gradient of x * cdf(x) keeps the tanh and the cdf alive for the backward
    # pass besides x: three [batch, length, intermediate] tensors per layer. Keeping x only and
    # recomputing the cheap elementwise rest saves two of them per layer.
    def gradient(upstream):
        return upstream * tf.cast(_gelu_slope(_widened(x)), upstream.dtype)

    return x * _gelu_cdf(x), gradient


def _gelu_slope(wide: tf.Tensor) -> tf.Tensor:
    """d/dx [x * 0.5 (1 + tanh(u))] = 0.5 (1 + tanh) + x * 0.5 (1 - tanh^2) du/dx, u = c (x + 0.044715 x^3)."""
    tanh = tf.tanh(_SQRT_2_OVER_PI * (wide + 0.044715 * tf.pow(wide, 3)))
    du_dx = _SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * tf.square(wide))
    return 0.5 * (1.0 + tanh) + 0.5 * wide * (1.0 - tf.square(tanh)) * du_dx


@tf.function(jit_compile=True)
def _fused_narrow_gelu(x):
    wide = tf.cast(x, tf.float32)
    return tf.cast(wide * _gelu_cdf(wide), x.dtype)


@tf.function(jit_compile=True)
def _fused_narrow_gelu_gradient(x, upstream):
    return tf.cast(tf.cast(upstream, tf.float32) * _gelu_slope(tf.cast(x, tf.float32)), upstream.dtype)


@tf.custom_gradient
def _gelu_fused_for_narrow_types(x: tf.Tensor):
    # Under bfloat16 / float16 the formula runs in float32 (see _widened). As separate ops that is a
    # cast to float32, a dozen passes over [batch, length, intermediate] float32 tensors and a cast
    # back, forward and backward, in every layer: about a tenth of a bf16 training step on a CPU.
    # XLA fuses each direction into one loop that reads the narrow tensors and writes one.
    return _fused_narrow_gelu(x), lambda upstream: _fused_narrow_gelu_gradient(x, upstream)


def gelu(x: tf.Tensor) -> tf.Tensor:
    """The tanh approximation of GELU, as the original computes it (not the exact erf form).

    Same forward numbers as the plain formula; its gradient recomputes from the input instead of
    keeping the formula's intermediate tensors (see `_gelu_keeping_input_only`). Under bfloat16 and
    float16 both directions are XLA-fused loops computing in float32 (`_gelu_fused_for_narrow_types`).
    """
    x = tf.convert_to_tensor(x)
    if x.dtype in (tf.float16, tf.bfloat16):
        return _gelu_fused_for_narrow_types(x)
    return _gelu_keeping_input_only(x)


def gelu_reference(x: tf.Tensor) -> tf.Tensor:
    """The plain formula, differentiated by TensorFlow: the reference that tests hold `gelu` to."""
    x = tf.convert_to_tensor(x)
    return x * _gelu_cdf(x)


def gelu_erf(x: tf.Tensor) -> tf.Tensor:
    """The exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2))): transformers' `"gelu"` (about 1e-3
    away from the tanh `gelu` at |x| near 2, enough to show in a model's outputs)."""
    x = tf.convert_to_tensor(x)
    return 0.5 * x * (1.0 + tf.math.erf(x * _INVERSE_SQRT_2))


def linear(x: tf.Tensor) -> tf.Tensor:
    return x


_ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "gelu": gelu,
    "gelu_erf": gelu_erf,
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


def _gelu_for_inference(x: tf.Tensor) -> tf.Tensor:
    x = tf.convert_to_tensor(x)
    if x.dtype in (tf.float16, tf.bfloat16):
        return _fused_narrow_gelu(x)
    return gelu_reference(x)


# The memory-lean forms above differ from their plain formulas only in what their gradient keeps.
# Outside training nothing is kept, and the custom-gradient wrapper only stands between the ops
# (in float32; under bf16 / fp16 the fused loop is kept, with no gradient wrapper around it).
_PLAIN_FORMS = {gelu: _gelu_for_inference}


def plain_form(activation: Callable[[tf.Tensor], tf.Tensor]) -> Callable[[tf.Tensor], tf.Tensor]:
    """The same activation (same numbers) without a memory-lean custom gradient, for inference."""
    return _PLAIN_FORMS.get(activation, activation)
