"""training/distribution/threads.py: each process of a host sizes its thread pools, its tf.data pool
and its parallel readers to its share of the host's cores, on every engine."""
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from tests.test_distribution_engines import free_ports
from tests.test_run_pretraining import _horovodrun, options, small_data  # noqa: F401  (a fixture)
from tests.training.test_distribution import FakeResolver
from training.distribution import create_engine
from training.distribution.tf_distribute import tasks_on_host
from training.distribution.threads import host_cores, threads_per_process, use_thread_share

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBE = os.path.join(REPO, "tests", "training", "thread_share_probe.py")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", PYTHONPATH=REPO)
for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    ENV.pop(name, None)


@pytest.mark.parametrize("cores, local_size, share", [(96, 8, 12), (64, 8, 8), (7, 2, 3), (2, 8, 1), (2, 1, 2),
                                                      (1, 1, 1)])
def test_each_process_gets_its_share_of_the_cores_and_at_least_one(cores, local_size, share):
    assert threads_per_process(cores, local_size) == share


@pytest.mark.parametrize("cores, local_size", [(0, 1), (8, 0)])
def test_no_cores_or_no_processes_is_refused(cores, local_size):
    with pytest.raises(ValueError, match="must be at least 1"):
        threads_per_process(cores, local_size)


def test_one_process_per_host_keeps_tensorflows_pools():
    before = (tf.config.threading.get_intra_op_parallelism_threads(),
              tf.config.threading.get_inter_op_parallelism_threads())
    assert use_thread_share(1, cores=6) == 6
    assert (tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads()) == before


def test_workers_on_one_host_are_counted_by_their_addresses():
    cluster = {"chief": ["a:1"], "worker": ["a:2", "b:1", "a:3"]}
    assert tasks_on_host(FakeResolver(cluster, "chief", 0)) == 3
    assert tasks_on_host(FakeResolver(cluster, "worker", 1)) == 1
    assert tasks_on_host(FakeResolver(cluster, "worker", 2)) == 3
    assert tasks_on_host(None) == 1


def test_the_training_data_runs_on_the_process_share():
    engine = create_engine()
    dataset = engine.distribute(lambda: tf.data.Dataset.range(3))
    assert engine.cpu_threads == threads_per_process(host_cores(), 1)
    assert dataset.options().threading.private_threadpool_size == engine.cpu_threads
    assert list(dataset.as_numpy_iterator()) == [0, 1, 2]


def test_pretraining_reads_with_one_reader_per_thread(small_data, monkeypatch):  # noqa: F811
    import training.pretraining as pretraining
    seen = {}
    real = pretraining.pretraining_dataset

    def recording(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(pretraining, "pretraining_dataset", recording)
    job = pretraining.PretrainingRun(options(small_data, deterministic=False))
    job.train_dataset()
    assert seen["num_cpu_threads"] == job.distributed.cpu_threads == host_cores()


def test_pretraining_evaluates_on_the_process_share(small_data):  # noqa: F811
    import training.pretraining as pretraining
    job = pretraining.PretrainingRun(options(small_data, do_train=False, do_eval=True))
    dataset = job.eval_dataset()
    assert dataset.options().threading.private_threadpool_size == job.distributed.cpu_threads == host_cores()
    assert next(iter(dataset))["input_ids"].shape == (job.options.eval_batch_size, job.options.max_seq_length)


@pytest.mark.parametrize("mode", ["do_eval", "do_predict"])
def test_fine_tuning_infers_on_the_process_share(tmp_path, monkeypatch, mode):
    from tests.helpers import smallest_config
    from tests.training.finetune.test_vocab_check import checkpoint_of, start
    from training.distribution.base import Engine
    served, real = [], Engine.on_own_threads
    monkeypatch.setattr(Engine, "on_own_threads", lambda engine, dataset: served.append(real(engine, dataset)) or
                        served[-1])
    config = smallest_config()
    task = start(tmp_path, config, config.vocab_size, init_checkpoint=checkpoint_of(config, tmp_path), **{mode: True})
    assert task.inferred.shape == (8, 2)  # what run_model read came through the engine's pool
    assert [dataset.options().threading.private_threadpool_size for dataset in served] == [host_cores()]


def probe_lines(text):
    return [json.loads(line[line.index("{"):]) for line in text.splitlines() if '"local_size"' in line]


@pytest.mark.slow
@pytest.mark.horovod
def test_horovod_processes_of_one_host_split_its_cores():
    runner = _horovodrun()
    result = subprocess.run([runner, "-np", "2", "-H", "localhost:2", "--gloo", sys.executable, PROBE, "horovod"],
                            cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    found = probe_lines(result.stdout)
    share = threads_per_process(host_cores(), 2)
    assert sorted(p["rank"] for p in found) == [0, 1]
    for probe in found:
        assert (probe["local_size"], probe["cpu_threads"], probe["intra"], probe["inter"]) == (2, share, share, share)
    for rank in (0, 1):  # every rank says where it runs
        assert (f"horovod: process {rank} of 2, local {rank} of 2 on " in result.stderr + result.stdout and
                f"CPU (this host has no GPU), {share} CPU threads" in result.stderr + result.stdout), result.stderr


@pytest.mark.slow
def test_tf_distribute_workers_of_one_host_split_its_cores():
    ports = free_ports(2)
    workers = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        workers.append(subprocess.Popen([sys.executable, PROBE, "multi_worker_mirrored"], cwd=REPO,
                                        env=dict(ENV, TF_CONFIG=json.dumps(tf_config)), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True))
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
    found = [probe_lines(output)[-1] for output in outputs]
    share = threads_per_process(host_cores(), 2)
    for probe in found:
        assert (probe["local_size"], probe["cpu_threads"], probe["intra"], probe["inter"]) == (2, share, share, share)
    assert f"multi_worker_mirrored: process 1 of 2 on /job:worker/replica:0/task:1/device:CPU:0, {share} CPU threads" \
        in outputs[1], outputs[1][-2000:]
