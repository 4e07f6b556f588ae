"""Mixed-precision policies and the original's dynamic loss scaling.

Keras' LossScaleOptimizer is not used: its schedule (start 2^15, halve on every overflow, double
after 2000 steps) is not the original's, and it would hide the skipped-step logic that must also
leave our own optimizer's step counter alone.
"""
from dataclasses import dataclass
from typing import Optional

import tensorflow as tf

from compat.keras import keras

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


class DynamicLossScale(tf.Module):
    """The original's ExponentialUpdateLossScaleManager(2^32, incr_every_n_steps=1000, decr_every_n_nan_or_inf=2).

    After a finite step: count it; on the 1000th consecutive one double the scale (if the result
    is finite) and reset both counters. After an overflowing step: reset the finite count; on the
    second overflow since the last change halve the scale (never below 1) and reset both counters.
    As in the original, a finite step does not reset the overflow count.
    """

    def __init__(self, initial_scale: float = 2.0 ** 32, increase_every: int = 1000,
                 decrease_every: int = 2, factor: float = 2.0, name: str = "loss_scale"):
        super().__init__(name=name)
        self.increase_every = int(increase_every)
        self.decrease_every = int(decrease_every)
        self.factor = float(factor)
        self.scale = tf.Variable(float(initial_scale), dtype=tf.float32, trainable=False, name="scale")
        self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="good_steps")
        self.bad_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="bad_steps")

    def variables_to_sync(self):
        return [self.scale, self.good_steps, self.bad_steps]

    def update(self, finite: tf.Tensor) -> tf.Operation:
        def reset():
            return tf.group(self.good_steps.assign(0), self.bad_steps.assign(0))

        def after_finite():
            def increase():
                bigger = self.scale * self.factor
                new = tf.where(tf.math.is_finite(bigger), bigger, self.scale)
                return tf.group(self.scale.assign(new), reset())
            return tf.cond(self.good_steps + 1 >= self.increase_every, increase,
                           lambda: tf.group(self.good_steps.assign_add(1)))

        def after_overflow():
            def decrease():
                return tf.group(self.scale.assign(tf.maximum(1.0, self.scale / self.factor)), reset())
            return tf.cond(self.bad_steps + 1 >= self.decrease_every, decrease,
                           lambda: tf.group(self.bad_steps.assign_add(1), self.good_steps.assign(0)))

        return tf.cond(finite, after_finite, after_overflow)


@dataclass
class Precision:
    """Which Keras policy the model is built under, and the loss scale if any (fp16 only)."""
    policy: str = "float32"
    loss_scale: Optional[DynamicLossScale] = None

    @classmethod
    def create(cls, use_fp16: bool = False, use_bf16: bool = False) -> "Precision":
        if use_fp16 and use_bf16:
            raise ValueError("--use_fp16 and --use_bf16 are exclusive: choose one")
        if use_fp16:
            return cls("mixed_float16", DynamicLossScale())
        if use_bf16:
            return cls("mixed_bfloat16", None)
        return cls("float32", None)

    def apply_policy(self) -> None:
        """Sets the global Keras policy; call before building the model (variables stay float32)."""
        if self.policy not in POLICIES:
            raise ValueError(f"unknown precision policy {self.policy!r}; expected one of {POLICIES}")
        keras.mixed_precision.set_global_policy(self.policy)

    def current_scale(self) -> float:
        return float(self.loss_scale.scale.numpy()) if self.loss_scale is not None else 1.0
