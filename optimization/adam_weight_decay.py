"""AdamWeightDecay, the original's fine-tuning optimizer (Adam without bias correction)."""
import tensorflow as tf

from optimization.base import DecoupledWeightDecayOptimizer


class AdamWeightDecay(DecoupledWeightDecayOptimizer):
    """w -= lr · (m/(sqrt(v)+eps) + wd·w if the variable decays); m and v not bias-corrected."""

    def __init__(self, learning_rate, name: str = "adam_weight_decay", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)

    def _apply_one(self, grad, variable, m, v, decay, lr, t):
        grad, m, v = self._moments(grad, m, v)
        update = m / (tf.sqrt(v) + self.epsilon)
        if decay:
            update = update + self.weight_decay_rate * tf.convert_to_tensor(variable)
        return variable.assign_sub(lr * update)
