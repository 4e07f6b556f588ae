"""convert_checkpoint.py (and its alias `python -m modeling.convert`): flags in, files out, one-line errors."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file


def run_cli(repo_dir, *args, module=False):
    """convert_checkpoint.py with `args`; with module=True the same through `python -m modeling.convert`."""
    command = ["-m", "modeling.convert"] if module else [str(repo_dir / "convert_checkpoint.py")]
    return subprocess.run([sys.executable, *command, *args], cwd=repo_dir, capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def test_cli_hf_to_tf1_to_hf_gives_the_same_file(repo_dir, fixtures_dir, tmp_path):
    source = fixtures_dir / "hf_nezha_tiny" / "hf_model"
    if not source.is_dir():
        pytest.skip(f"{source} is absent")
    result = run_cli(repo_dir, f"--input={source}", f"--output={tmp_path / 'tf1'}", "--to=tf1")
    assert result.returncode == 0, result.stderr
    assert "converted a pretraining model (hf) to tf1" in result.stdout
    config = json.loads((tmp_path / "tf1" / "bert_config.json").read_text())
    assert config["hidden_act"] == "gelu_erf" and config["use_relative_position"] is True
    # the directory is movable: its `checkpoint` file names the checkpoint relatively
    shutil.move(tmp_path / "tf1", tmp_path / "moved")
    assert tf.train.latest_checkpoint(str(tmp_path / "moved")) == str(tmp_path / "moved" / "model.ckpt")

    result = run_cli(repo_dir, f"--input={tmp_path / 'moved'}", f"--output={tmp_path / 'hf'}", "--to=hf")
    assert result.returncode == 0, result.stderr
    original = load_file(str(source / "model.safetensors"))
    written = load_file(str(tmp_path / "hf" / "model.safetensors"))
    assert sorted(written) == sorted(original)
    for name in original:
        np.testing.assert_array_equal(written[name], original[name], err_msg=name)
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["hidden_act"] == "gelu"


def test_cli_explains_pytorch_pickles(repo_dir, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "config.json").write_text(json.dumps({"model_type": "nezha", "architectures": ["NezhaModel"]}))
    (tmp_path / "in" / "pytorch_model.bin").write_bytes(b"pickle")
    result = run_cli(repo_dir, f"--input={tmp_path / 'in'}", f"--output={tmp_path / 'out'}", "--to=tf1")
    assert result.returncode == 1
    assert "error:" in result.stderr and "safetensors" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("module", [False, True], ids=["script", "module_alias"])
def test_an_unreadable_checkpoint_is_a_one_line_error(repo_dir, tmp_path, module):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "model.ckpt.index").write_bytes(b"not a checkpoint index")
    (tmp_path / "in" / "checkpoint").write_text('model_checkpoint_path: "model.ckpt"\n')
    result = run_cli(repo_dir, f"--input={tmp_path / 'in'}", f"--output={tmp_path / 'out'}", "--to=hf",
                     module=module)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"error: cannot read checkpoint {tmp_path / 'in' / 'model.ckpt'}" in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_module_alias_takes_the_same_flags(repo_dir, tmp_path):
    result = run_cli(repo_dir, f"--input={tmp_path / 'absent'}", f"--output={tmp_path / 'out'}", "--to=tf1",
                     module=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "absent" in result.stderr and "error:" in result.stderr
    result = run_cli(repo_dir, "--to=onnx", module=True)
    assert result.returncode != 0 and "--to" in result.stderr
