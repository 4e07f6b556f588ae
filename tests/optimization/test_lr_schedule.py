"""PolynomialWarmup against the original's rule (warmup, then polynomial decay to zero)."""
import pytest

from optimization import PolynomialWarmup
from tests.optimization.optimization_helpers import reference_lr


@pytest.mark.parametrize("warmup", [0, 2, 10])
def test_schedule_follows_the_original_rule(warmup):
    schedule = PolynomialWarmup(1e-3, 100, warmup)
    for n in [1, 2, 3, 9, 10, 11, 50, 100, 120]:
        assert float(schedule(n)) == pytest.approx(reference_lr(n, 1e-3, 100, warmup), rel=1e-6, abs=1e-12)


def test_schedule_rejects_warmup_not_below_total():
    with pytest.raises(ValueError, match="num_warmup_steps"):
        PolynomialWarmup(1e-3, 10, 10)

