"""run_pretraining.py end to end: flags, bad input, resume after SIGKILL or SIGTERM, original records, Horovod."""
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.training.pretraining_records import random_arrays, tiny_config, write_records  # noqa: E402

from compat.stack import STACK  # noqa: E402
from tests.script_probe import modules_after_script  # noqa: E402
from training.pretraining import PretrainingOptions, PretrainingRun, run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SEQ, PREDS = 16, 4


@pytest.fixture
def small_data(tmp_path):
    write_records(tmp_path / "a.tfrecord", random_arrays(32, SEQ, PREDS, seed=1))
    write_records(tmp_path / "b.tfrecord", random_arrays(32, SEQ, PREDS, seed=2))
    return tmp_path


def options(data_dir, **overrides):
    if "bert_config_file" not in overrides:
        overrides["bert_config_file"] = tiny_config(data_dir / "config.json")
    values = dict(input_file=str(data_dir / "*.tfrecord"), output_dir=str(data_dir / "out"), max_seq_length=SEQ,
                  max_predictions_per_seq=PREDS, do_train=True, train_batch_size=4, learning_rate=1e-2,
                  num_train_steps=4, num_warmup_steps=1, save_checkpoints_steps=2, log_every=2, deterministic=True)
    values.update(overrides)
    return PretrainingOptions(**values)


def script(*args, env_extra=None, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", **(env_extra or {}))
    return subprocess.run([PYTHON, str(REPO / "run_pretraining.py"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, **kwargs)


def flags_of(opts):
    out = []
    for name, value in vars(opts).items():
        if isinstance(value, bool):
            out.append(f"--{name}" if value else f"--no{name}")
        elif value is not None and name not in ("seed", "relative_attention"):
            out.append(f"--{name}={value}")
    return out


def exported(output_dir, step):
    reader = tf.train.load_checkpoint(str(Path(output_dir) / "export" / f"model.ckpt-{step}"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def logged_scalars(output_dir, name="total_loss"):
    """{step: value} of a scalar the chief wrote to output_dir/train's event files."""
    values = {}
    for path in sorted((Path(output_dir) / "train").glob("events.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == name:
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return values


def assert_same_logged_loss(two_dir, one_dir, steps):
    """The loss logged by several processes is the mean over all of them, as one process at the
    whole batch logs it (rank 0's own loss would differ: its batch is half of it)."""
    two, one = logged_scalars(two_dir), logged_scalars(one_dir)
    assert sorted(two) == sorted(one) == list(range(1, steps + 1))
    for step in one:
        np.testing.assert_allclose(two[step], one[step], atol=1e-5, err_msg=f"total_loss at step {step}")


def assert_same_weights(a, b, atol):
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=atol, err_msg=name)


# -- whole runs -----------------------------------------------------------------------------
@pytest.mark.slow
def test_script_trains_evaluates_and_exports(tmp_path):
    # Learnable records: 80% of the masked-LM labels are one id, so 4 updates must move the model
    # from chance (1 in 50, loss ln 50 for its near-uniform start) towards always predicting it.
    for name, seed in (("a", 1), ("b", 2)):
        arrays = random_arrays(32, SEQ, PREDS, seed=seed)
        dominant = np.random.RandomState(seed).rand(*arrays["masked_lm_ids"].shape) < 0.8
        arrays["masked_lm_ids"] = np.where(dominant, 7, arrays["masked_lm_ids"])
        write_records(tmp_path / f"{name}.tfrecord", arrays)
    opts = options(tmp_path, do_eval=True, max_eval_steps=3, eval_batch_size=8, report_loss=True)
    result = script(*flags_of(opts))
    assert result.returncode == 0, result.stderr[-3000:]
    out = Path(opts.output_dir)
    assert tf.train.latest_checkpoint(str(out)).endswith("ckpt-4")
    assert (out / "export" / "bert_config.json").exists()
    weights = exported(out, 4)
    assert "bert/encoder/layer_1/attention/self/query/kernel" in weights
    results = dict(line.split(" = ") for line in (out / "eval_results.txt").read_text().splitlines())
    assert set(results) >= {"masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy", "next_sentence_loss"}
    assert float(results["masked_lm_accuracy"]) > 0.25, results  # chance: 0.02 (0.42 when written)
    assert float(results["masked_lm_loss"]) < np.log(50) - 0.05, results  # 3.80 when written
    assert "step =      4" in result.stderr and "mlm_loss" in result.stderr and "loss_scale" in result.stderr
    assert "masked_lm_accuracy = " in result.stderr, "the accuracy is logged beside the loss"


def test_original_generator_records_train(shared_dir, tmp_path):
    toy = shared_dir / "data" / "pretrain_toy"
    if not toy.is_dir():
        pytest.skip(f"{toy} is absent")
    config = tiny_config(tmp_path / "config.json", vocab=30522, seq=128)
    summary = run(PretrainingOptions(input_file=f"{toy}/*.tfrecord", output_dir=str(tmp_path / "out"),
                                     bert_config_file=config, max_seq_length=128, max_predictions_per_seq=20,
                                     do_train=True, train_batch_size=4, learning_rate=1e-3, num_train_steps=2,
                                     num_warmup_steps=1, log_every=1))
    assert summary["train"].step == 2
    assert np.isfinite(summary["train"].last_scalars["total_loss"])


@pytest.mark.slow
def test_sigkill_then_rerun_ends_like_an_uninterrupted_run(tmp_path):
    write_records(tmp_path / "a.tfrecord", random_arrays(64, 64, 8, vocab=200, seed=3))
    steps = 120
    common = dict(bert_config_file=tiny_config(tmp_path / "config200.json", vocab=200), max_seq_length=64,
                  max_predictions_per_seq=8, train_batch_size=16, num_train_steps=steps,
                  save_checkpoints_steps=10, log_every=10, input_file=str(tmp_path / "a.tfrecord"))
    full = options(tmp_path, output_dir=str(tmp_path / "full"), **common)
    assert script(*flags_of(full)).returncode == 0
    killed = options(tmp_path, output_dir=str(tmp_path / "killed"), **common)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    process = subprocess.Popen([PYTHON, str(REPO / "run_pretraining.py"), *flags_of(killed)], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and process.poll() is None:
            latest = tf.train.latest_checkpoint(killed.output_dir)
            if latest is not None:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    at_kill = int(tf.train.latest_checkpoint(killed.output_dir).rsplit("-", 1)[1])
    assert at_kill < steps
    rerun = script(*flags_of(killed))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resuming from" in rerun.stderr
    assert_same_weights(exported(full.output_dir, steps), exported(killed.output_dir, steps), atol=1e-6)


@pytest.mark.slow
def test_sigterm_saves_exits_75_and_the_resumed_run_ends_like_an_uninterrupted_run(tmp_path):
    write_records(tmp_path / "a.tfrecord", random_arrays(64, SEQ, PREDS, seed=3))
    steps = 40
    common = dict(num_train_steps=steps, save_checkpoints_steps=1000, log_every=5, input_file=str(tmp_path / "a.tfrecord"))
    full = options(tmp_path, output_dir=str(tmp_path / "full"), **common)
    assert script(*flags_of(full)).returncode == 0
    stopped = options(tmp_path, output_dir=str(tmp_path / "stopped"), **common)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    process = subprocess.Popen([PYTHON, str(REPO / "run_pretraining.py"), *flags_of(stopped)], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stderr:  # the progress line of step 10 (of 40): the run is mid-way
        seen.append(line)
        if "step =     10" in line:
            process.send_signal(signal.SIGTERM)
            break
    rest = process.communicate(timeout=300)[1]
    assert process.returncode == 75, "".join(seen)[-2000:] + rest[-2000:]
    assert "run_pretraining.py: preempted by SIGTERM at step " in rest and "Traceback" not in rest, rest[-2000:]
    at_stop = int(tf.train.latest_checkpoint(stopped.output_dir).rsplit("-", 1)[1])
    assert 10 <= at_stop < steps, "a checkpoint of the step it stopped at, not of the end"
    assert not (Path(stopped.output_dir) / "export").exists(), "a preempted run exports nothing"
    rerun = script(*flags_of(stopped))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resuming from {stopped.output_dir}/ckpt-{at_stop}" in rerun.stderr
    assert_same_weights(exported(full.output_dir, steps), exported(stopped.output_dir, steps), atol=1e-6)


# -- bad input ------------------------------------------------------------------------------
def test_no_matching_input_file_is_a_clear_error(small_data):
    with pytest.raises(ValueError, match=r"no file matches --input_file=.*nothing\*"):
        run(options(small_data, input_file=str(small_data / "nothing*")))


def test_record_lengths_must_match_the_flags(small_data):
    with pytest.raises(ValueError, match=r"a.tfrecord: record 0 has input_ids of length 16, but --max_seq_length is 32"):
        run(options(small_data, max_seq_length=32))
    with pytest.raises(ValueError, match=r"masked_lm_positions of length 4, but --max_predictions_per_seq is 5"):
        run(options(small_data, max_predictions_per_seq=5))


def _write_with_short_third_record(path, feature, length):
    """Well-formed records except the third (index 2), whose `feature` is cut to `length` values."""
    arrays = random_arrays(12, SEQ, PREDS, seed=3)
    rows = [{name: np.asarray(values[i]).reshape(-1) for name, values in arrays.items()} for i in range(12)]
    rows[2][feature] = rows[2][feature][:length]
    with tf.io.TFRecordWriter(str(path)) as writer:
        for row in rows:
            feature_map = {
                name: tf.train.Feature(float_list=tf.train.FloatList(value=values)) if name == "masked_lm_weights"
                else tf.train.Feature(int64_list=tf.train.Int64List(value=values.astype(np.int64)))
                for name, values in row.items()}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature_map)).SerializeToString())


@pytest.mark.parametrize("deterministic", [True, False])
@pytest.mark.parametrize("feature,length,flag", [("input_ids", 11, "--max_seq_length is 16"),
                                                 ("masked_lm_weights", 2, "--max_predictions_per_seq is 4")])
def test_a_bad_record_anywhere_in_a_file_is_named(tmp_path, deterministic, feature, length, flag):
    _write_with_short_third_record(tmp_path / "bad.tfrecord", feature, length)
    expected = (rf"bad.tfrecord: record 2 \(counting from 0\) has {feature} of length {length}, but {flag}")
    with pytest.raises(ValueError, match=expected):
        run(options(tmp_path, input_file=str(tmp_path / "bad.tfrecord"), deterministic=deterministic))


def test_a_bad_record_in_evaluation_data_is_named(tmp_path):
    _write_with_short_third_record(tmp_path / "bad.tfrecord", "segment_ids", 9)
    with pytest.raises(ValueError, match=r"bad evaluation data: .*bad.tfrecord: record 2 \(counting from 0\) "
                                         r"has segment_ids of length 9, but --max_seq_length is 16"):
        run(options(tmp_path, input_file=str(tmp_path / "bad.tfrecord"), do_train=False, do_eval=True,
                    eval_batch_size=4))


def _flip_a_byte_in_the_middle(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("deterministic", [True, False])
def test_a_corrupt_record_is_named_by_file_and_byte(small_data, deterministic):
    _flip_a_byte_in_the_middle(small_data / "b.tfrecord")
    with pytest.raises(ValueError) as raised:
        run(options(small_data, deterministic=deterministic, num_train_steps=40))
    message = str(raised.value)
    assert re.fullmatch(r"bad training data at step \d+: " + re.escape(str(small_data / "b.tfrecord")) +
                        r": corrupt record at byte \d+: its (data|length field) does not match its CRC \(damaged "
                        r"bytes\) \(--skip_corrupt_records skips such records, counting them in the log\)", message)


def test_skip_corrupt_records_trains_past_them_and_counts_them(small_data, caplog):
    _flip_a_byte_in_the_middle(small_data / "b.tfrecord")
    with caplog.at_level(logging.INFO):
        summary = run(options(small_data, num_train_steps=40, skip_corrupt_records=True, save_checkpoints_steps=20,
                              do_eval=True, eval_batch_size=4, max_eval_steps=100))
    assert summary["train"] is not None and summary["eval"]["global_step"] == 40
    assert "--skip_corrupt_records: 1 corrupt record(s) in 1 of 2 input file(s)" in caplog.text
    assert f"{small_data / 'b.tfrecord'}: skipping the corrupt record at byte" in caplog.text


@pytest.mark.slow
def test_script_names_a_corrupt_record_without_a_traceback(small_data):
    _flip_a_byte_in_the_middle(small_data / "b.tfrecord")
    result = script(*flags_of(options(small_data, num_train_steps=40)))
    assert result.returncode == 1
    assert "run_pretraining.py: error: bad training data at step " in result.stderr
    assert f"{small_data / 'b.tfrecord'}: corrupt record at byte " in result.stderr
    assert "Traceback" not in result.stderr and "function_node" not in result.stderr


def test_vocab_smaller_than_an_id_in_the_first_record_is_named_at_start_up(small_data):
    # On a GPU such an id would read a row of zeros: the first record of each file is checked
    # before the model is built, every later batch as it is read (the next test).
    tiny_config(small_data / "small_vocab.json", vocab=20)
    first = random_arrays(32, SEQ, PREDS, seed=1)
    largest = max(first["input_ids"][0].max(), first["masked_lm_ids"][0].max())
    assert largest >= 20
    with pytest.raises(ValueError, match=rf"a.tfrecord: record 0 holds token id {largest}, but the model config's "
                                         r"vocab_size is 20"):
        run(options(small_data, bert_config_file=str(small_data / "small_vocab.json")))


def test_vocab_smaller_than_an_id_in_the_data_is_a_clear_error(tmp_path):
    arrays = random_arrays(32, SEQ, PREDS, seed=1)
    arrays["input_ids"][0] = np.minimum(arrays["input_ids"][0], 19)  # record 0 fits, record 1 does not
    arrays["masked_lm_ids"][0] = np.minimum(arrays["masked_lm_ids"][0], 19)
    arrays["input_ids"][1, 3] = 49
    arrays["input_ids"][1:] = np.minimum(arrays["input_ids"][1:], 49)
    write_records(tmp_path / "a.tfrecord", arrays)
    tiny_config(tmp_path / "small_vocab.json", vocab=20)
    with pytest.raises(ValueError, match=r"token id >= vocab_size 20 of the model config.*Largest id: 49"):
        run(options(tmp_path, bert_config_file=str(tmp_path / "small_vocab.json")))


@pytest.mark.parametrize("mode", ["do_train", "do_eval"])
def test_sentence_pairs_with_one_segment_type_are_named_at_start_up(small_data, mode):
    # The records are pairs (segment id 1): a token-type table of one row would read zeros for
    # every second sentence on a GPU, so the config is refused before a step runs.
    from tests.helpers import smallest_config, write_config
    config = write_config(smallest_config(vocab_size=50, num_hidden_layers=2, type_vocab_size=1),
                          small_data / "one_segment.json")
    with pytest.raises(ValueError, match=r"a.tfrecord: record 0 has segment id 1, but the model config's "
                                         r"type_vocab_size is 1 \(sentence pairs need at least 2\)"):
        run(options(small_data, bert_config_file=config, do_train=mode == "do_train", do_eval=mode == "do_eval"))


def test_start_up_builds_the_training_data_once(small_data, monkeypatch):
    import data.input.pretraining_dataset as pipeline
    read, built = [], []
    first_example, make = pipeline.first_example, PretrainingRun.train_dataset
    monkeypatch.setattr(pipeline, "first_example", lambda path: read.append(path) or first_example(path))
    monkeypatch.setattr(PretrainingRun, "train_dataset", lambda job, consumed=0: built.append(consumed) or
                        make(job, consumed))
    PretrainingRun(options(small_data)).train()
    assert built == [0]
    assert sorted(read) == [str(small_data / "a.tfrecord"), str(small_data / "b.tfrecord")], \
        "the first record of each file is read once"


def test_a_vocabulary_larger_than_the_config_is_named_at_start_up(small_data):
    tiny_config(small_data / "config.json")
    vocab = small_data / "vocab.txt"
    vocab.write_text("".join(f"token{i}\n" for i in range(120)))
    with pytest.raises(ValueError, match=r"config.json is too small for the data: the vocabulary .*vocab.txt has 120 "
                                         r"tokens but vocab_size is \d+"):
        run(options(small_data, vocab_file=str(vocab)))


def test_nan_loss_stops_naming_the_step_and_last_checkpoint(small_data):
    with pytest.raises(RuntimeError, match=r"the loss became nan at step \d+; last good checkpoint: .*ckpt-\d+"):
        run(options(small_data, learning_rate=1e35, num_train_steps=50, save_checkpoints_steps=1))


def test_unwritable_output_dir_is_a_clear_error(small_data):
    (small_data / "blocker").write_text("a file, not a directory")
    with pytest.raises(RuntimeError, match="output directory .*blocker/out is not writable"):
        run(options(small_data, output_dir=str(small_data / "blocker" / "out")))


@pytest.mark.slow
def test_script_reports_bad_input_without_a_traceback(small_data):
    result = script(*flags_of(options(small_data, input_file=str(small_data / "missing*"))))
    assert result.returncode == 1
    assert "run_pretraining.py: error: no file matches --input_file" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_script_names_a_bad_later_record_without_a_traceback(tmp_path):
    _write_with_short_third_record(tmp_path / "bad.tfrecord", "input_ids", 11)
    result = script(*flags_of(options(tmp_path, input_file=str(tmp_path / "bad.tfrecord"))))
    assert result.returncode == 1
    assert ("run_pretraining.py: error: bad training data at step 0: " + str(tmp_path / "bad.tfrecord") +
            ": record 2 (counting from 0) has input_ids of length 11, but --max_seq_length is 16") in result.stderr
    assert "Traceback" not in result.stderr


# -- Horovod ------------------------------------------------------------------------------
def _horovodrun():
    try:
        import horovod.tensorflow  # noqa: F401
    except ImportError as error:
        pytest.skip(f"horovod is not importable ({error}); scripts/install.sh builds it with Gloo")
    runner = Path(PYTHON).parent / "horovodrun"
    if not runner.exists():
        pytest.skip(f"{runner} is absent: horovod's launcher is needed for this test")
    return str(runner)


@pytest.mark.slow
@pytest.mark.horovod
@pytest.mark.parametrize("accumulation", [1, 2])
def test_two_processes_equal_one_process_with_twice_the_batch(tmp_path, accumulation):
    runner = _horovodrun()
    b, steps, lr = 2, 3, 1e-2
    per_update = b * accumulation
    a = random_arrays(per_update * steps, SEQ, PREDS, seed=5)
    c = random_arrays(per_update * steps, SEQ, PREDS, seed=6)
    # Rank r reads the records of index r modulo 2: one file, a's and c's rows alternating.
    write_records(tmp_path / "ranks.tfrecord", {name: np.stack([a[name], c[name]], axis=1).reshape(
        -1, *a[name].shape[1:]) for name in a})
    # One process sees, micro-batch by micro-batch, what the two ranks see together.
    merged = {name: np.concatenate([np.concatenate([a[name][i:i + b], c[name][i:i + b]])
                                    for i in range(0, per_update * steps, b)]) for name in a}
    write_records(tmp_path / "single.tfrecord", merged)
    config = tiny_config(tmp_path / "config.json")
    common = dict(bert_config_file=config, num_train_steps=steps, save_checkpoints_steps=steps,
                  num_accumulation_steps=accumulation, num_warmup_steps=1, log_every=1)
    two = options(tmp_path, input_file=str(tmp_path / "ranks.tfrecord"), output_dir=str(tmp_path / "two"),
                  train_batch_size=b, learning_rate=lr, horovod=True, **common)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([runner, "-np", "2", "-H", "localhost:2", "--gloo", PYTHON,
                             str(REPO / "run_pretraining.py"), *flags_of(two)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    # Horovod multiplies the learning rate by the 2 processes: the single run uses 2 x lr itself.
    one = options(tmp_path, input_file=str(tmp_path / "single.tfrecord"), output_dir=str(tmp_path / "one"),
                  train_batch_size=2 * b, learning_rate=2 * lr, **common)
    single = script(*flags_of(one))
    assert single.returncode == 0, single.stderr[-3000:]
    two_weights, one_weights = exported(two.output_dir, steps), exported(one.output_dir, steps)
    assert_same_weights(two_weights, one_weights, atol=1e-5)
    assert len(os.listdir(tmp_path / "two" / "train")) == 1, "one event file: only rank 0 writes summaries"
    assert_same_logged_loss(two.output_dir, one.output_dir, steps)


@pytest.mark.slow
@pytest.mark.horovod
def test_ranks_that_start_apart_train_from_rank_0s_weights(tmp_path):
    """Each rank initialises from its own seed: only the broadcast can make them agree."""
    runner = _horovodrun()
    b, steps, lr = 2, 2, 1e-2
    a, c = random_arrays(b * steps, SEQ, PREDS, seed=7), random_arrays(b * steps, SEQ, PREDS, seed=8)
    # Rank r reads the records of index r modulo 2: one file, a's and c's rows alternating.
    write_records(tmp_path / "ranks.tfrecord", {name: np.stack([a[name], c[name]], axis=1).reshape(
        -1, *a[name].shape[1:]) for name in a})
    merged = {name: np.concatenate([np.concatenate([a[name][i:i + b], c[name][i:i + b]])
                                    for i in range(0, b * steps, b)]) for name in a}
    write_records(tmp_path / "single.tfrecord", merged)
    common = dict(bert_config_file=tiny_config(tmp_path / "config.json"), num_train_steps=steps,
                  save_checkpoints_steps=steps, num_warmup_steps=1, seed=100)
    two = options(tmp_path, input_file=str(tmp_path / "ranks.tfrecord"), output_dir=str(tmp_path / "two"),
                  train_batch_size=b, learning_rate=lr, horovod=True, **common)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(REPO))
    result = subprocess.run([runner, "-np", "2", "-H", "localhost:2", "--gloo", PYTHON,
                             str(REPO / "tests" / "training" / "rank_seeded_pretraining.py"),
                             json.dumps(vars(two)), str(tmp_path)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    start = [dict(np.load(tmp_path / f"start{rank}.npz")) for rank in (0, 1)]
    end = [dict(np.load(tmp_path / f"end{rank}.npz")) for rank in (0, 1)]
    kernel = "bert/encoder/layer_0/attention/self/query/kernel"
    assert not np.allclose(start[0][kernel], start[1][kernel]), "the ranks must start from different weights"
    assert_same_weights(end[0], end[1], atol=0)
    # rank 0's start plus the update averaged over both ranks' batches: one process, seed 100, batch 2b
    one = options(tmp_path, input_file=str(tmp_path / "single.tfrecord"), output_dir=str(tmp_path / "one"),
                  train_batch_size=2 * b, learning_rate=2 * lr, **common)
    job = PretrainingRun(one)
    np.testing.assert_array_equal(job.model.tf1_variables()[kernel].numpy(), start[0][kernel])
    job.train()
    assert_same_weights(end[0], {name: v.numpy() for name, v in job.model.tf1_variables().items()}, atol=1e-5)


_MODULES_AFTER_RUN = modules_after_script("run_pretraining.py", "horovod")


@pytest.mark.slow
@pytest.mark.parametrize("use_horovod", [False, pytest.param(True, marks=pytest.mark.horovod)])
def test_horovod_is_imported_only_with_the_flag(small_data, use_horovod):
    if use_horovod:
        _horovodrun()  # skips when Horovod is not built
    opts = options(small_data, num_train_steps=2, save_checkpoints_steps=2, horovod=use_horovod)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([PYTHON, "-c", _MODULES_AFTER_RUN, *flags_of(opts)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    line = [text for text in result.stdout.splitlines() if text.startswith("HOROVOD_MODULES=")][-1]
    modules = line.split("=", 1)[1]
    # with the flag the same probe does see Horovod, so an empty list without it means something
    assert (modules != "") == use_horovod, modules


def test_fewer_files_than_processes_share_the_records(small_data):
    # Once an error (each process read its own files); now each reads its share of every file.
    from data.input.pretraining_dataset import pretraining_dataset
    files = [str(small_data / "a.tfrecord"), str(small_data / "b.tfrecord")]
    shares = [np.concatenate([b["input_ids"].numpy() for b in pretraining_dataset(
        files, 4, SEQ, PREDS, is_training=False, num_shards=3, shard_index=rank)]) for rank in range(3)]
    assert [len(share) for share in shares] == [22, 22, 20]  # 11, 11, 10 of each file's 32
    everything = np.concatenate([b["input_ids"].numpy() for b in pretraining_dataset(files, 4, SEQ, PREDS,
                                                                                      is_training=False)])
    assert sorted(map(tuple, np.concatenate(shares))) == sorted(map(tuple, everything))


def test_recomputing_layers_ends_with_the_same_weights(small_data):
    # tiny_config has no dropout, so the recomputed backward pass must give the very same updates.
    plain = run(options(small_data, output_dir=str(small_data / "plain")))
    recomputed = run(options(small_data, output_dir=str(small_data / "recomputed"), recompute_layers=True))
    assert plain["train"].step == recomputed["train"].step == 4
    assert_same_weights(exported(small_data / "plain", 4), exported(small_data / "recomputed", 4), atol=1e-5)
    # ... and the option really reaches the encoder (else the comparison above proves nothing)
    built = PretrainingRun(options(small_data, output_dir=str(small_data / "check"), recompute_layers=True))
    assert built.model.encoder.recompute_layers


@pytest.mark.skipif(STACK != "current", reason="on the classic stack --horovod runs (the horovod tests)")
def test_horovod_on_the_current_stack_is_one_line_naming_the_classic_stack(small_data):
    opts = options(small_data, num_train_steps=2, horovod=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([PYTHON, "run_pretraining.py", *flags_of(opts)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("run_pretraining.py: error:")]
    assert len(errors) == 1 and "classic stack" in errors[0] and "Python 3.9-3.11" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
