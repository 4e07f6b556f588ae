"""run_pretraining.py --dynamic_masking end to end: training on unmasked records, an exact resume with
gradient accumulation, Horovod, and the errors for missing or mismatched inputs."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.training.pretraining_records import tiny_config  # noqa: E402

from data.generation.config import GeneratorConfig  # noqa: E402
from data.generation.generator import generate  # noqa: E402
from training.pretraining import PretrainingOptions, run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SEQ, PREDS = 32, 5


@pytest.fixture(scope="module")
def dynamic_data(tmp_path_factory):
    """Unmasked records of a toy corpus in two files, its vocabulary and a tiny config."""
    directory = tmp_path_factory.mktemp("dynamic_run")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "x", "y", "z", "##s"] + [f"d{k}" for k in range(40)]
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(words) + "\n", encoding="utf-8")
    lines = []
    for k in range(40):
        lines += [f"d{k} xs y z", "x ys x y zs", "z z x y x", ""]
    corpus = directory / "corpus.txt"
    corpus.write_text("\n".join(lines), encoding="utf-8")
    config = GeneratorConfig(max_seq_length=SEQ, dupe_factor=1, do_whole_word_mask=True, dynamic_masking=True)
    outputs = [str(directory / f"part{i}.tfrecord") for i in range(2)]
    generate(str(corpus), outputs, str(vocab), None, True, config, 3, show_progress=False)
    return directory, str(vocab), tiny_config(directory / "config.json", vocab=len(words), seq=SEQ)


def dynamic_options(data, output_dir, **overrides):
    directory, vocab, config = data
    values = dict(input_file=str(directory / "part*.tfrecord"), output_dir=str(output_dir), bert_config_file=config,
                  max_seq_length=SEQ, max_predictions_per_seq=PREDS, do_train=True, train_batch_size=4,
                  learning_rate=1e-2, num_train_steps=4, num_warmup_steps=1, save_checkpoints_steps=2, log_every=1,
                  deterministic=True, dynamic_masking=True, vocab_file=vocab, masked_lm_prob=0.2)
    values.update(overrides)
    return PretrainingOptions(**values)


def exported(output_dir, step):
    reader = tf.train.load_checkpoint(str(Path(output_dir) / "export" / f"model.ckpt-{step}"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def test_resumed_run_continues_the_mask_stream_with_accumulation(dynamic_data, tmp_path):
    """Resumed from the step-2 checkpoint of a 4-update run (2 micro-batches each): the same weights
    as without the stop, which needs the resumed run to draw exactly the masks the uninterrupted
    one drew for updates 3 and 4 (it skips the 4 consumed micro-batches)."""
    full = run(dynamic_options(dynamic_data, tmp_path / "full", num_accumulation_steps=2, do_eval=True,
                               eval_batch_size=8, max_eval_steps=2))
    assert full["train"].step == 4 and np.isfinite(full["train"].last_scalars["mlm_loss"])
    # The toy corpus is mostly x, y, z: 4 updates must lift the masked-LM above an untrained model's
    # chance (1 in 49 ids, loss ln 49 for its near-uniform start); 0.17 and 3.79 when written.
    vocab_size = len(Path(dynamic_data[1]).read_text(encoding="utf-8").split())
    assert full["eval"]["masked_lm_accuracy"] > 0.1, full["eval"]
    assert full["eval"]["masked_lm_loss"] < np.log(vocab_size) - 0.05, full["eval"]
    # The run as it was when stopped after update 2 (its checkpoint; same learning-rate schedule).
    (tmp_path / "resumed").mkdir()
    for path in (tmp_path / "full").glob("ckpt-2.*"):
        shutil.copy(path, tmp_path / "resumed" / path.name)
    tf.compat.v1.train.update_checkpoint_state(str(tmp_path / "resumed"), "ckpt-2")
    resumed = run(dynamic_options(dynamic_data, tmp_path / "resumed", num_accumulation_steps=2))
    assert resumed["train"].resumed_from.endswith("ckpt-2")
    a, b = exported(tmp_path / "full", 4), exported(tmp_path / "resumed", 4)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-6, err_msg=name)
    # Another seed draws other masks (and initialises otherwise): other weights.
    other = run(dynamic_options(dynamic_data, tmp_path / "other", num_accumulation_steps=2, seed=99))
    assert other["train"].step == 4
    assert any(not np.allclose(a[n], v) for n, v in exported(tmp_path / "other", 4).items())


def script(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, str(REPO / "run_pretraining.py"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def test_script_errors_for_a_missing_vocabulary_and_mixed_up_records(dynamic_data, shared_dir, tmp_path):
    directory, vocab, config = dynamic_data
    common = [f"--bert_config_file={config}", f"--output_dir={tmp_path / 'out'}", f"--max_seq_length={SEQ}",
              f"--max_predictions_per_seq={PREDS}", "--do_train", "--num_train_steps=1", "--num_warmup_steps=0"]
    result = script(f"--input_file={directory / 'part*.tfrecord'}", "--dynamic_masking", *common)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "--dynamic_masking needs --vocab_file" in result.stderr.strip().splitlines()[-1]
    result = script(f"--input_file={directory / 'part*.tfrecord'}", *common)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "holds unmasked records" in result.stderr and "train with --dynamic_masking" in result.stderr


def _horovodrun():
    pytest.importorskip("horovod.tensorflow")
    runner = shutil.which("horovodrun") or str(Path(sys.executable).parent / "horovodrun")
    if not Path(runner).exists():
        pytest.skip("horovodrun is not installed")
    return runner


@pytest.mark.slow
@pytest.mark.horovod
def test_horovod_ranks_mask_their_own_files(dynamic_data, tmp_path):
    """Two ranks, each with its share of every file, with accumulation: the dynamic pipeline runs under
    Horovod. (Which
    masks a rank draws is tested without Horovod: tests/data/test_dynamic_masking.py, shards.)"""
    runner = _horovodrun()
    directory, vocab, config = dynamic_data
    args = [f"--input_file={directory / 'part*.tfrecord'}", f"--output_dir={tmp_path / 'hvd'}",
            f"--bert_config_file={config}", f"--max_seq_length={SEQ}", f"--max_predictions_per_seq={PREDS}",
            "--do_train", "--num_train_steps=3", "--num_warmup_steps=1", "--train_batch_size=4", "--log_every=1",
            "--save_checkpoints_steps=3", "--deterministic", "--dynamic_masking", f"--vocab_file={vocab}",
            "--horovod", "--num_accumulation_steps=2"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([runner, "-np", "2", "-H", "localhost:2", "--gloo", sys.executable,
                             str(REPO / "run_pretraining.py"), *args],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert tf.train.latest_checkpoint(str(tmp_path / "hvd")).endswith("ckpt-3")
