"""Multi-head self-attention with NEZHA's functional relative positions (or none, for BERT)."""
from __future__ import annotations

import math
from typing import Optional

import tensorflow as tf

from compat.keras import keras
from modeling.layers.naming import dense_tf1_variables, truncated_normal
from modeling.layers.relative_position import RelativePositions
from modeling.layers.seeded_dropout import apply_keep_mask, dropout_keep_mask


def attention_mask_adder(input_mask: tf.Tensor) -> tf.Tensor:
    """[b, L] with 1 = attend -> [b, 1, 1, L] float32 holding (1 - mask) * -10000 (the original's)."""
    mask = tf.cast(input_mask, tf.float32)
    return ((1.0 - mask) * -10000.0)[:, None, None, :]


def scaled_query(query: tf.Tensor, size_per_head: int) -> tf.Tensor:
    """query / sqrt(size_per_head), the scores' scaling moved before the products (the same scores):
    summed in float16, q.k^T over size_per_head terms overflows 65504 long before the scaled
    scores would. Under reduced precision the product is taken in float32 and rounded once, so
    that the factor itself (1/sqrt(d) is not a float16 or bfloat16 number for most d) is exact."""
    factor = 1.0 / math.sqrt(float(size_per_head))
    if query.dtype == tf.float32:
        return query * factor
    return tf.cast(tf.cast(query, tf.float32) * factor, query.dtype)


def attention_context(probs, value, keep, rate: float, relative_positions: Optional[RelativePositions] = None,
                      memory_lean: bool = True):
    """sum_j D_ij v_j (+ the relative value term), D = dropout(probs) with boolean mask `keep` (None: no
    dropout) computed as tf.nn.dropout does, in value's dtype. probs [b, h, L, L], value [b, h, L, d].

    TensorFlow's own gradient would keep D, a fourth [b, h, L, L] tensor besides the softmax output
    (kept by the softmax's gradient anyway) and the mask; this one keeps probs, the boolean mask and
    value, and recomputes D in the backward pass. With memory_lean=False (inference) the same
    numbers come from the plain ops, differentiated by TensorFlow.
    """
    def dropped(p):
        if keep is not None:
            p = apply_keep_mask(p, keep, rate)
        return tf.cast(p, value.dtype)

    if not memory_lean:
        kept = dropped(probs)
        context = tf.einsum("bhij,bhjd->bhid", kept, value)
        if relative_positions is not None:
            context += relative_positions.value_context(kept)
        return context

    @tf.custom_gradient
    def context_of(probs, value):
        kept = dropped(probs)
        context = tf.einsum("bhij,bhjd->bhid", kept, value)
        if relative_positions is not None:
            context += relative_positions.value_context(kept)

        def gradient(upstream):
            d_kept = tf.einsum("bhid,bhjd->bhij", upstream, value)
            if relative_positions is not None:
                d_kept += relative_positions.key_logits(upstream)  # the value term's adjoint
            d_value = tf.einsum("bhij,bhid->bhjd", dropped(probs), upstream)
            d_probs = tf.cast(d_kept, probs.dtype)
            if keep is not None:
                d_probs = apply_keep_mask(d_probs, keep, rate)
            return d_probs, d_value

        return context, gradient

    return context_of(probs, value)


_NARROW = (tf.float16, tf.bfloat16)


def _softmax_of_sum(scores, relative, mask_adder):
    wide = tf.cast(scores, tf.float32)
    if relative is not None:
        wide += tf.cast(relative, tf.float32)
    return tf.nn.softmax(wide + mask_adder, axis=-1)


_narrow_softmax_forward = tf.function(_softmax_of_sum, jit_compile=True)


@tf.function(jit_compile=True)
def _narrow_softmax_backward(probs, upstream, dtype):
    return tf.cast(probs * (upstream - tf.reduce_sum(upstream * probs, axis=-1, keepdims=True)), dtype)


def masked_softmax(scores: tf.Tensor, relative: Optional[tf.Tensor], mask_adder: tf.Tensor) -> tf.Tensor:
    """softmax(scores + relative + mask_adder) over the keys, in float32 whatever the scores' dtype.

    Under bf16 / fp16 the casts to float32, the sums and the softmax are one XLA-fused loop, and so
    is the gradient, instead of five separate passes over [b, h, L, L] tensors per layer."""
    if scores.dtype not in _NARROW:
        return _softmax_of_sum(scores, relative, mask_adder)
    dtype = scores.dtype

    @tf.custom_gradient
    def fused(scores, mask_adder, *relative):
        probs = _narrow_softmax_forward(scores, relative[0] if relative else None, mask_adder)

        def gradient(upstream):
            d_scores = _narrow_softmax_backward(probs, upstream, dtype)
            return (d_scores, None) + (d_scores,) * len(relative)

        return probs, gradient

    return fused(scores, mask_adder, *([] if relative is None else [tf.cast(relative, dtype)]))


class RelativeSelfAttention(keras.layers.Layer):
    """The original's attention_layer: query/key/value projections, scores with the relative key term,
    softmax (float32) and dropout, context with the relative value term. Output [b, L, hidden]."""

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        initializer_range: float,
        dropout_rate: float,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size ({hidden_size}) is not a multiple of num_heads ({num_heads})")
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.size_per_head = hidden_size // num_heads
        self.initializer_range = initializer_range
        self.dropout_rate = dropout_rate
        self.query = self._projection("query")
        self.key = self._projection("key")
        self.value = self._projection("value")

    def _projection(self, name: str) -> keras.layers.Dense:
        initializer = truncated_normal(self.initializer_range)
        return keras.layers.Dense(self.hidden_size, kernel_initializer=initializer, name=name)

    def _split_heads(self, x: tf.Tensor, batch, length) -> tf.Tensor:
        x = tf.reshape(x, [batch, length, self.num_heads, self.size_per_head])
        return tf.transpose(x, [0, 2, 1, 3])

    def call(
        self,
        hidden: tf.Tensor,
        mask_adder: tf.Tensor,
        relative_positions: Optional[RelativePositions] = None,
        training=False,
        dropout_seed: Optional[tf.Tensor] = None,
    ) -> tf.Tensor:
        """`dropout_seed` ([2] int32), when given, makes the dropout mask a function of it (see
        seeded_dropout); without it the mask is drawn from the global generator, as Keras' Dropout does."""
        batch, length = tf.shape(hidden)[0], tf.shape(hidden)[1]
        # Projected as [b * L, hidden] rows: a rank-3 Dense goes through tensordot, whose reshape between
        # the matmul and the bias add keeps oneDNN from fusing the two (a separate pass over the output).
        rows = tf.reshape(hidden, [-1, hidden.shape[-1] or tf.shape(hidden)[-1]])
        query = scaled_query(self._split_heads(self.query(rows), batch, length), self.size_per_head)
        key = self._split_heads(self.key(rows), batch, length)
        value = self._split_heads(self.value(rows), batch, length)

        scores = tf.einsum("bhid,bhjd->bhij", query, key)
        relative = relative_positions.key_logits(query) if relative_positions is not None else None
        probs = masked_softmax(scores, relative, mask_adder)
        keep = None
        if training and self.dropout_rate > 0:
            keep = dropout_keep_mask(tf.shape(probs), self.dropout_rate, dropout_seed)
        context = attention_context(probs, value, keep, self.dropout_rate, relative_positions,
                                    memory_lean=bool(training))
        context = tf.transpose(context, [0, 2, 1, 3])
        return tf.reshape(context, [batch, length, self.hidden_size])

    def tf1_variables(self, prefix: str) -> dict:
        names = {}
        for name, dense in (("query", self.query), ("key", self.key), ("value", self.value)):
            names.update(dense_tf1_variables(dense, f"{prefix}/{name}"))
        return names

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_size=self.hidden_size,
            num_heads=self.num_heads,
            initializer_range=self.initializer_range,
            dropout_rate=self.dropout_rate,
        )
        return config
