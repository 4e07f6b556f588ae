"""The original's learning-rate rule: linear warmup, then polynomial (power 1) decay to zero."""
import tensorflow as tf

from compat.keras import keras


class PolynomialWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate of the n-th update (n = 1, 2, ...).

    adjusted = init_lr / (1 - W/T); lr(n) = init_lr * n / W while n < W, else
    adjusted * (1 - min(n, T) / T). The original scales the decayed rate by 1/(1 - W/T) so that
    the decay line starts from init_lr where warmup ends; the step argument is the 1-based
    update number, which is what the original's graph uses in practice.
    """

    def __init__(self, init_lr: float, num_train_steps: int, num_warmup_steps: int = 0, name: str = "PolynomialWarmup"):
        super().__init__()
        if num_train_steps <= 0:
            raise ValueError(f"num_train_steps must be positive, got {num_train_steps}")
        if not 0 <= num_warmup_steps < num_train_steps:
            raise ValueError(
                f"num_warmup_steps must be in [0, num_train_steps={num_train_steps}), got {num_warmup_steps}")
        self.init_lr = float(init_lr)
        self.num_train_steps = int(num_train_steps)
        self.num_warmup_steps = int(num_warmup_steps)
        self.name = name

    def __call__(self, update_number):
        with tf.name_scope(self.name):
            n = tf.cast(update_number, tf.float32)
            total = float(self.num_train_steps)
            adjusted = self.init_lr / (1.0 - self.num_warmup_steps / total)
            decayed = adjusted * (1.0 - tf.minimum(n, total) / total)
            if self.num_warmup_steps == 0:
                return decayed
            warm = self.init_lr * n / float(self.num_warmup_steps)
            return tf.where(n < float(self.num_warmup_steps), warm, decayed)

    def get_config(self):
        return {"init_lr": self.init_lr, "num_train_steps": self.num_train_steps,
                "num_warmup_steps": self.num_warmup_steps, "name": self.name}
