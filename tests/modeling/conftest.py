"""Fixtures of the modeling tests."""
import pytest

from compat.keras import keras


@pytest.fixture
def tiny_lamb_dir(fixtures_dir):
    path = fixtures_dir / "nezha_tiny_lamb"
    if not (path / "golden.npz").is_file():
        pytest.skip(f"{path}/golden.npz is absent: the conformance test needs the original's numbers")
    return path


@pytest.fixture
def global_policy():
    """Sets a Keras global dtype policy for one test and always restores float32."""

    def set_policy(name):
        keras.mixed_precision.set_global_policy(name)

    yield set_policy
    keras.mixed_precision.set_global_policy("float32")
