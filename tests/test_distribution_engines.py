"""The engines with several replicas: tf.distribute (two worker processes with TF_CONFIG, or two
logical CPU devices in one process) trains like one process at twice the batch, as Horovod does;
a killed worker stops the others with an error naming it, and a rerun resumes."""
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.training.pretraining_records import random_arrays, tiny_config, write_records  # noqa: E402
from tests.test_run_pretraining import (PREDS, SEQ, _horovodrun, assert_same_logged_loss,  # noqa: E402
                                        assert_same_weights, exported, flags_of, options, script)

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
MIRRORED_RUN = str(REPO / "tests" / "training" / "mirrored_run.py")
MIRRORED_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(REPO))
pytestmark = pytest.mark.slow


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def worker_env(ports, index):
    tf_config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", TF_CONFIG=json.dumps(tf_config),
                PYTHONPATH=str(REPO))


def start_workers(script_name, args, count, logs):
    """`count` processes of `script_name` forming one MultiWorkerMirroredStrategy cluster on localhost,
    each writing stdout and stderr to logs/worker<index>.log."""
    ports = free_ports(count)
    processes = []
    for index in range(count):
        with open(logs / f"worker{index}.log", "w") as out:
            processes.append(subprocess.Popen([PYTHON, str(REPO / script_name), *args], cwd=REPO,
                                              env=worker_env(ports, index), stdout=out, stderr=subprocess.STDOUT))
    return processes


# What a worker prints when its TF_CONFIG port was taken by another process between free_ports and
# the worker's start (seconds later, once TensorFlow is imported).
PORT_TAKEN = "Could not start gRPC server"


def run_workers(script_name, args, logs, count=2, attempts=3, timeout=600):
    """Runs a cluster of `count` workers to the end and returns each one's log (stdout and stderr,
    also kept in logs/worker<i>.log); asserts that every one exited with 0, showing all the logs
    otherwise. A cluster whose port was taken is started again on new ports."""
    for attempt in range(attempts):
        processes = start_workers(script_name, args, count, logs)
        deadline = time.monotonic() + timeout
        try:
            while any(p.poll() is None for p in processes):
                failed = [i for i, p in enumerate(processes) if p.returncode not in (None, 0)]
                if any(PORT_TAKEN in (logs / f"worker{i}.log").read_text() for i in failed):
                    break  # the others would wait for the failed one: start again
                assert time.monotonic() < deadline, f"the workers did not end within {timeout} s"
                time.sleep(0.5)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        outputs = [(logs / f"worker{i}.log").read_text() for i in range(count)]
        if attempt + 1 < attempts and any(PORT_TAKEN in out for out in outputs):
            continue
        codes = [p.returncode for p in processes]
        assert codes == [0] * count, f"exit codes {codes}\n" + "\n".join(
            f"===== worker {i} =====\n{out[-6000:]}" for i, out in enumerate(outputs))
        return outputs


def per_worker_files(tmp_path, b, steps, seeds, accumulation=1):
    """ranks.tfrecord, whose records of index i modulo len(seeds) are worker i's share, and
    single.tfrecord holding, micro-batch by micro-batch, what the workers see together (what one
    process at len(seeds) x the batch must see)."""
    n = b * accumulation * steps
    parts = [random_arrays(n, SEQ, PREDS, seed=seed) for seed in seeds]
    write_records(tmp_path / "ranks.tfrecord", {name: np.stack([p[name] for p in parts], axis=1).reshape(
        -1, *parts[0][name].shape[1:]) for name in parts[0]})
    merged = {name: np.concatenate([np.concatenate([p[name][i:i + b] for p in parts]) for i in range(0, n, b)])
              for name in parts[0]}
    write_records(tmp_path / "single.tfrecord", merged)


@pytest.mark.parametrize("accumulation", [1, 2])
def test_two_workers_equal_one_process_with_twice_the_batch(tmp_path, accumulation):
    b, steps, lr = 2, 3, 1e-2
    per_worker_files(tmp_path, b, steps, seeds=(5, 6), accumulation=accumulation)
    common = dict(bert_config_file=tiny_config(tmp_path / "config.json"), num_train_steps=steps,
                  save_checkpoints_steps=steps, num_accumulation_steps=accumulation, num_warmup_steps=1, log_every=1)
    two = options(tmp_path, input_file=str(tmp_path / "ranks.tfrecord"), output_dir=str(tmp_path / "two"),
                  train_batch_size=b, learning_rate=lr, distribution="multi_worker_mirrored", do_eval=True,
                  eval_batch_size=2, max_eval_steps=2, **common)
    outputs = run_workers("run_pretraining.py", flags_of(two), tmp_path)
    assert "multi_worker_mirrored: process 0 of 2, 1 replica(s) per process, 2 in all; learning rate 0.02" in outputs[0]
    # the learning rate is multiplied by the 2 replicas, as under Horovod: the single run uses 2 x lr
    # each worker evaluates the first 4 records of its share: the single run's first 8
    one = options(tmp_path, input_file=str(tmp_path / "single.tfrecord"), output_dir=str(tmp_path / "one"),
                  train_batch_size=2 * b, learning_rate=2 * lr, do_eval=True, eval_batch_size=4, max_eval_steps=2,
                  **common)
    single = script(*flags_of(one))
    assert single.returncode == 0, single.stderr[-3000:]
    assert_same_weights(exported(two.output_dir, steps), exported(one.output_dir, steps), atol=1e-5)
    assert len(os.listdir(tmp_path / "two" / "train")) == 1, "one event file: only the chief writes summaries"
    assert_same_logged_loss(two.output_dir, one.output_dir, steps)
    results = [dict(line.split(" = ") for line in (tmp_path / name / "eval_results.txt").read_text().splitlines())
               for name in ("two", "one")]
    assert results[0].keys() == results[1].keys()
    for key in results[0]:
        np.testing.assert_allclose(float(results[0][key]), float(results[1][key]), atol=1e-4, err_msg=key)


def test_two_replicas_in_one_process_equal_one_replica_with_twice_the_batch(tmp_path):
    # fp32 only: under fp16 whether a step overflows depends on the batch per replica, so runs at b
    # and 2b may skip different steps (the toy test in tests/training/test_distribution.py covers fp16)
    b, steps = 2, 3
    per_worker_files(tmp_path, b, steps, seeds=(5, 6), accumulation=2)
    common = dict(bert_config_file=tiny_config(tmp_path / "config.json"), num_train_steps=steps,
                  save_checkpoints_steps=steps, num_accumulation_steps=2, num_warmup_steps=1,
                  input_file=str(tmp_path / "single.tfrecord"), learning_rate=1e-2, scale_learning_rate=False)
    # The two replicas take consecutive batches of the one file: the single run's batches, halved.
    two = options(tmp_path, output_dir=str(tmp_path / "two"), train_batch_size=b,
                  distribution="multi_worker_mirrored", **common)
    result = subprocess.run([PYTHON, MIRRORED_RUN, "2", "run_pretraining.py", *flags_of(two)], cwd=REPO,
                            env=MIRRORED_ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "process 0 of 1, 2 replica(s) per process, 2 in all; learning rate 0.01" in result.stderr
    one = options(tmp_path, output_dir=str(tmp_path / "one"), train_batch_size=2 * b, **common)
    single = script(*flags_of(one))
    assert single.returncode == 0, single.stderr[-3000:]
    assert_same_weights(exported(two.output_dir, steps), exported(one.output_dir, steps), atol=1e-5)


# -- faults ---------------------------------------------------------------------------------
def horovod_rank_pid(rank):
    """The Python process horovodrun started as `rank` (found by its HOROVOD_RANK), or None."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if command[0].endswith(b"python") and b"run_pretraining.py" in b" ".join(command) \
                and f"HOROVOD_RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


def wait_for_checkpoint(output_dir, processes):
    while tf.train.latest_checkpoint(output_dir) is None:
        assert all(p.poll() is None for p in processes), "the run ended before it could be killed"
        time.sleep(0.1)


def fault_run(tmp_path, **overrides):
    per_worker_files(tmp_path, 2, 8, seeds=(5, 6))
    return options(tmp_path, input_file=str(tmp_path / "ranks.tfrecord"), output_dir=str(tmp_path / "out"),
                   bert_config_file=tiny_config(tmp_path / "config.json"), train_batch_size=2,
                   num_train_steps=100000, save_checkpoints_steps=5, log_every=5, **overrides)


def checkpoint_step(output_dir):
    return int(tf.train.latest_checkpoint(output_dir).rsplit("-", 1)[1])


# The liveness bound: once a process is killed, the others stop within this many seconds
# (measured on 2 busy cores: under a second on both engines; under tf.distribute up to 70 s before
# run_main skipped TensorFlow's teardown after a lost peer, see LostPeerError).
LOST_PEER_SECONDS = 60


def wait_after_signal(process, signalled_at, seconds, what):
    """Waits for `process` until `seconds` after `signalled_at` (time.monotonic()); a hang fails naming `what`."""
    try:
        process.wait(timeout=max(0.0, signalled_at + seconds - time.monotonic()))
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} still ran {seconds} s after the signal")


def signal_a_worker_after_a_checkpoint(tmp_path, run, index, signum, waited, seconds=180):
    """Two tf.distribute workers of `run`; once a checkpoint exists, `signum` to worker `index`; fails
    unless the workers `waited` end within `seconds` of it; kills any left. Returns the processes
    (logs in tmp_path)."""
    processes = start_workers("run_pretraining.py", flags_of(run), 2, tmp_path)
    try:
        wait_for_checkpoint(run.output_dir, processes)
        processes[index].send_signal(signum)
        signalled_at = time.monotonic()
        for waited_index in waited:
            wait_after_signal(processes[waited_index], signalled_at, seconds, f"worker {waited_index}")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    return processes


@pytest.mark.parametrize("victim", [1, 0])
def test_a_killed_worker_stops_the_other_naming_it_and_a_restart_resumes(tmp_path, victim):
    run = fault_run(tmp_path, distribution="multi_worker_mirrored")
    processes = signal_a_worker_after_a_checkpoint(tmp_path, run, victim, signal.SIGKILL, waited=[1 - victim],
                                                   seconds=LOST_PEER_SECONDS)
    survivor = processes[1 - victim]
    log = (tmp_path / f"worker{1 - victim}.log").read_text()
    assert survivor.returncode == 1, log[-3000:]
    assert f"run_pretraining.py: error: worker {victim} of the cluster (TF_CONFIG's index) stopped or cannot be " \
           f"reached" in log, log[-3000:]
    assert "Traceback" not in log
    at_kill = checkpoint_step(run.output_dir)
    rerun = dataclasses.replace(run, num_train_steps=at_kill + 3)
    outputs = run_workers("run_pretraining.py", flags_of(rerun), tmp_path)
    assert f"resuming from {run.output_dir}/ckpt-{at_kill}" in outputs[0]
    assert checkpoint_step(run.output_dir) == at_kill + 3


HOROVOD_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")


def horovod_command():
    return [_horovodrun(), "-np", "2", "-H", "localhost:2", "--gloo", PYTHON, str(REPO / "run_pretraining.py")]


def signal_horovod_rank_after_a_checkpoint(tmp_path, run, signum, seconds=180):
    """Two Horovod processes of `run`; once a checkpoint exists, `signum` to rank 1; fails unless
    horovodrun (so every rank) ends within `seconds` of it; kills what is left. Returns (horovodrun's
    exit status, its log)."""
    with open(tmp_path / "horovodrun.log", "w") as log:
        launcher = subprocess.Popen(horovod_command() + flags_of(run), cwd=REPO, env=HOROVOD_ENV, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_checkpoint(run.output_dir, [launcher])
        rank1 = horovod_rank_pid(1)
        assert rank1 is not None, "rank 1's process was not found"
        os.kill(rank1, signum)
        wait_after_signal(launcher, time.monotonic(), seconds, "horovodrun")
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
    return launcher.returncode, (tmp_path / "horovodrun.log").read_text()


def assert_horovod_rerun_resumes(run, at_step):
    """The same Horovod command, 3 updates further, resumes from ckpt-<at_step> and ends 3 updates on."""
    rerun = dataclasses.replace(run, num_train_steps=at_step + 3)
    result = subprocess.run(horovod_command() + flags_of(rerun), cwd=REPO, env=HOROVOD_ENV, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert f"resuming from {run.output_dir}/ckpt-{at_step}" in result.stdout + result.stderr
    assert checkpoint_step(run.output_dir) == at_step + 3


@pytest.mark.horovod
def test_a_killed_horovod_process_stops_the_others_naming_it_and_a_restart_resumes(tmp_path):
    run = fault_run(tmp_path, horovod=True)
    returncode, text = signal_horovod_rank_after_a_checkpoint(tmp_path, run, signal.SIGKILL,
                                                              seconds=LOST_PEER_SECONDS)
    assert returncode != 0
    assert "Process 1 exit with status code 137" in text and "Terminating remaining workers" in text, text[-3000:]
    at_kill = checkpoint_step(run.output_dir)
    assert_horovod_rerun_resumes(run, at_kill)


@pytest.mark.parametrize("receiver", [1, 0])
def test_sigterm_to_one_worker_stops_both_after_the_chiefs_checkpoint_and_a_restart_resumes(tmp_path, receiver):
    run = fault_run(tmp_path, distribution="multi_worker_mirrored")
    processes = signal_a_worker_after_a_checkpoint(tmp_path, run, receiver, signal.SIGTERM, waited=[0, 1])
    logs = [(tmp_path / f"worker{index}.log").read_text() for index in range(2)]
    for process, log in zip(processes, logs):
        assert process.returncode == 75, log[-3000:]
        assert "Traceback" not in log
    at_stop = checkpoint_step(run.output_dir)
    assert f"run_pretraining.py: preempted by SIGTERM at step {at_stop} " in logs[receiver], logs[receiver][-3000:]
    assert f"run_pretraining.py: preempted by a signal to another process at step {at_stop} " in logs[1 - receiver]
    assert f"{run.output_dir}/ckpt-{at_stop} holds the run" in logs[0], "the chief names its checkpoint"
    rerun = dataclasses.replace(run, num_train_steps=at_stop + 3)
    outputs = run_workers("run_pretraining.py", flags_of(rerun), tmp_path)
    assert f"resuming from {run.output_dir}/ckpt-{at_stop}" in outputs[0]
    assert checkpoint_step(run.output_dir) == at_stop + 3


@pytest.mark.horovod
def test_sigterm_to_one_horovod_process_stops_both_after_the_chiefs_checkpoint_and_a_restart_resumes(tmp_path):
    """Under Horovod the processes agree on a signal by an allreduce: SIGTERM to rank 1 alone stops
    both after the same update, with the chief's checkpoint written, and a restart resumes from it."""
    run = fault_run(tmp_path, horovod=True)
    returncode, text = signal_horovod_rank_after_a_checkpoint(tmp_path, run, signal.SIGTERM)
    assert returncode != 0
    at_stop = checkpoint_step(run.output_dir)
    assert f"run_pretraining.py: preempted by SIGTERM at step {at_stop} " in text, text[-3000:]
    assert f"run_pretraining.py: preempted by a signal to another process at step {at_stop} " in text
    # the first process to exit has the preempted status, not 143 (killed before saving); horovodrun
    # then ends the other itself, which may show as 143 if it was still tearing down
    assert re.search(r"The first process to do so was:\s*Process name: [01]\s*Exit code: 75", text), text[-3000:]
    # horovodrun ends the other process once one exits non-zero and prints a traceback of its own;
    # the training processes print none
    assert not [line for line in text.splitlines() if line.startswith(("[0]", "[1]")) and "Traceback" in line]
    assert_horovod_rerun_resumes(run, at_stop)


# -- seeds ----------------------------------------------------------------------------------
def test_each_process_draws_its_own_dropout_from_the_same_weights(tmp_path):
    """Every process gets --seed, so they would draw the same dropout masks; the loop reseeds each
    with seed + rank after broadcasting the chief's weights, which every worker then holds even if
    it started from others (rank_dropout.py moves worker 1's)."""
    per_worker_files(tmp_path, 4, 2, seeds=(5, 6))
    run = options(tmp_path, input_file=str(tmp_path / "ranks.tfrecord"), output_dir=str(tmp_path / "out"),
                  bert_config_file=tiny_config(tmp_path / "config.json", dropout=0.5), train_batch_size=2,
                  distribution="multi_worker_mirrored", deterministic=True)
    run_workers("tests/training/rank_dropout.py",
                [json.dumps(vars(run)), str(tmp_path / "single.tfrecord"), str(tmp_path)], tmp_path)
    starts = [dict(np.load(tmp_path / f"start{rank}.npz")) for rank in (0, 1)]
    kernel = "bert/encoder/layer_0/attention/self/query/kernel"
    np.testing.assert_allclose(starts[1][kernel], starts[0][kernel] + 1.0, atol=1e-6)
    ranks = [dict(np.load(tmp_path / f"rank{rank}.npz")) for rank in (0, 1)]
    outputs = [r.pop("outputs") for r in ranks]
    assert_same_weights(ranks[0], starts[0], atol=0)
    assert_same_weights(ranks[1], ranks[0], atol=0)
    assert not np.allclose(outputs[0], outputs[1]), "both processes drew the same dropout masks"


# -- fine-tuning ----------------------------------------------------------------------------
def eight_examples(shared_dir, tmp_path):
    """A data dir holding chnsenticorp's first 8 training and dev examples."""
    source = shared_dir / "data" / "chnsenticorp"
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for name in ("train.tsv", "dev.tsv"):
        lines = (source / name).read_text(encoding="utf-8").splitlines()[:9]  # header + 8 examples
        (data_dir / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return data_dir


def no_dropout_config(fixtures_dir, tmp_path):
    """The tiny fixture's config without dropout: masks differ with the batch per replica (the
    head's fixed 0.1 is switched off by NO_DROPOUT=1, see mirrored_run.py)."""
    config = json.loads((fixtures_dir / "nezha_tiny_lamb" / "bert_config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path / "config.json"


def clf_training_args(data_dir, vocab_file, config, fixtures_dir, output_dir, batch, learning_rate, epochs):
    return [f"--data_dir={data_dir}", f"--vocab_file={vocab_file}", f"--bert_config_file={config}",
            f"--init_checkpoint={fixtures_dir / 'nezha_tiny_lamb' / 'model.ckpt'}", f"--output_dir={output_dir}",
            "--task_name=chnsenti", "--max_seq_length=32", "--do_train", f"--train_batch_size={batch}",
            f"--num_train_epochs={epochs}", f"--learning_rate={learning_rate}", "--warmup_proportion=0", "--log_every=1"]


def clf_weights(output_dir, updates):
    """The model's weights in output_dir's latest checkpoint, after checking it holds `updates` updates."""
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(output_dir)))
    assert reader.get_tensor("optimizer/iterations/.ATTRIBUTES/VARIABLE_VALUE") == updates
    weights = {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map() if n.startswith("model/")}
    assert len(weights) > 20
    return weights


def test_run_clf_on_two_replicas_equals_one_replica_with_twice_the_batch(fixtures_dir, vocab_file, shared_dir,
                                                                         tmp_path):
    data_dir = eight_examples(shared_dir, tmp_path)
    config = no_dropout_config(fixtures_dir, tmp_path)

    def args(output_dir, batch, learning_rate):
        return clf_training_args(data_dir, vocab_file, config, fixtures_dir, tmp_path / output_dir, batch,
                                 learning_rate, epochs=2)

    two = subprocess.run([PYTHON, MIRRORED_RUN, "2", "run_clf.py", *args("two", 2, 1e-3),
                          "--distribution=multi_worker_mirrored"], cwd=REPO, env=dict(MIRRORED_ENV, NO_DROPOUT="1"),
                         capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    # 8 examples, 2 epochs, 2 replicas x 2 = 4 per update: 4 updates; the rate x 2 replicas, as the original
    assert "2 replica(s) per process, 2 in all; learning rate 0.002" in two.stderr
    one = subprocess.run([PYTHON, MIRRORED_RUN, "0", "run_clf.py", *args("one", 4, 2e-3)], cwd=REPO,
                         env=dict(MIRRORED_ENV, NO_DROPOUT="1"), capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    assert_same_weights(clf_weights(tmp_path / "two", 4), clf_weights(tmp_path / "one", 4), atol=1e-5)


@pytest.mark.parametrize("engine", ["multi_worker_mirrored", pytest.param("horovod", marks=pytest.mark.horovod)])
def test_run_clf_on_two_processes_equals_one_process_with_twice_the_batch(engine, fixtures_dir, vocab_file,
                                                                          shared_dir, tmp_path, monkeypatch):
    """Each process converts only its shard of the training set (examples r::2), shuffled on its own,
    so the processes' batches are not the single run's: each update takes all 8 examples (4 on each
    process, 8 in the single run), whose mean gradient does not depend on their order."""
    data_dir = eight_examples(shared_dir, tmp_path)
    config = no_dropout_config(fixtures_dir, tmp_path)
    # 8 examples, 3 epochs, 2 x 4 per update: 3 updates; the rate x 2 processes, as the original
    two = clf_training_args(data_dir, vocab_file, config, fixtures_dir, tmp_path / "two", 4, 1e-3, epochs=3)
    wrapped = ["0", "run_clf.py", *two, f"--distribution={engine}"]
    if engine == "horovod":
        command = [_horovodrun(), "-np", "2", "-H", "localhost:2", "--gloo", PYTHON, MIRRORED_RUN]
        result = subprocess.run(command + wrapped, cwd=REPO, env=dict(MIRRORED_ENV, NO_DROPOUT="1"),
                                capture_output=True, text=True, timeout=600)
        chief_log = result.stdout + result.stderr
        assert result.returncode == 0, chief_log[-6000:]
    else:
        monkeypatch.setenv("NO_DROPOUT", "1")  # worker_env copies os.environ
        chief_log = run_workers("tests/training/mirrored_run.py", wrapped, tmp_path)[0]
    assert "process 0 of 2, 1 replica(s) per process, 2 in all; learning rate 0.002" in chief_log, chief_log[-3000:]
    one = clf_training_args(data_dir, vocab_file, config, fixtures_dir, tmp_path / "one", 8, 2e-3, epochs=3)
    single = subprocess.run([PYTHON, MIRRORED_RUN, "0", "run_clf.py", *one], cwd=REPO,
                            env=dict(MIRRORED_ENV, NO_DROPOUT="1"), capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    assert_same_weights(clf_weights(tmp_path / "two", 3), clf_weights(tmp_path / "one", 3), atol=1e-5)


# -- float16 allreduce ----------------------------------------------------------------------
@pytest.mark.horovod
def test_fp16_allreduce_applies_the_uncompressed_update_and_never_overflows_a_gradient_that_fits(tmp_path):
    """Under the loss scale of --use_fp16 (2^32 at the start), --hvd_fp16_allreduce used to cast
    loss-scaled sums to float16: every update overflowed. Unscaled first, the update is the
    uncompressed one within float16 rounding, and a gradient of 40000 on every micro-batch of both
    ranks (its sum over 2 micro-batches or 2 ranks, 80000, does not fit float16; its average does)
    is applied at the first step."""
    runner = _horovodrun()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(REPO))
    result = subprocess.run([runner, "-np", "2", "-H", "localhost:2", "--gloo", PYTHON,
                             str(REPO / "tests" / "training" / "fp16_allreduce.py"), str(tmp_path)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    out = dict(np.load(tmp_path / "rank0.npz"))
    for case, steps in (("toy", 2), ("large", 1)):
        for mode in ("plain", "compressed"):
            assert out[f"{case}/{mode}/step"] == steps, f"{case} {mode}: an update was skipped as an overflow"
            assert out[f"{case}/{mode}/scale"] == 2.0 ** 32, f"{case} {mode}: the loss scale was lowered"
    from tests.training.toy import make_toy_model
    start = [v.numpy() for v in make_toy_model().trainable_variables]
    for i, before in enumerate(start):
        plain = out[f"toy/plain/weights/{i}"] - before
        compressed = out[f"toy/compressed/weights/{i}"] - before
        np.testing.assert_allclose(compressed, plain, atol=2e-3 * np.abs(plain).max(), rtol=0)
    # Adam's moments are linear and quadratic in the gradient: a wrong unscaling factor shows there.
    i = 0
    while f"toy/plain/slots/{i}" in out:
        plain, compressed = out[f"toy/plain/slots/{i}"], out[f"toy/compressed/slots/{i}"]
        np.testing.assert_allclose(compressed, plain, atol=2e-3 * np.abs(plain).max(), rtol=0)
        i += 1
    assert i > 1
    # first moment after one update: (1 - beta_1) * the averaged gradient 40000
    moments = [out[f"large/compressed/slots/{j}"] for j in range(3)]
    assert any(np.allclose(m, 0.1 * 40000.0, rtol=1e-3) and m.shape == (4,) for m in moments), moments


def test_run_clf_trains_and_evaluates_on_two_worker_processes(fixtures_dir, vocab_file, shared_dir, tmp_path):
    """Two MultiWorkerMirrored processes fine-tune together: one update counter (each update takes a
    batch from each worker's shard), the learning rate scaled by the 2 replicas; only the chief
    evaluates and writes checkpoints and results, which equal one process evaluating the same weights."""
    data_dir = eight_examples(shared_dir, tmp_path)
    tiny = fixtures_dir / "nezha_tiny_lamb"
    output_dir = tmp_path / "two"
    args = [f"--data_dir={data_dir}", f"--vocab_file={vocab_file}", f"--bert_config_file={tiny / 'bert_config.json'}",
            f"--init_checkpoint={tiny / 'model.ckpt'}", f"--output_dir={output_dir}", "--task_name=chnsenti",
            "--max_seq_length=32", "--do_train", "--do_eval", "--train_batch_size=2", "--eval_batch_size=4",
            "--num_train_epochs=2", "--learning_rate=1e-3", "--warmup_proportion=0", "--log_every=1",
            "--distribution=multi_worker_mirrored"]
    outputs = run_workers("run_clf.py", args, tmp_path)
    assert "process 0 of 2, 1 replica(s) per process, 2 in all; learning rate 0.002" in outputs[0]
    assert "dev accuracy" in outputs[0]
    # worker 1 neither reads output_dir after training nor evaluates
    assert "evaluating / predicting" not in outputs[1] and "dev accuracy" not in outputs[1], outputs[1][-3000:]
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(output_dir)))
    # 8 examples, 2 epochs, a batch of 2 on each of 2 workers: 4 updates
    assert reader.get_tensor("optimizer/iterations/.ATTRIBUTES/VARIABLE_VALUE") == 4
    assert len(os.listdir(output_dir / "train")) == 1, "one event file: only the chief writes summaries"
    # The same weights evaluated by one process give the same results as the two workers' evaluation.
    alone = tmp_path / "alone"
    shutil.copytree(output_dir, alone)
    (alone / "eval_results.txt").unlink()
    single_args = [a for a in args if not a.startswith(("--output_dir", "--distribution", "--do_train"))]
    single = subprocess.run([PYTHON, str(REPO / "run_clf.py"), *single_args, f"--output_dir={alone}"], cwd=REPO,
                            env=MIRRORED_ENV, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    results = [dict(line.split(" = ") for line in (d / "eval_results.txt").read_text().splitlines())
               for d in (output_dir, alone)]
    assert results[0].keys() == results[1].keys() and "eval_accuracy" in results[0]
    for key in results[0]:
        np.testing.assert_allclose(float(results[0][key]), float(results[1][key]), atol=1e-5, err_msg=key)


def test_run_reading_workers_convert_their_questions_and_agree_on_the_steps(fixtures_dir, vocab_file, shared_dir,
                                                                           tmp_path):
    """Each of two processes converts only its questions, so only it knows its number of windows:
    both train for the steps of the whole set's windows, which they add up between them."""
    from tests.training.finetune.test_task import reading_task

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    windows = len(reading_task(shared_dir, vocab_file, data_dir).train_arrays()["input_ids"])
    shards = [len(reading_task(shared_dir, vocab_file, data_dir).train_arrays(2, i)["input_ids"]) for i in (0, 1)]
    assert shards[0] != shards[1], "shards of equal size would not show whose count a process used"
    tiny = fixtures_dir / "nezha_tiny_lamb"
    output_dir = tmp_path / "two"
    args = [f"--data_dir={data_dir}", f"--vocab_file={vocab_file}", f"--bert_config_file={tiny / 'bert_config.json'}",
            f"--init_checkpoint={tiny / 'model.ckpt'}", f"--output_dir={output_dir}", "--task_name=cmrc2018",
            "--max_seq_length=64", "--doc_stride=24", "--do_train", "--train_batch_size=8",
            "--num_train_epochs=0.25", "--warmup_proportion=0", "--distribution=multi_worker_mirrored"]
    outputs = run_workers("run_reading.py", args, tmp_path)
    # windows / (8 x 2 processes) x 0.25 epochs
    steps = int(windows / 16 * 0.25)
    for output in outputs:
        assert f"training on {windows} examples: {steps} steps" in output, output[-3000:]
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(output_dir)))
    assert reader.get_tensor("optimizer/iterations/.ATTRIBUTES/VARIABLE_VALUE") == steps


@pytest.mark.parametrize("engine", ["multi_worker_mirrored", pytest.param("horovod", marks=pytest.mark.horovod)])
def test_run_clf_keeps_the_best_checkpoint_evaluating_on_the_chief_alone(engine, fixtures_dir, vocab_file,
                                                                          shared_dir, tmp_path):
    """--do_train_and_eval on two processes: at each checkpoint the chief evaluates while the other
    waits in the next update's allreduce; the chief's results equal one process evaluating best/."""
    data_dir = eight_examples(shared_dir, tmp_path)
    tiny = fixtures_dir / "nezha_tiny_lamb"
    output_dir = tmp_path / "two"
    args = [f"--data_dir={data_dir}", f"--vocab_file={vocab_file}", f"--bert_config_file={tiny / 'bert_config.json'}",
            f"--init_checkpoint={tiny / 'model.ckpt'}", f"--output_dir={output_dir}", "--task_name=chnsenti",
            "--max_seq_length=32", "--do_train_and_eval", "--train_batch_size=2", "--eval_batch_size=4",
            "--num_train_epochs=2", "--learning_rate=1e-3", "--warmup_proportion=0", "--save_checkpoints_steps=2"]
    if engine == "horovod":
        command = [_horovodrun(), "-np", "2", "-H", "localhost:2", "--gloo", PYTHON, str(REPO / "run_clf.py")]
        result = subprocess.run(command + args + ["--distribution=horovod"], cwd=REPO, env=MIRRORED_ENV,
                                capture_output=True, text=True, timeout=900)
        text = result.stdout + result.stderr
        assert result.returncode == 0, text[-6000:]
        lines = text.splitlines()
        outputs = ["\n".join(line for line in lines if line.startswith(f"[{rank}]")) for rank in (0, 1)]
    else:
        outputs = run_workers("run_clf.py", args + ["--distribution=multi_worker_mirrored"], tmp_path)
    # 8 examples, 2 epochs, 2 x 2 per update: 4 updates, checkpoints (and evaluations) at steps 2 and 4
    for step in (2, 4):
        assert f"step {step}: dev accuracy" in outputs[0], outputs[0][-3000:]
    assert "dev accuracy" not in outputs[1] and "evaluating / predicting" not in outputs[1], outputs[1][-3000:]
    best = json.loads((output_dir / "best_eval_results.txt").read_text())
    assert best["step"] in (2, 4)
    alone = tmp_path / "alone"
    shutil.copytree(output_dir, alone)
    (alone / "eval_results.txt").unlink()
    single_args = [a for a in args if not a.startswith(("--output_dir", "--do_train_and_eval"))]
    single = subprocess.run([PYTHON, str(REPO / "run_clf.py"), *single_args, "--do_eval", f"--output_dir={alone}"],
                            cwd=REPO, env=MIRRORED_ENV, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    assert f"weights from {alone}/best/model" in single.stderr
    results = [dict(line.split(" = ") for line in (d / "eval_results.txt").read_text().splitlines())
               for d in (output_dir, alone)]
    assert results[0].keys() == results[1].keys() and "eval_accuracy" in results[0]
    for key in results[0]:
        np.testing.assert_allclose(float(results[0][key]), float(results[1][key]), atol=1e-5, err_msg=key)
    assert float(results[0]["eval_accuracy"]) == pytest.approx(best["accuracy"])
