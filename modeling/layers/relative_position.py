"""NEZHA's functional relative positions.

For query i and key j the original uses the row r_ij = clip(j - i, -K, K) + K of a fixed sinusoid
table R [2K+1, d], in two places: the key term q_i . R[r_ij] of the scores and the value term
sum_j p_ij R[r_ij] of the context. The original materialises R[r_ij] as an [L, L, d] tensor (once
per layer, through a one-hot matmul); `RelativePositions` either does the same once per forward
pass ("dense"), or computes per distinct clipped distance ("per_distance"):

- key term: q . R^T once for the 2K+1 rows ([b, h, L, 2K+1]), then each (i, j) picks its column;
- value term: the probabilities are summed per clipped distance ([b, h, L, 2K+1]), then @ R.

Both "pick" and "sum per distance" are done with the relative-shift (skew) trick: a row-wise
shifted view obtained by padding and reshaping, so they are plain memory moves whose gradients
are memory moves too (no gathers, scatters or [L, L, d] products). The two are each other's adjoint.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf


def relative_position_table(max_relative_position: int, depth: int) -> np.ndarray:
    """R[r, 2t] = sin(r / 10000^(2t/d)), R[r, 2t+1] = cos(same), r in [0, 2K] (the shifted index).

    Computed in float64 then rounded to float32, as the original does with NumPy.
    """
    positions = np.arange(2 * max_relative_position + 1, dtype=np.float64)[:, None]
    inverse_frequencies = np.power(10000.0, -2.0 * np.arange(depth // 2, dtype=np.float64) / depth)
    angles = positions * inverse_frequencies[None, :]
    table = np.zeros([2 * max_relative_position + 1, depth], dtype=np.float64)
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles)
    return table.astype(np.float32)


def relative_position_index(length, max_relative_position: int) -> tf.Tensor:
    """The original's [L, L] matrix r_ij = clip(j - i, -K, K) + K (used by tests and references)."""
    positions = tf.range(length)
    distance = positions[None, :] - positions[:, None]
    return tf.clip_by_value(distance, -max_relative_position, max_relative_position) + max_relative_position


def _last_axis_paddings(rank, before, after) -> tf.Tensor:
    return tf.concat([tf.zeros([rank - 1, 2], tf.int32), [[before, after]]], axis=0)


def _shifted_rows(per_clipped_distance: tf.Tensor, length, max_relative_position: int) -> tf.Tensor:
    """[..., L, 2K+1] -> [..., L, L] with out[i, j] = in[i, clip(j - i, -K, K) + K].

    First every row is widened to one column per distance (m - (L - 1) at column m, plus one
    padding column: 2L wide); distances beyond +-K repeat the edge columns, which is the clipping.
    In that buffer, flattened, out[i, j] sits at L - 1 + i (2L - 1) + j: a window of the flat
    buffer reshaped to rows of 2L - 1 lines every (i, j) up.
    """
    k = max_relative_position
    extra = tf.maximum(length - 1 - k, 0)  # distances clipped on each side
    start = tf.maximum(k - (length - 1), 0)  # table columns no pair of this length reaches
    leading_shape = tf.shape(per_clipped_distance)[:-1]
    edge_shape = tf.concat([leading_shape, [extra]], axis=0)
    pad_shape = tf.concat([leading_shape, [1]], axis=0)
    widened = tf.concat(
        [
            tf.broadcast_to(per_clipped_distance[..., :1], edge_shape),
            per_clipped_distance[..., start : 2 * k + 1 - start],
            tf.broadcast_to(per_clipped_distance[..., -1:], edge_shape),
            tf.zeros(pad_shape, per_clipped_distance.dtype),
        ],
        axis=-1,
    )  # [..., L, 2L]
    outer_shape = leading_shape[:-1]
    flat = tf.reshape(widened, tf.concat([outer_shape, [2 * length * length]], axis=0))
    window = flat[..., length - 1 : length - 1 + length * (2 * length - 1)]
    rows = tf.reshape(window, tf.concat([outer_shape, [length, 2 * length - 1]], axis=0))
    return rows[..., :length]


def _sum_per_clipped_distance(per_key: tf.Tensor, length, max_relative_position: int) -> tf.Tensor:
    """Adjoint of `_shifted_rows`: [..., L, L] -> [..., L, 2K+1], out[i, r] = sum of in[i, j] with r_ij = r."""
    k = max_relative_position
    outer_shape = tf.shape(per_key)[:-2]
    rank = tf.rank(per_key)
    rows = tf.pad(per_key, _last_axis_paddings(rank, 0, length - 1))  # [..., L, 2L-1]
    flat = tf.reshape(rows, tf.concat([outer_shape, [length * (2 * length - 1)]], axis=0))
    flat = tf.pad(flat, _last_axis_paddings(rank - 1, length - 1, 1))
    # Column m holds distance m - (L - 1) (the last column is padding, always 0).
    per_distance = tf.reshape(flat, tf.concat([outer_shape, [length, 2 * length]], axis=0))
    # Short sequences reach fewer than 2K + 1 distances: pad so that every clipped distance has a column.
    missing = tf.maximum(k - (length - 1), 0)
    per_distance = tf.pad(per_distance, _last_axis_paddings(rank, missing, missing))
    span = tf.maximum(length - 1, k)  # column m now holds distance m - span
    below = tf.reduce_sum(per_distance[..., : span - k + 1], axis=-1, keepdims=True)
    inside = per_distance[..., span - k + 1 : span + k]
    above = tf.reduce_sum(per_distance[..., span + k :], axis=-1, keepdims=True)
    return tf.concat([below, inside, above], axis=-1)


def _key_logits(query, table, k):
    length = tf.shape(query)[-2]
    return _shifted_rows(tf.einsum("bhid,rd->bhir", query, table), length, k)


def _value_context(probs, table, k):
    length = tf.shape(probs)[-1]
    return tf.einsum("bhir,rd->bhid", _sum_per_clipped_distance(probs, length, k), table)


# The key term is linear in the query and the value term in the probabilities, and the two maps are
# each other's transpose: each is the other's gradient. Saying so explicitly keeps the backward pass
# as cheap as the forward one (TensorFlow's own gradients of the slicing would be much slower).
def relative_key_logits(query: tf.Tensor, table: tf.Tensor, max_relative_position: int) -> tf.Tensor:
    """q_i . R[r_ij] for every (i, j): query [b, h, L, d], table [2K+1, d] -> [b, h, L, L]."""

    @tf.custom_gradient
    def key_logits(query):
        def gradient(upstream):
            return relative_value_context(upstream, table, max_relative_position)

        return _key_logits(query, table, max_relative_position), gradient

    return key_logits(query)


def relative_value_context(probs: tf.Tensor, table: tf.Tensor, max_relative_position: int) -> tf.Tensor:
    """sum_j p_ij R[r_ij] for every i: probs [b, h, L, L], table [2K+1, d] -> [b, h, L, d]."""

    @tf.custom_gradient
    def value_context(probs):
        def gradient(upstream):
            return relative_key_logits(upstream, table, max_relative_position)

        return _value_context(probs, table, max_relative_position), gradient

    return value_context(probs)


class RelativePositions:
    """The relative-position terms for one sequence length, built once per forward pass and shared
    by every layer (the table is fixed and the same for keys and values).

    Two exact ways to compute them, and "auto" (the default everywhere) that picks per length:
    - "dense": gather the table into R[r_ij] ([L, L, d], no batch or head axis) and contract it
      with einsums: plain batched matmuls, no shifts.
    - "per_distance": work on the 2K+1 distinct rows (see the module docstring): fewer FLOPs once
      L is well above 2K+1, plus the shifts' memory moves; it never holds the [L, L, d] table.
    - "auto": "dense" up to DENSE_UP_TO (512) tokens, "per_distance" beyond (and when the length is
      not known when the graph is built): dense measured faster up to 512 tokens, while its [L, L, d]
      table grows quadratically beyond; the measurements are in docs/performance.md.
    """

    METHODS = ("auto", "dense", "per_distance")
    DENSE_UP_TO = 512

    @classmethod
    def resolve(cls, method: str, length) -> str:
        """The exact method `method` stands for at sequence length `length` (int or scalar tensor)."""
        if method not in cls.METHODS:
            raise ValueError(f"unknown relative attention method {method!r}; choose one of {cls.METHODS}")
        if method != "auto":
            return method
        static = tf.get_static_value(length)
        return "dense" if static is not None and int(static) <= cls.DENSE_UP_TO else "per_distance"

    def __init__(self, table: tf.Tensor, length, max_relative_position: int, method: str = "auto"):
        self.table = table
        self.max_relative_position = max_relative_position
        self.method = self.resolve(method, length)
        self.per_pair = None
        self._cast_cache = {}
        if self.method == "dense":
            self.per_pair = tf.gather(table, relative_position_index(length, max_relative_position))

    def key_logits(self, query: tf.Tensor) -> tf.Tensor:
        """[b, h, L, d] -> [b, h, L, L]: q_i . R[r_ij]."""
        table, per_pair = self._in_dtype(query.dtype)
        if per_pair is not None:
            return tf.einsum("bhid,ijd->bhij", query, per_pair)
        return relative_key_logits(query, table, self.max_relative_position)

    def value_context(self, probs: tf.Tensor) -> tf.Tensor:
        """[b, h, L, L] -> [b, h, L, d]: sum_j p_ij R[r_ij]."""
        table, per_pair = self._in_dtype(probs.dtype)
        if per_pair is not None:
            return tf.einsum("bhij,ijd->bhid", probs, per_pair)
        return relative_value_context(probs, table, self.max_relative_position)

    def _in_dtype(self, dtype):
        # Cast once per dtype (mixed precision), not once per layer; and once per graph, since a
        # cast made while tracing one layer on its own (Keras' SavedModel export traces each layer
        # in a graph of its own) cannot be read from another layer's graph.
        key = (dtype, None if tf.executing_eagerly() else tf.compat.v1.get_default_graph())
        if key not in self._cast_cache:
            per_pair = None if self.per_pair is None else tf.cast(self.per_pair, dtype)
            self._cast_cache[key] = (tf.cast(self.table, dtype), per_pair)
        return self._cast_cache[key]
