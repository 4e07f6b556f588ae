"""Does --use_bf16 pretrain as well as float32? The demo (scripts/demo.sh: its corpus, vocabulary,
records and tiny NEZHA) run twice for the same number of steps with the same seed, once in float32
and once with --use_bf16; one JSON line with each run's evaluation (masked-LM loss and accuracy,
next-sentence loss) and its last logged training loss, and the relative gap of the masked-LM loss.

    .venv/bin/python benchmarks/bf16_quality.py --steps=300

Quality, not speed: no timing is compared here (benchmarks/compare_original.py times the step).
"""
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 300, "Training steps of each run (the demo's own default is 2500).")
flags.DEFINE_string("work_dir", None, "Where the two demo outputs go (default: a temporary directory, removed).")


def eval_results(path: Path) -> dict:
    """eval_results.txt's `key = value` lines."""
    results = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" = ")
        if value:
            results[key.strip()] = float(value)
    return results


def last_training_loss(log: str) -> float:
    losses = re.findall(r"step =\s+\d+.*?total_loss = ([0-9.]+)", log)
    if not losses:
        raise SystemExit("no 'total_loss' in the demo's log")
    return float(losses[-1])


def run_demo(out_dir: Path, extra_flags: str) -> dict:
    env = dict(os.environ, DEMO_STEPS=str(FLAGS.steps), DEMO_OUTPUT=str(out_dir), DEMO_TRAIN_FLAGS=extra_flags,
               PY=sys.executable)
    completed = subprocess.run(["bash", str(common.REPO / "scripts" / "demo.sh")], cwd=common.REPO, env=env,
                               capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"demo.sh {extra_flags or '(float32)'} failed:\n{completed.stderr[-3000:]}")
    results = eval_results(out_dir / "pretrain" / "eval_results.txt")
    results["last_training_total_loss"] = last_training_loss((out_dir / "pretrain.log").read_text())
    return results


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(FLAGS.work_dir or scratch)
        fp32 = run_demo(work / "fp32", "")
        bf16 = run_demo(work / "bf16", "--use_bf16")
    gap = (bf16["masked_lm_loss"] - fp32["masked_lm_loss"]) / fp32["masked_lm_loss"]
    common.emit({"name": "bf16_quality", "steps": FLAGS.steps, "float32": fp32, "bf16": bf16,
                 "masked_lm_loss_relative_gap": round(gap, 4), "within_2_percent": abs(gap) <= 0.02})


if __name__ == "__main__":
    app.run(main)
