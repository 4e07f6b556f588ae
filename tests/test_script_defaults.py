"""Each training script's flag defaults are the original's, script by script (issue 28's table and the
original's other flags): a command line moved from the original makes the same run."""
import json
import subprocess
import sys

import pytest

# The flags each script defines, as absl sees them after importing the script.
DEFAULTS_OF_SCRIPT = """
import importlib, json, sys
from absl import flags
importlib.import_module(sys.argv[1])
print(json.dumps({name: flags.FLAGS[name].default for name in flags.FLAGS}))
"""

FINE_TUNING = {"learning_rate": 3e-5, "max_seq_length": 128, "train_batch_size": 32, "eval_batch_size": 8,
               "predict_batch_size": 8, "do_lower_case": True, "num_train_epochs": 3.0, "warmup_proportion": 0.1}

# Copied from the original's files (run_classifier.py, run_classifier_ner.py, run_squad.py, run_pretraining.py).
ORIGINAL_DEFAULTS = {
    "run_clf": {**FINE_TUNING, "save_checkpoints_steps": 100},
    "run_seq_labelling": {**FINE_TUNING, "save_checkpoints_steps": 1000},
    "run_reading": {"learning_rate": 3e-5, "save_checkpoints_steps": 1000, "max_seq_length": 384,
                    "train_batch_size": 32, "predict_batch_size": 8, "do_lower_case": False,
                    "num_train_epochs": 3.0, "warmup_proportion": 0.1, "doc_stride": 128,
                    "max_query_length": 64, "n_best_size": 20, "max_answer_length": 30, "seed": 12345},
    "run_pretraining": {"learning_rate": 5e-5, "save_checkpoints_steps": 1000, "max_seq_length": 128,
                        "train_batch_size": 32, "eval_batch_size": 8, "report_loss": False,
                        "max_predictions_per_seq": 20, "num_train_steps": 100000, "num_warmup_steps": 10000,
                        "max_eval_steps": 100, "optimizer": "lamb"},
}


@pytest.mark.parametrize("script", sorted(ORIGINAL_DEFAULTS))
def test_each_script_defaults_to_the_originals_values(repo_dir, script):
    result = subprocess.run([sys.executable, "-c", DEFAULTS_OF_SCRIPT, script], cwd=repo_dir, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    defaults = json.loads(result.stdout.strip().splitlines()[-1])
    expected = ORIGINAL_DEFAULTS[script]
    assert {name: defaults.get(name) for name in expected} == expected
