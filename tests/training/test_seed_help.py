"""training/flags.py: --seed's and --deterministic's help say what they make reproducible and what they do not."""
import ast
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


def defined_help(repo_dir, name):
    """The help `name` is defined with in training/flags.py, read from the source: defining the flags
    here would clash with any other test that defines them, and a process per test is slow."""
    tree = ast.parse((repo_dir / "training" / "flags.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", "").startswith("DEFINE_") and node.args
                and isinstance(node.args[0], ast.Constant) and node.args[0].value == name):
            return ast.literal_eval(node.args[2] if len(node.args) > 2 else
                                    next(k.value for k in node.keywords if k.arg == "help"))
    raise AssertionError(f"training/flags.py defines no --{name}")


def test_deterministic_help_names_what_still_varies_on_gpus(repo_dir):
    text = " ".join(defined_help(repo_dir, "deterministic").split())
    # what it does on GPUs, and each source of variation it cannot remove
    for needed in ("enable_op_determinism", "UnimplementedError", "Still not reproducible on GPUs", "XLA's autotuning",
                   "other hardware, drivers, CUDA or TensorFlow versions", "another number of processes or GPUs",
                   "allreduce over more than two processes", "Horovod", "dropout after a resume"):
        assert needed in text, f"--deterministic help does not mention {needed!r}: {text}"
