"""Signs that an encoder's representations have collapsed (outputs that no longer depend on the input).

A pretraining run that diverges into predicting character frequencies leaves an encoder whose
pooled output is the same vector for every input and whose sequence output is the same at every
position; fine-tuning from it stays at chance. Measured on a fresh NEZHA the spreads below are
about 0.1; on the collapsed checkpoints we have seen, 1e-5 to 1e-4.
"""
from typing import Dict, Mapping, Optional

import tensorflow as tf

# Well below anything a working encoder (trained or freshly initialised) shows, well above a collapse.
COLLAPSE_THRESHOLD = 1e-3


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
    """A message when any spread is below `threshold`, else None."""
    low = {name: value for name, value in spread.items() if value < threshold}
    if not low:
        return None
    found = ", ".join(f"{name} = {value:.2g}" for name, value in sorted(low.items()))
    return (f"{source} looks collapsed: its encoder gives nearly the same output for different inputs "
            f"({found}; a working encoder shows about 0.1, the threshold is {threshold:g}). Fine-tuning from it "
            f"usually stays at chance. Its pretraining probably plateaued at the unigram level (masked-LM "
            f"loss about 6.8, accuracy flat): see the README's pretraining section.")
