"""The Horovod engine reduces each gradient with an allreduce of its own (so that, without XLA, the
reduction overlaps the rest of the backward pass) and gets exactly the numbers of the one grouped
allreduce it replaced."""
import json
import os
import subprocess
import sys

import pytest

from tests.test_run_pretraining import _horovodrun

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
@pytest.mark.horovod
def test_each_gradient_is_reduced_on_its_own_with_the_grouped_numbers():
    runner = _horovodrun()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", PYTHONPATH=REPO)
    result = subprocess.run([runner, "-np", "2", "-H", "localhost:2", "--gloo", sys.executable,
                             os.path.join(REPO, "tests", "training", "overlap_probe.py")],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    lines = [line.split("OVERLAP ", 1)[1] for line in result.stdout.splitlines() if "OVERLAP " in line]
    assert len(lines) == 2, result.stdout[-3000:]
    for found in map(json.loads, lines):
        for precision in ("fp32", "fp16"):
            probe = found[precision]
            # one op per gradient, none waiting for all of them
            assert probe["ops"] == ["HorovodAllreduce"] * probe["count"], probe
            assert probe["equal"], f"{precision}: the per-gradient allreduce changed the numbers"
