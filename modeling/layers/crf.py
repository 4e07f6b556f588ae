"""A linear-chain CRF in plain TensorFlow: log-likelihood by the forward algorithm and Viterbi decoding.

Shapes: `potentials` [batch, time, num_tags] (unary scores, any float dtype), `tags` [batch, time],
`lengths` [batch] (real tokens per row), `transitions` [num_tags, num_tags] where
transitions[i, j] scores tag i followed by tag j. Everything is computed in float32 (so it is safe
under mixed precision) and without tf.cond, so the loss, its gradient and the decoding all compile
under XLA (`tf.function(jit_compile=True)`).

Lengths are read as tensorflow-addons' `crf_log_likelihood` and `crf_decode` read them: a length
above `time` counts as `time`; a row of length 0 has log-likelihood 0 and decodes position 0 alone.
Decoded tags past a row's length are 0 (the padding id).
"""
import tensorflow as tf


def _as_float32(potentials, transitions):
    # read a variable once: XLA has no kernel for gathering from a resource variable directly
    return (tf.cast(tf.convert_to_tensor(potentials), tf.float32),
            tf.cast(tf.convert_to_tensor(transitions), tf.float32))


def _clipped_lengths(lengths, time):
    return tf.minimum(tf.cast(lengths, tf.int32), time)


def _last_positions(lengths, time):
    """[batch] the position a row's path ends at: max(length, 1) - 1 (a row of length 0 keeps position 0,
    as tensorflow-addons' decoding does)."""
    return tf.maximum(_clipped_lengths(lengths, time), 1) - 1


def crf_sequence_score(potentials, tags, lengths, transitions):
    """[batch] unnormalised score of `tags`: unary scores of the first `length` positions plus the
    transitions between consecutive ones."""
    potentials, transitions = _as_float32(potentials, transitions)
    tags = tf.cast(tags, tf.int32)
    time = tf.shape(potentials)[1]
    mask = tf.sequence_mask(_clipped_lengths(lengths, time), time, dtype=tf.float32)
    unary = tf.reduce_sum(tf.gather(potentials, tags, batch_dims=2) * mask, axis=1)
    # pair (t-1, t) counts when position t is real
    pairs = tf.stack([tags[:, :-1], tags[:, 1:]], axis=-1)
    binary = tf.reduce_sum(tf.gather_nd(transitions, pairs) * mask[:, 1:], axis=1)
    return unary + binary


def _alphas(potentials, transitions, combine):
    """[time, batch, num_tags]: alpha_0 = potentials[:, 0]; alpha_t = potentials[:, t] +
    combine(alpha_{t-1}[:, :, None] + transitions, axis=1): logsumexp gives the forward algorithm,
    max gives Viterbi's best scores."""
    first = potentials[:, 0]
    rest = tf.transpose(potentials[:, 1:], [1, 0, 2])

    def step(alpha, unary):
        return unary + combine(alpha[:, :, None] + transitions, axis=1)

    later = tf.scan(step, rest, initializer=first)
    return tf.concat([first[None], later], axis=0)


def _at_last_position(per_time, lengths):
    """per_time [time, batch, ...] taken at position max(length, 1) - 1 of each row."""
    last = _last_positions(lengths, tf.shape(per_time)[0])
    return tf.gather(tf.transpose(per_time, [1, 0, 2]), last, batch_dims=1)


def crf_log_norm(potentials, lengths, transitions):
    """[batch] log partition function over all tag sequences of each row's length (0 for length 0)."""
    potentials, transitions = _as_float32(potentials, transitions)
    alphas = _alphas(potentials, transitions, tf.reduce_logsumexp)
    log_norm = tf.reduce_logsumexp(_at_last_position(alphas, lengths), axis=-1)
    return tf.where(tf.cast(lengths, tf.int32) <= 0, tf.zeros_like(log_norm), log_norm)


def crf_log_likelihood(potentials, tags, lengths, transitions):
    """[batch] log-likelihood of `tags` under the CRF (score minus log partition function); both
    terms, and so the result, are 0 for a row of length 0."""
    return crf_sequence_score(potentials, tags, lengths, transitions) - crf_log_norm(potentials, lengths, transitions)


def crf_decode(potentials, transitions, lengths):
    """Viterbi: (tags [batch, time] int32, best score [batch] float32). The best path of each row's
    first max(length, 1) positions; later positions are 0."""
    potentials, transitions = _as_float32(potentials, transitions)
    time = tf.shape(potentials)[1]
    deltas = _alphas(potentials, transitions, tf.reduce_max)
    # backpointers[t][b, j]: the best tag at t given tag j at t + 1 (recomputed from the deltas
    # rather than carried through the scan, which keeps the scan's state a single tensor)
    scores = deltas[:-1, :, :, None] + transitions
    backpointers = tf.argmax(scores, axis=2, output_type=tf.int32)
    # a dummy row for the last position, which never follows the path backwards
    backpointers = tf.concat([backpointers, tf.zeros_like(deltas[:1], dtype=tf.int32)], axis=0)
    last_scores = _at_last_position(deltas, lengths)
    best_last = tf.argmax(last_scores, axis=-1, output_type=tf.int32)
    last = _last_positions(lengths, time)

    def back(following, position_and_pointers):
        position, pointers = position_and_pointers
        previous = tf.gather(pointers, following, batch_dims=1)
        return tf.where(position < last, previous, tf.where(position == last, best_last, 0))

    positions = tf.range(time - 1, -1, -1)
    reversed_tags = tf.scan(back, (positions, tf.reverse(backpointers, [0])),
                            initializer=tf.zeros_like(best_last))
    tags = tf.transpose(tf.reverse(reversed_tags, [0]))
    return tags, tf.reduce_max(last_scores, axis=-1)
