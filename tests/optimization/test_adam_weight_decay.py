"""AdamWeightDecay against a NumPy reference of the original's formula."""
import numpy as np

from optimization import AdamWeightDecay
from tests.optimization.optimization_helpers import B1, B2, EPS, WD, excluded, grads, reference_lr, run


def test_adam_weight_decay_matches_numpy_reference():
    values, result = run(AdamWeightDecay)
    for name, w in values.items():
        w = w.astype(np.float64)
        m = np.zeros_like(w)
        v = np.zeros_like(w)
        for step in range(3):
            g = grads(step)[name]
            m = B1 * m + (1 - B1) * g
            v = B2 * v + (1 - B2) * g * g
            update = m / (np.sqrt(v) + EPS) + (0 if excluded(name) else WD * w)
            w = w - reference_lr(step + 1, 1e-2, 10, 2) * update
        np.testing.assert_allclose(result[name], w, atol=1e-6, err_msg=name)

