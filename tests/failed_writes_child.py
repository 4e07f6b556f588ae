"""Run by tests/test_failed_writes.py in a process of its own: every writer of a run, each first
writing a complete output, then again with files limited to LIMIT bytes (RLIMIT_FSIZE, with
SIGXFSZ ignored so that a write past it fails with EFBIG). Prints one JSON line per writer: the
error raised, the path it must name, the output before and after, and the files left in its folder."""
import hashlib
import json
import os
import resource
import signal
import sys
from pathlib import Path

import tensorflow as tf

from fileio.atomic import write_json, write_text
from modeling.task_models import NezhaForClassification
from modeling.checkpoints import save_tf1_model
from modeling.checkpoints.hf import save_hf_checkpoint
from tests.helpers import tiny_config
from training.checkpointing import CheckpointKeeper, save_best_weights
from training.finetune.export import export_saved_model

LIMIT = 16_000  # above every small file here, below the tiny model's weights


def fingerprint(path: Path) -> str:
    """A digest of everything under `path` (a file or a folder), or "absent"."""
    if not path.exists():
        return "absent"
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for name in files:
        digest.update(str(name.relative_to(path.parent)).encode() + name.read_bytes())
    return digest.hexdigest()


def attempt(name, folder: Path, output: Path, write, named=None):
    write(first=True)
    before = fingerprint(output)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.RLIM_INFINITY))
    try:
        write(first=False)
        error = None
    except Exception as raised:  # noqa: BLE001 - the test asserts on the type and text
        error = {"type": type(raised).__name__, "text": str(raised)}
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    print(json.dumps({"writer": name, "output": str(output), "named": str(named or output), "error": error, "before": before,
                      "after": fingerprint(output), "left": sorted(os.listdir(folder))}), flush=True)


def main(root: Path) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    model = NezhaForClassification(tiny_config(), num_labels=2)
    model.ensure_built()
    big = "x" * (2 * LIMIT)

    folder = root / "results"
    folder.mkdir()
    attempt("eval results", folder, folder / "eval_results.txt",
            lambda first: write_text(folder / "eval_results.txt", "acc = 1\n" if first else big))
    attempt("predictions", folder, folder / "predictions.json",
            lambda first: write_json(folder / "predictions.json", {"1": "a"} if first else {"1": big}))

    checkpoint = tf.train.Checkpoint(model=model)
    keeper = CheckpointKeeper(checkpoint, str(root / "run"), max_to_keep=5, is_chief=True)
    attempt("checkpoint", root / "run", root / "run" / "checkpoint",
            lambda first: keeper.save(1 if first else 2), named=root / "run" / "ckpt-2")

    attempt("best/", root, root / "best", lambda first: save_best_weights(model, str(root)))
    attempt("TF1 export", root / "export_parent", root / "export_parent" / "export",
            lambda first: save_tf1_model(model, root / "export_parent" / "export", "model.ckpt-1", overwrite=True))
    attempt("SavedModel", root / "saved_parent", root / "saved_parent" / "saved",
            lambda first: export_saved_model(model, str(root / "saved_parent" / "saved"), ["probabilities"]))
    attempt("Hugging Face export", root / "hf_parent", root / "hf_parent" / "hf",
            lambda first: save_hf_checkpoint(model, root / "hf_parent" / "hf", overwrite=True))


if __name__ == "__main__":
    root = Path(sys.argv[1])
    for parent in ("export_parent", "saved_parent", "hf_parent"):
        (root / parent).mkdir(parents=True, exist_ok=True)
    main(root)
