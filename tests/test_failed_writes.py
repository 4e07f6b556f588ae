"""A write that fails (here: a file over RLIMIT_FSIZE) stops with one line naming the path and the OS error,
keeps the previous complete output and removes the partial one: every writer of a run, then the scripts."""
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

from tests.training.pretraining_records import random_arrays, tiny_config, write_records

REPO = Path(__file__).resolve().parents[1]
LIMIT = 16_000
WRITERS = ["eval results", "predictions", "checkpoint", "best/", "TF1 export", "SavedModel", "Hugging Face export"]


def limited_files(limit=LIMIT):
    """preexec_fn: files of at most `limit` bytes; SIGXFSZ ignored, so a longer write fails with EFBIG."""
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    return apply


def run(args, limit=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          preexec_fn=limited_files(limit) if limit else None, timeout=600)


@pytest.fixture(scope="module")
def writers(tmp_path_factory):
    root = tmp_path_factory.mktemp("writers")
    result = run(["-m", "tests.failed_writes_child", str(root)])
    assert result.returncode == 0, result.stderr[-3000:]
    return {entry["writer"]: entry for entry in map(json.loads, result.stdout.splitlines())}


@pytest.mark.parametrize("writer", WRITERS)
def test_each_writer_names_the_path_keeps_the_previous_output_and_leaves_no_partial(writers, writer):
    entry = writers[writer]
    assert entry["error"] is not None, f"{writer}: a write past the limit succeeded"
    assert entry["error"]["type"] == "WriteError"
    assert entry["error"]["text"].startswith(f"could not write {entry['named']}: File too large"), entry["error"]
    assert entry["before"] != "absent" and entry["after"] == entry["before"], "the previous output changed"
    partial = [name for name in entry["left"] if name.startswith(".") or "tmp" in name or "_temp" in name
               or "ckpt-2" in name]
    assert partial == [], f"{writer} left {partial}"


def test_the_checkpoint_error_names_the_intact_checkpoint(writers):
    assert writers["checkpoint"]["error"]["text"].endswith(f"the previous checkpoint "
                                                           f"{Path(writers['checkpoint']['output']).parent}/ckpt-1 is intact")


@pytest.mark.slow
def test_run_pretraining_stops_on_a_failed_checkpoint_with_one_line_and_resumes_from_the_intact_one(tmp_path):
    write_records(tmp_path / "a.tfrecord", random_arrays(32, 16, 4, seed=1))
    out = tmp_path / "out"
    common = [str(REPO / "run_pretraining.py"), f"--input_file={tmp_path / 'a.tfrecord'}", f"--output_dir={out}",
              f"--bert_config_file={tiny_config(tmp_path / 'config.json')}", "--max_seq_length=16",
              "--max_predictions_per_seq=4", "--do_train", "--train_batch_size=4", "--num_warmup_steps=1",
              "--save_checkpoints_steps=2", "--log_every=2", "--deterministic"]
    assert run([*common, "--num_train_steps=2"]).returncode == 0
    failed = run([*common, "--num_train_steps=4"], limit=LIMIT)
    assert failed.returncode == 1, failed.stderr[-3000:]
    last = failed.stderr.strip().splitlines()[-1]
    assert last == (f"run_pretraining.py: error: could not write {out}/ckpt-4: File too large; "
                    f"the previous checkpoint {out}/ckpt-2 is intact"), failed.stderr[-3000:]
    assert "Traceback" not in failed.stderr
    assert tf.train.latest_checkpoint(str(out)).endswith("ckpt-2")
    assert sorted(p.name for p in out.iterdir() if "ckpt-4" in p.name) == []
    assert not list((out / "export").glob("model.ckpt-4*")), "no export after a failed checkpoint"
    again = run([*common, "--num_train_steps=4"])
    assert again.returncode == 0 and f"resuming from {out}/ckpt-2" in again.stderr, again.stderr[-3000:]


@pytest.mark.slow
def test_create_pretraining_data_keeps_the_previous_shard_when_a_write_fails(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [chr(c) for c in range(97, 123)]) + "\n")
    small, large = tmp_path / "small.txt", tmp_path / "large.txt"
    small.write_text("abc def ghi.\njkl mno pqr.\n\nstu vwx yz.\nabc jkl.\n")
    large.write_text(("abc def ghi jkl mno pqr stu vwx.\nyz abc def ghi.\n\n") * 400)
    output = tmp_path / "out" / "train.tfrecord"
    common = [str(REPO / "create_pretraining_data.py"), f"--output_file={output}", f"--vocab_file={vocab}",
              "--max_seq_length=32", "--dupe_factor=2"]
    first = run([*common, f"--input_file={small}"])
    assert first.returncode == 0, first.stderr[-3000:]
    before = output.read_bytes()
    failed = run([*common, f"--input_file={large}"], limit=LIMIT)
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert failed.stderr.strip().splitlines()[-1] == \
        f"create_pretraining_data: error: could not write {output}: File too large", failed.stderr[-3000:]
    assert "Traceback" not in failed.stderr
    assert output.read_bytes() == before
    assert sorted(p.name for p in output.parent.iterdir()) == ["train.tfrecord"]
