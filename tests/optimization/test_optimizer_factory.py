"""create_optimizer: the optimizer by name, its options, its errors."""
import pytest

from optimization import create_optimizer


def test_create_optimizer_passes_the_lamb_option_and_refuses_it_for_adam():
    assert create_optimizer("lamb", 1e-3, 10, 1, lamb_exclude_from_layer_adaptation=True).exclude_from_layer_adaptation
    assert not create_optimizer("lamb", 1e-3, 10, 1).exclude_from_layer_adaptation
    with pytest.raises(ValueError, match="lamb optimizer only"):
        create_optimizer("adam", 1e-3, 10, 1, lamb_exclude_from_layer_adaptation=True)


def test_unknown_optimizer_is_a_clear_error():
    with pytest.raises(ValueError, match="lamb"):
        create_optimizer("sgd", 1e-3, 10, 1)

