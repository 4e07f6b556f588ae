"""The original's optimizer rules against NumPy references of the spec's formulas."""
import numpy as np
import pytest
import tensorflow as tf

from modeling.optimizers import (AdamWeightDecay, Lamb, PolynomialWarmup, clip_factor,
                                 create_optimizer, name_lookup)

B1, B2, EPS, WD = 0.9, 0.999, 1e-6, 0.01


def reference_lr(n, init_lr, total, warmup):
    adjusted = init_lr / (1 - warmup / total)
    return init_lr * n / warmup if n < warmup else adjusted * (1 - min(n, total) / total)


@pytest.mark.parametrize("warmup", [0, 2, 10])
def test_schedule_follows_the_original_rule(warmup):
    schedule = PolynomialWarmup(1e-3, 100, warmup)
    for n in [1, 2, 3, 9, 10, 11, 50, 100, 120]:
        assert float(schedule(n)) == pytest.approx(reference_lr(n, 1e-3, 100, warmup), rel=1e-6, abs=1e-12)


def test_schedule_rejects_warmup_not_below_total():
    with pytest.raises(ValueError, match="num_warmup_steps"):
        PolynomialWarmup(1e-3, 10, 10)


def _variables():
    rng = np.random.RandomState(3)
    values = {"layer/kernel": rng.randn(5, 4), "layer/bias": rng.randn(4),
              "layer/LayerNorm/gamma": rng.randn(4), "zero/kernel": np.zeros((3, 2))}
    variables = {name: tf.Variable(v.astype(np.float32)) for name, v in values.items()}
    return values, variables


def _grads(step):
    rng = np.random.RandomState(100 + step)
    shapes = {"layer/kernel": (5, 4), "layer/bias": (4,), "layer/LayerNorm/gamma": (4,), "zero/kernel": (3, 2)}
    return {name: rng.randn(*shape) * 0.1 for name, shape in shapes.items()}


def _run(optimizer_class, steps=3, **options):
    values, variables = _variables()
    schedule = PolynomialWarmup(1e-2, 10, 2)
    optimizer = optimizer_class(schedule, name_of=name_lookup(variables), **options)
    for step in range(steps):
        grads = _grads(step)
        # the bias gradient arrives as IndexedSlices, like an embedding's
        pairs = [(tf.IndexedSlices(tf.constant(g[::-1].copy(), tf.float32), tf.range(3, -1, -1), tf.constant([4])) if name == "layer/bias"
                  else tf.constant(g, tf.float32), variables[name]) for name, g in grads.items()]
        optimizer.apply_gradients(pairs)
    assert int(optimizer.iterations) == steps
    return values, {name: v.numpy() for name, v in variables.items()}


def _excluded(name):
    return any(p in name for p in ("LayerNorm", "layer_norm", "bias"))


def test_adam_weight_decay_matches_numpy_reference():
    values, result = _run(AdamWeightDecay)
    for name, w in values.items():
        w = w.astype(np.float64)
        m = np.zeros_like(w)
        v = np.zeros_like(w)
        for step in range(3):
            g = _grads(step)[name]
            m = B1 * m + (1 - B1) * g
            v = B2 * v + (1 - B2) * g * g
            update = m / (np.sqrt(v) + EPS) + (0 if _excluded(name) else WD * w)
            w = w - reference_lr(step + 1, 1e-2, 10, 2) * update
        np.testing.assert_allclose(result[name], w, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("exclude_from_layer_adaptation", [False, True])
def test_lamb_matches_numpy_reference(exclude_from_layer_adaptation):
    values, result = _run(Lamb, exclude_from_layer_adaptation=exclude_from_layer_adaptation)
    for name, w in values.items():
        w = w.astype(np.float64)
        m = np.zeros_like(w)
        v = np.zeros_like(w)
        for step in range(3):
            t = step + 1
            g = _grads(step)[name]
            m = B1 * m + (1 - B1) * g
            v = B2 * v + (1 - B2) * g * g
            m_hat, v_hat = m / (1 - B1 ** t), v / (1 - B2 ** t)
            w_norm, g_norm = np.linalg.norm(w), np.linalg.norm(g)
            ratio = w_norm / np.linalg.norm(m_hat / np.sqrt(v_hat + EPS) + WD * w) if w_norm > 0 and g_norm > 0 else 1.0
            ratio = np.clip(ratio, 0, 10)
            if exclude_from_layer_adaptation and _excluded(name):
                ratio = 1.0  # plain Adam steps for LayerNorm parameters and biases
            update = m_hat / (np.sqrt(v_hat) + EPS) + (0 if _excluded(name) else WD * w)
            w = w - ratio * reference_lr(t, 1e-2, 10, 2) * update
        np.testing.assert_allclose(result[name], w, atol=1e-6, err_msg=name)


def _zero_bias_after(steps, **options):
    bias = tf.Variable(tf.zeros([8]))
    optimizer = Lamb(1e-3, name_of=lambda variable: "layer/bias", **options)
    for _ in range(steps):
        optimizer.apply_gradients([(tf.ones([8]), bias)])
    return np.abs(bias.numpy()).max()


def test_lamb_ratio_keeps_a_zero_initialised_bias_near_zero_unless_excluded():
    # The original's rule: one step of lr from zero, then at most a factor (1 + lr) per update.
    assert _zero_bias_after(200) < 1e-3 * (1 + 1e-3) ** 200
    # Excluded from layer adaptation: a plain Adam step of lr every update.
    np.testing.assert_allclose(_zero_bias_after(200, exclude_from_layer_adaptation=True), 0.2, rtol=1e-3)


def test_create_optimizer_passes_the_lamb_option_and_refuses_it_for_adam():
    from modeling.optimizers import create_optimizer
    assert create_optimizer("lamb", 1e-3, 10, 1, lamb_exclude_from_layer_adaptation=True).exclude_from_layer_adaptation
    assert not create_optimizer("lamb", 1e-3, 10, 1).exclude_from_layer_adaptation
    with pytest.raises(ValueError, match="lamb optimizer only"):
        create_optimizer("adam", 1e-3, 10, 1, lamb_exclude_from_layer_adaptation=True)


def test_weight_decay_exclusion_uses_tf1_names():
    values, variables = _variables()
    optimizer = Lamb(1e-3, name_of=name_lookup(variables))
    optimizer.build(list(variables.values()))
    decays = {name: optimizer.decays_weight(v) for name, v in variables.items()}
    assert decays == {"layer/kernel": True, "layer/bias": False, "layer/LayerNorm/gamma": False, "zero/kernel": True}


def test_slots_and_step_are_checkpointable(tmp_path):
    _, variables = _variables()
    optimizer = create_optimizer("lamb", 1e-3, 10, 1, name_of=name_lookup(variables))
    pairs = [(tf.ones_like(v), v) for v in variables.values()]
    optimizer.apply_gradients(pairs)
    path = tf.train.Checkpoint(optimizer=optimizer).save(str(tmp_path / "opt"))
    fresh = create_optimizer("lamb", 1e-3, 10, 1, name_of=name_lookup(variables))
    fresh.build(list(variables.values()))
    tf.train.Checkpoint(optimizer=fresh).restore(path).assert_consumed()
    assert int(fresh.iterations) == 1
    for a, b in zip(optimizer.m_slots + optimizer.v_slots, fresh.m_slots + fresh.v_slots):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert np.any(fresh.m_slots[0].numpy() != 0)


def clip_by_factor(grads, clip_norm):
    """The clipped gradients the loop applies: each gradient times clip_factor's scalar."""
    factor, finite = clip_factor(grads, clip_norm)
    return [g * factor for g in grads], finite


def test_clipping_uses_norm_one_when_a_gradient_is_not_finite():
    grads = [tf.constant([3.0, 4.0]), tf.constant([0.5])]
    clipped, finite = clip_by_factor(grads, 1.0)
    assert bool(finite)
    np.testing.assert_allclose(tf.concat(clipped, 0).numpy(), np.array([3, 4, 0.5]) / np.sqrt(25.25), rtol=1e-6)
    clipped, finite = clip_by_factor([tf.constant([3.0, np.inf]), tf.constant([0.5])], 1.0)
    assert not bool(finite)
    assert clipped[1].numpy()[0] == pytest.approx(0.5)  # divided by 1.0, not by inf


def test_unknown_optimizer_is_a_clear_error():
    with pytest.raises(ValueError, match="lamb"):
        create_optimizer("sgd", 1e-3, 10, 1)
