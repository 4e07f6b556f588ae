"""LAMB exactly as the original NEZHA code applies it."""
import tensorflow as tf

from optimization.base import DecoupledWeightDecayOptimizer


class Lamb(DecoupledWeightDecayOptimizer):
    """For update t: m̂ = m/(1-b1^t), v̂ = v/(1-b2^t);
    ratio = ‖w‖ / ‖m̂/sqrt(v̂+eps) + wd·w‖ (1 if ‖w‖ or ‖g‖ is 0), clipped to [0, 10];
    w -= ratio · lr · (m̂/(sqrt(v̂)+eps) + wd·w if the variable decays).

    The ratio's denominator keeps the decay term for every variable and puts eps inside the
    square root, unlike the update itself: that is the original's behaviour, kept on purpose.

    The original applies the ratio to every variable, LayerNorm parameters and biases included;
    `exclude_from_layer_adaptation=True` gives the variables excluded from weight decay a ratio of
    1 (plain Adam steps), as the LAMB paper's reference and NVIDIA's implementations do. Why that
    matters for variables that start at zero: docs/pretraining.md.
    """

    def __init__(self, learning_rate, name: str = "lamb", exclude_from_layer_adaptation: bool = False, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.exclude_from_layer_adaptation = bool(exclude_from_layer_adaptation)

    def _apply_one(self, grad, variable, m, v, decay, lr, t):
        grad, m, v = self._moments(grad, m, v)
        m_hat = m * (1.0 / (1.0 - tf.pow(self.beta_1, t)))
        v_hat = v * (1.0 / (1.0 - tf.pow(self.beta_2, t)))
        update = m_hat / (tf.sqrt(v_hat) + self.epsilon)
        if not decay and self.exclude_from_layer_adaptation:
            return variable.assign_sub(lr * update)
        w = tf.convert_to_tensor(variable)
        decay_term = self.weight_decay_rate * w
        w_norm = tf.norm(w)
        g_norm = tf.norm(grad)
        ratio_denominator = tf.norm(m_hat * tf.math.rsqrt(v_hat + self.epsilon) + decay_term)
        ratio = tf.where((w_norm > 0.0) & (g_norm > 0.0),
                         tf.math.divide_no_nan(w_norm, ratio_denominator), 1.0)
        ratio = tf.clip_by_value(ratio, 0.0, 10.0)
        if decay:
            update = update + decay_term
        return variable.assign_sub(ratio * lr * update)

    def get_config(self):
        return dict(super().get_config(), exclude_from_layer_adaptation=self.exclude_from_layer_adaptation)
