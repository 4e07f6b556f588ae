"""x . W^T for output layers stored in the original's [num_outputs, hidden] layout."""
from __future__ import annotations

import tensorflow as tf


def project_transposed(inputs: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """inputs [..., hidden] . weights[num_outputs, hidden]^T -> [..., num_outputs], as one 2-D matmul.

    A rank-3 `tf.matmul` against a shared matrix is a batched matmul, and its gradient with respect
    to the matrix is first built once per leading index ([batch, num_outputs, hidden]) and only then
    summed: for the masked-LM output (the word embeddings, 21128 x 768) at batch 8 that is eight
    65 MB tables alive at once in the backward pass. Flattening the leading axes first, as the
    original does, gives the summed gradient directly. Every output is the same dot product.
    """
    num_outputs = weights.shape[0]
    if num_outputs is None:
        num_outputs = tf.shape(weights)[0]
    outputs = tf.matmul(tf.reshape(inputs, [-1, tf.shape(inputs)[-1]]), weights, transpose_b=True)
    return tf.reshape(outputs, tf.concat([tf.shape(inputs)[:-1], [num_outputs]], axis=0))
