import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pytest

from compat.stack import HOROVOD_STACK, STACK

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# What the current stack (README, Set up) lacks, by marker (pytest.ini), and why the test skips there.
NOT_ON_CURRENT_STACK = {
    "horovod": f"needs Horovod: {HOROVOD_STACK}",
    "tfa": ("needs tensorflow-addons, which does not import on TensorFlow 2.16+ (classic stack only); the project "
            "uses it only as the reference its plain-TensorFlow CRF is checked against"),
}


def pytest_collection_modifyitems(config, items):
    if STACK != "current":
        return
    for item in items:
        for marker, reason in NOT_ON_CURRENT_STACK.items():
            if item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=f"current stack: {reason}"))
                break


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the clone; tests that need it skip, saying so, when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the golden fixtures and shared data are needed for this test")
    return SHARED


@pytest.fixture(scope="session")
def fixtures_dir(shared_dir) -> Path:
    path = shared_dir / "fixtures"
    if not path.is_dir():
        pytest.skip(f"{path} is absent: this conformance test compares with the original's numbers there")
    return path


@pytest.fixture(scope="session")
def vocab_file(shared_dir) -> Path:
    return shared_dir / "data" / "nezha_vocab" / "vocab.txt"


@pytest.fixture(autouse=True)
def op_determinism_stays_with_its_test():
    """--deterministic turns on TensorFlow's op determinism for the whole process: put it back after the
    test, so that the tests after a deterministic run see TensorFlow's default (TF's own, non-public
    switch: the public API has no way to turn it off)."""
    yield
    import sys
    if "tensorflow" in sys.modules:
        from tensorflow.python.framework import config as tf_config
        if tf_config.is_op_determinism_enabled():
            tf_config.disable_op_determinism()
