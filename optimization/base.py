"""Shared machinery of the original's two optimizers: slots, step counter, weight-decay plan.

The optimizers are plain `tf.Module`s rather than Keras optimizers: the original's update rules
(LAMB's ratio with the decay inside the norm, Adam without bias correction) differ from Keras',
and a Module keeps slots and the step counter trackable by `tf.train.Checkpoint` with no
hidden state.
"""
from typing import Callable, List, Optional, Sequence, Tuple, Union

import tensorflow as tf

from optimization.weight_decay import DEFAULT_EXCLUDE, decays, keras_name


class _Plan:
    """Per-variable facts fixed when the optimizer is built (kept out of checkpoint tracking)."""

    def __init__(self):
        self.index_of = {}
        self.decays: List[bool] = []
        self.names: List[str] = []


def dense_gradient(grad):
    """Embedding gradients arrive as IndexedSlices; every rule here touches every row anyway."""
    if isinstance(grad, tf.IndexedSlices):
        return tf.convert_to_tensor(grad)
    return grad


class DecoupledWeightDecayOptimizer(tf.Module):
    def __init__(self,
                 learning_rate: Union[float, Callable],
                 weight_decay_rate: float = 0.01,
                 beta_1: float = 0.9,
                 beta_2: float = 0.999,
                 epsilon: float = 1e-6,
                 exclude_from_weight_decay: Sequence[str] = DEFAULT_EXCLUDE,
                 name_of: Optional[Callable[[tf.Variable], str]] = None,
                 name: str = "optimizer", fuse_updates: bool = True):
        super().__init__(name=name)
        # Each variable's update is one XLA-fused loop (compiled once per shape): no full-size
        # temporaries for m-hat, v-hat, the ratio's terms, ...; fewer passes over memory.
        self.fuse_updates = fuse_updates
        self._fused_update = tf.function(self._scaled_update, jit_compile=True)
        self.learning_rate = learning_rate
        self.weight_decay_rate = float(weight_decay_rate)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.exclude_from_weight_decay = tuple(exclude_from_weight_decay)
        self._name_of = name_of or keras_name
        # Number of updates applied so far; the n-th update uses learning_rate(n).
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations")
        self.m_slots: List[tf.Variable] = []
        self.v_slots: List[tf.Variable] = []
        self._plan = _Plan()

    # -- building -------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        return bool(self._plan.names)

    def build(self, variables: Sequence[tf.Variable]) -> None:
        """Creates the m and v slots (zeros) for `variables`, in order; idempotent."""
        if self.built:
            return
        with tf.init_scope():
            for variable in variables:
                name = self._name_of(variable)
                self._plan.index_of[variable.ref()] = len(self._plan.names)
                self._plan.names.append(name)
                self._plan.decays.append(decays(name, self.exclude_from_weight_decay))
                self.m_slots.append(tf.Variable(tf.zeros(variable.shape, tf.float32), trainable=False,
                                                name=f"{name.replace('/', '.')}-m"))
                self.v_slots.append(tf.Variable(tf.zeros(variable.shape, tf.float32), trainable=False,
                                                name=f"{name.replace('/', '.')}-v"))

    def slot_variables(self) -> List[tf.Variable]:
        return [self.iterations] + list(self.m_slots) + list(self.v_slots)

    def decays_weight(self, variable: tf.Variable) -> bool:
        return self._plan.decays[self._plan.index_of[variable.ref()]]

    # -- applying -------------------------------------------------------------------------
    def current_learning_rate(self, update_number=None) -> tf.Tensor:
        """Learning rate the next update (or update `update_number`) uses."""
        n = self.iterations + 1 if update_number is None else update_number
        if callable(self.learning_rate):
            return tf.cast(self.learning_rate(n), tf.float32)
        return tf.constant(self.learning_rate, tf.float32)

    def apply_gradients(self, grads_and_vars: Sequence[Tuple[tf.Tensor, tf.Variable]],
                        grad_scale: Optional[tf.Tensor] = None) -> tf.Tensor:
        """Applies one update; returns the learning rate it used.

        `grad_scale` (a scalar: clipping factor, loss-scale and averaging divisors) multiplies each
        gradient just before its variable's update, so no scaled copy of all gradients is ever held.
        """
        grads_and_vars = [(g, v) for g, v in grads_and_vars if g is not None]
        if not self.built:
            self.build([v for _, v in grads_and_vars])
        update_number = self.iterations + 1
        lr = self.current_learning_rate(update_number)
        t = tf.cast(update_number, tf.float32)
        # One variable at a time: run concurrently, the full-size temporaries of every variable's
        # update would be alive together (several times the model's size, the largest memory cost
        # of a step); in sequence only one variable's are. Each update is memory-bound and uses
        # all cores on its own, so little speed is lost.
        previous = []
        for grad, variable in grads_and_vars:
            index = self._plan.index_of[variable.ref()]
            with tf.control_dependencies(previous):
                scale = tf.constant(1.0) if grad_scale is None else grad_scale
                update = self._fused_update if self.fuse_updates else self._scaled_update
                previous = [update(dense_gradient(grad), scale, variable, self.m_slots[index],
                                   self.v_slots[index], self._plan.decays[index], lr, t)]
        with tf.control_dependencies(previous):
            self.iterations.assign_add(1)
        return lr

    def _scaled_update(self, grad, scale, variable, m, v, decay: bool, lr, t):
        self._apply_one(grad * scale, variable, m, v, decay, lr, t)
        return tf.constant(True)  # a tensor to order the next variable's update after this one

    def _apply_one(self, grad, variable, m, v, decay: bool, lr, t):
        raise NotImplementedError

    def _moments(self, grad, m, v):
        grad = tf.cast(grad, tf.float32)
        new_m = self.beta_1 * m + (1.0 - self.beta_1) * grad
        new_v = self.beta_2 * v + (1.0 - self.beta_2) * tf.square(grad)
        return grad, m.assign(new_m, read_value=True), v.assign(new_v, read_value=True)

    def get_config(self):
        lr = self.learning_rate
        return {"learning_rate": lr.get_config() if hasattr(lr, "get_config") else lr,
                "weight_decay_rate": self.weight_decay_rate, "beta_1": self.beta_1,
                "beta_2": self.beta_2, "epsilon": self.epsilon,
                "exclude_from_weight_decay": list(self.exclude_from_weight_decay)}
