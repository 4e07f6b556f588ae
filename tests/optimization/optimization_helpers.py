"""Variables, gradients and the spec's NumPy formulas shared by the optimizer tests."""
import numpy as np
import tensorflow as tf

from optimization import PolynomialWarmup, name_lookup

B1, B2, EPS, WD = 0.9, 0.999, 1e-6, 0.01


def reference_lr(n, init_lr, total, warmup):
    adjusted = init_lr / (1 - warmup / total)
    return init_lr * n / warmup if n < warmup else adjusted * (1 - min(n, total) / total)


def variables_and_values():
    rng = np.random.RandomState(3)
    values = {"layer/kernel": rng.randn(5, 4), "layer/bias": rng.randn(4),
              "layer/LayerNorm/gamma": rng.randn(4), "zero/kernel": np.zeros((3, 2))}
    variables = {name: tf.Variable(v.astype(np.float32)) for name, v in values.items()}
    return values, variables


def grads(step):
    rng = np.random.RandomState(100 + step)
    shapes = {"layer/kernel": (5, 4), "layer/bias": (4,), "layer/LayerNorm/gamma": (4,), "zero/kernel": (3, 2)}
    return {name: rng.randn(*shape) * 0.1 for name, shape in shapes.items()}


def run(optimizer_class, steps=3, **options):
    values, variables = variables_and_values()
    schedule = PolynomialWarmup(1e-2, 10, 2)
    optimizer = optimizer_class(schedule, name_of=name_lookup(variables), **options)
    for step in range(steps):
        step_grads = grads(step)
        # the bias gradient arrives as IndexedSlices, like an embedding's
        pairs = [(tf.IndexedSlices(tf.constant(g[::-1].copy(), tf.float32), tf.range(3, -1, -1), tf.constant([4])) if name == "layer/bias"
                  else tf.constant(g, tf.float32), variables[name]) for name, g in step_grads.items()]
        optimizer.apply_gradients(pairs)
    assert int(optimizer.iterations) == steps
    return values, {name: v.numpy() for name, v in variables.items()}


def excluded(name):
    return any(p in name for p in ("LayerNorm", "layer_norm", "bias"))
