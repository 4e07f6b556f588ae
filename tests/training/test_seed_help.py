"""training/flags.py: --seed's help says what the seed makes reproducible and what it does not."""
import subprocess
import sys

import pytest

HELP_OF_SEED = """
import importlib, sys
from absl import flags
importlib.import_module(sys.argv[1])
print(flags.FLAGS['seed'].help)
"""


@pytest.mark.parametrize("script", ["run_pretraining", "run_clf"])
def test_seed_help_names_what_stays_unreproducible(repo_dir, script):
    result = subprocess.run([sys.executable, "-c", HELP_OF_SEED, script], cwd=repo_dir, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for needed in ("Not made reproducible", "resume", "threads", "GPU", "--deterministic", "processes"):
        assert needed in text, f"{script} --seed help does not mention {needed!r}: {text}"
