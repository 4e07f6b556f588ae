"""scripts/demo.sh filters run_pretraining.py's output: a failed run must still stop it, loudly."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_failed_pretraining_stops_the_demo_with_its_error(tmp_path):
    # 0 steps is an invalid run (and the cheapest way to make the real script fail there)
    env = dict(os.environ, PY=sys.executable, DEMO_OUTPUT=str(tmp_path / "demo"), DEMO_STEPS="0")
    result = subprocess.run(["bash", str(REPO / "scripts" / "demo.sh")], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "demo: run_pretraining.py failed (exit 1)" in result.stderr
    assert "run_pretraining.py: error: num_train_steps must be positive, got 0" in result.stderr
    assert "Evaluation (" not in result.stdout, "the demo went on after the failure"
    assert (tmp_path / "demo" / "data" / "demo_0.tfrecord").exists(), "the steps before pretraining ran"
