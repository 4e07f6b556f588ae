"""Signs that an encoder's representations have collapsed (outputs that no longer depend on the input).

A pretraining run that diverges into predicting character frequencies leaves an encoder whose
pooled output is the same vector for every input and whose sequence output is the same at every
position; fine-tuning from it stays at chance. Measured on a fresh NEZHA the spreads below are
about 0.1; on the collapsed checkpoints we have seen, 1e-5 to 1e-4.
"""
from typing import Dict, Mapping, Optional

import tensorflow as tf

# The spread that decides: about 0.5-0.9 for every working encoder we measured (trained or freshly
# initialised), 8e-5 on the collapsed 4-layer checkpoint. The pooled output's spread across inputs is
# reported beside it but does not decide: at random initialisation [CLS] barely depends on a short,
# fully packed sentence (6e-4 for the tiny fixture on ChnSentiCorp), though the encoder works.
COLLAPSE_THRESHOLD = 1e-3
DECIDING_SPREAD = "sequence_across_positions"


def representation_spread(outputs: Mapping[str, tf.Tensor], input_mask: tf.Tensor) -> Dict[str, float]:
    """How much an encoder's outputs vary with the input, from one batch of its outputs.

    pooled_across_inputs: the standard deviation of the pooled output across the examples of the
    batch, averaged over hidden units (needs at least two examples). sequence_across_positions: the
    standard deviation of the sequence output across each example's real (unmasked) positions,
    averaged over hidden units and examples.
    """
    pooled = tf.cast(outputs["pooled_output"], tf.float32)
    sequence = tf.cast(outputs["sequence_output"], tf.float32)
    mask = tf.cast(input_mask, tf.float32)[:, :, None]
    counts = tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
    mean = tf.reduce_sum(sequence * mask, axis=1) / counts
    variance = tf.reduce_sum(tf.square(sequence - mean[:, None, :]) * mask, axis=1) / counts
    spread = {"sequence_across_positions": float(tf.reduce_mean(tf.sqrt(variance)))}
    if pooled.shape[0] is None or pooled.shape[0] > 1:
        spread["pooled_across_inputs"] = float(tf.reduce_mean(tf.math.reduce_std(pooled, axis=0)))
    return spread


def collapse_warning(spread: Mapping[str, float], source: str = "the initial checkpoint",
                     threshold: float = COLLAPSE_THRESHOLD) -> Optional[str]:
    """A message when the sequence output barely varies across positions (below `threshold`), else None."""
    if spread[DECIDING_SPREAD] >= threshold:
        return None
    found = ", ".join(f"{name} = {value:.2g}" for name, value in sorted(spread.items()))
    return (f"{source} looks collapsed: its encoder gives nearly the same output for different inputs "
            f"({found}; a working encoder shows about 0.5 or more across positions, the threshold is "
            f"{threshold:g}). Fine-tuning from it usually stays at chance. Its pretraining probably "
            f"plateaued at the unigram level (masked-LM loss about 6.8, accuracy flat): see the README's "
            f"pretraining section.")
