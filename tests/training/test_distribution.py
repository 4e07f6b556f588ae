"""The distribution engines' decisions, without several processes: GPU pinning, engine names,
cluster indexes, the lost worker named in an error; the tf.distribute engine's gradient packs."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from training.distribution import DeviceError, create_engine, engine_name, gpu_for_process
from training.distribution.devices import pin_to_local_gpu
from training.distribution.tf_distribute import cluster_resolver, lost_worker, worker_index

GPUS = ["GPU:0", "GPU:1"]


@pytest.mark.parametrize("local_rank", [0, 1])
def test_each_local_process_gets_its_own_gpu(local_rank):
    assert gpu_for_process(local_rank, 2, "node7", GPUS) == GPUS[local_rank]


def test_fewer_processes_than_gpus_use_the_first_ones():
    assert gpu_for_process(0, 1, "node7", GPUS) == "GPU:0"


@pytest.mark.parametrize("local_rank", [0, 2])
def test_more_processes_than_gpus_stop_every_process_with_a_clear_error(local_rank):
    # rank 0 as well: were only the extra processes to stop, the others would wait for them forever
    with pytest.raises(DeviceError, match=rf"process {local_rank} on host node7 sees 2 GPU\(s\) but 3 processes run "
                                          r"there; start at most 2 processes per host or set CUDA_VISIBLE_DEVICES"):
        gpu_for_process(local_rank, 3, "node7", GPUS)


@pytest.mark.parametrize("local_size", [1, 8])
def test_a_host_without_gpus_runs_on_cpus(local_size):
    assert gpu_for_process(local_size - 1, local_size, "laptop", []) is None


def test_a_local_rank_outside_the_local_size_is_refused():
    with pytest.raises(ValueError, match="local rank 2 is outside 0..1"):
        gpu_for_process(2, 2, "node7", GPUS)


class FakeGpu:
    def __init__(self, name):
        self.name = name


def fake_devices(monkeypatch, gpus):
    """tf.config reporting `gpus` and recording what is done to them, as [(call, argument)]."""
    import tensorflow as tf
    calls = []
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: list(gpus) if kind == "GPU" else [])
    monkeypatch.setattr(tf.config, "set_visible_devices",
                        lambda devices, kind=None: calls.append(("visible", [d.name for d in devices], kind)))
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth",
                        lambda device, grow: calls.append(("memory_growth", device.name, grow)))
    return calls


def test_a_process_pins_its_own_gpu_and_lets_its_memory_grow(monkeypatch):
    gpus = [FakeGpu("/physical_device:GPU:0"), FakeGpu("/physical_device:GPU:1")]
    calls = fake_devices(monkeypatch, gpus)
    assert pin_to_local_gpu(1, 2, "node7") == "/physical_device:GPU:1"
    assert calls == [("visible", ["/physical_device:GPU:1"], "GPU"), ("memory_growth", "/physical_device:GPU:1", True)]


def test_pinning_on_a_host_without_gpus_touches_no_device(monkeypatch):
    calls = fake_devices(monkeypatch, [])
    assert pin_to_local_gpu(0, 2, "laptop") is None
    assert calls == []


def test_horovod_flag_is_an_alias_and_contradictions_are_refused():
    assert engine_name("none") == "none"
    assert engine_name("none", horovod=True) == engine_name("horovod") == "horovod"
    assert engine_name("multi_worker_mirrored") == "multi_worker_mirrored"
    with pytest.raises(ValueError, match="contradicts --distribution=multi_worker_mirrored"):
        engine_name("multi_worker_mirrored", horovod=True)
    with pytest.raises(ValueError, match="unknown --distribution='mpi'"):
        engine_name("mpi")


def test_fp16_allreduce_needs_horovod():
    with pytest.raises(ValueError, match="--hvd_fp16_allreduce needs --distribution=horovod"):
        create_engine("multi_worker_mirrored", fp16_allreduce=True)


def test_the_default_engine_is_one_process_on_one_device():
    engine = create_engine()
    assert (engine.name, engine.rank, engine.size, engine.num_replicas, engine.is_chief) == ("none", 0, 1, 1, True)


class FakeResolver:
    def __init__(self, cluster, task_type, task_id):
        self.cluster, self.task_type, self.task_id = cluster, task_type, task_id

    def cluster_spec(self):
        import tensorflow as tf
        return tf.train.ClusterSpec(self.cluster)


def test_worker_index_puts_the_chief_first():
    cluster = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
    assert worker_index(FakeResolver(cluster, "chief", 0)) == (0, 3)
    assert worker_index(FakeResolver(cluster, "worker", 1)) == (2, 3)
    assert worker_index(FakeResolver({"worker": ["b:1", "c:1"]}, "worker", 1)) == (1, 2)
    assert worker_index(None) == (0, 1)
    with pytest.raises(RuntimeError, match="chief and worker tasks, not 'ps'"):
        worker_index(FakeResolver({"worker": ["b:1"], "ps": ["d:1"]}, "ps", 0))


def test_the_cluster_comes_from_tf_config_then_slurm_else_none(monkeypatch):
    for name in ("TF_CONFIG", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    assert cluster_resolver() is None
    monkeypatch.setenv("SLURM_NTASKS", "1")
    assert cluster_resolver() is None, "one Slurm task is one host: no cluster needed"
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["localhost:1", "localhost:2"]},
                                                "task": {"type": "worker", "index": 1}}))
    resolver = cluster_resolver()
    assert (resolver.task_type, resolver.task_id) == ("worker", 1)


def test_several_slurm_tasks_without_tf_config_make_a_slurm_cluster(monkeypatch):
    """Two tasks of a Slurm step on two nodes, one each (the variables srun sets); no real Slurm needed."""
    import tensorflow as tf
    monkeypatch.delenv("TF_CONFIG", raising=False)
    for name, value in dict(SLURM_NTASKS="2", SLURM_STEP_NUM_TASKS="2", SLURM_PROCID="1",
                            SLURM_STEP_NODELIST="node[1-2]", SLURM_STEP_TASKS_PER_NODE="1(x2)",
                            CUDA_VISIBLE_DEVICES="0").items():
        monkeypatch.setenv(name, value)
    resolver = cluster_resolver()
    assert isinstance(resolver, tf.distribute.cluster_resolver.SlurmClusterResolver)
    assert worker_index(resolver) == (1, 2)
    assert resolver.cluster_spec().as_dict() == {"worker": ["node1:8888", "node2:8888"]}
    # the step's count decides: a one-task step of a two-task allocation is one process alone
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "1")
    assert cluster_resolver() is None


def test_the_lost_worker_is_read_from_the_error():
    message = ("Collective ops is aborted by: The following tasks are unhealthy (stopped sending heartbeats):\n"
               "/job:worker/replica:0/task:1\nThe tasks have crashed.")
    assert lost_worker(message) == "worker 1"
    assert lost_worker("Socket closed") is None


@pytest.mark.parametrize("k,precision,xla", [(1, "fp32", "no_xla"), (2, "fp16", "no_xla"), (2, "fp32", "xla")])
def test_two_mirrored_replicas_train_like_one_at_twice_the_batch(repo_dir, tmp_path, k, precision, xla):
    """The loop's step on tf.distribute (strategy.run, replica all-reduce, the update on each
    device's copy) against the same loop on one device, for accumulation, loss scaling and XLA."""
    env = dict(os.environ, PYTHONPATH=f"{repo_dir}{os.pathsep}{repo_dir / 'tests' / 'training'}",
               TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, str(repo_dir / "tests" / "training" / "mirrored_toy.py"), str(k),
                             precision, xla, str(tmp_path)], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["steps"] == [3, 3]
    assert found["between_copies"] == 0.0, "every device's copy got the same update"
    assert found["two_against_one"] < 1e-5
    assert found["moved"] > 1e-3, "training changed the weights"


def test_the_mirrored_engine_reduces_gradients_in_packs_with_the_grouped_numbers(repo_dir):
    """MultiWorkerMirroredStrategy's collectives over two logical CPU devices: the engine's all-reduce
    launches one collective per pack, the first waiting for the last layers' gradients only (so on GPUs
    it runs while the lower layers' are computed), and gives the numbers of one grouped all-reduce."""
    env = dict(os.environ, PYTHONPATH=f"{repo_dir}{os.pathsep}{repo_dir / 'tests' / 'training'}",
               TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, str(repo_dir / "tests" / "training" / "gradient_packs_probe.py")],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    packed, grouped = found["packed"], found["grouped"]
    assert found["default_bytes_per_pack"] > 0, "the engine's default sends all gradients in one pack"
    # the toy's 7 gradients in the probe's three packs of >= 64 bytes, the output layer's first
    assert packed["collectives_per_replica"] == 3
    assert packed["waits_for"][0] == [4, 5, 6], "the first pack waits for gradients of lower layers"
    assert packed["waits_for"][-1] == list(range(packed["count"]))
    assert grouped["collectives_per_replica"] == 1 and grouped["waits_for"] == [list(range(grouped["count"]))]
    assert packed["replica_grads"] == grouped["replica_grads"]
    assert any(replicas[0] != replicas[1] for replicas in packed["replica_grads"]), "nothing to average"
    for p, g, replicas in zip(packed["reduced"], grouped["reduced"], packed["replica_grads"]):
        assert p == g, "packing changed the reduced numbers"
        assert p[0] == p[1], "the replicas disagree"
        np.testing.assert_allclose(p[0], np.mean(replicas, axis=0), rtol=1e-6, atol=1e-7)
