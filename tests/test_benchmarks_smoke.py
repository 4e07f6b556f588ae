"""The benchmark suite's output format on micro configurations (no timing is asserted: the machine is shared)."""
import json
import subprocess
import sys

import pytest

COMMON_FIELDS = ("name", "config", "peak_rss_mb", "matmul_gflops")


def run_json_lines(repo_dir, *arguments):
    completed = subprocess.run([sys.executable, *arguments], cwd=repo_dir, capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def assert_case_format(result, rate_field):
    for field in COMMON_FIELDS:
        assert field in result, f"{field} missing from {result}"
    assert isinstance(result["config"], dict)
    assert result[rate_field] > 0
    assert result["peak_rss_mb"] > 0 and result["matmul_gflops"] > 0


@pytest.mark.parametrize("mode", ["train", "forward"])
def test_model_case_prints_one_json_line(repo_dir, mode):
    (result,) = run_json_lines(repo_dir, "benchmarks/pretraining_throughput.py", f"--case={mode},32,2,0",
                               "--model=tiny", "--warmup=1", "--steps=2")
    assert_case_format(result, "sequences_per_s")
    assert result["name"] == f"{mode}_32x2"
    assert result["config"]["model"] == "tiny" and result["config"]["seq"] == 32
    assert result["timed_calls"] == 2


def test_loop_overhead_case(repo_dir):
    (result,) = run_json_lines(repo_dir, "benchmarks/loop_overhead.py", "--log_every=3", "--timed_logs=1",
                               "--repeats=1")
    assert_case_format(result, "updates_per_s_fetch_on_log_steps")
    assert result["updates_per_s_fetch_every_update"] > 0
    assert result["config"]["timed_updates"] == 3


def test_input_pipeline_case(repo_dir, shared_dir):
    (result,) = run_json_lines(repo_dir, "benchmarks/input_pipeline.py", "--seconds=0.3", "--batch_size=4")
    assert_case_format(result, "records_per_s")
    assert result["batches"] > 0


def test_run_all_reports_a_stopped_case_instead_of_hanging(repo_dir, shared_dir, tmp_path):
    output = tmp_path / "results.jsonl"
    results = run_json_lines(repo_dir, "benchmarks/run_all.py", "--only=create_pretraining_data_2",
                             "--quick", "--case_timeout_s=0.5", f"--output={output}")
    assert [r["name"] for r in results] == ["create_pretraining_data_2_workers"]
    assert "stopped after" in results[0]["skipped"]
    assert [json.loads(line) for line in output.read_text().splitlines()] == results


def test_input_pipeline_dynamic_case(repo_dir, shared_dir):
    (result,) = run_json_lines(repo_dir, "benchmarks/input_pipeline.py", "--dynamic_masking", "--seconds=0.3",
                               "--batch_size=4")
    assert_case_format(result, "records_per_s")
    assert result["name"] == "input_pipeline_dynamic"
    assert result["static_records_per_s"] > 0 and result["dynamic_over_static"] > 0


def test_op_profile_counts_the_kernels_inside_a_function(repo_dir):
    # The trace is parsed in a subprocess: the profiler is process-wide.
    script = """
import json, sys
import tensorflow as tf
sys.path.insert(0, "benchmarks")
from op_profile import profile_steps, summarize
x = tf.random.normal([128, 128])
step = tf.function(lambda: tf.tanh(tf.matmul(x, x)))
step()
print(json.dumps(summarize(profile_steps(lambda: step().numpy(), steps=2))))
"""
    (profile,) = run_json_lines(repo_dir, "-c", script)
    op_types = [op_type for op_type, _, _ in profile["top_ops"]]
    assert "Tanh" in op_types
    assert any("MatMul" in op_type for op_type in op_types)
    assert not {"PartitionedCall", "StatefulPartitionedCall"} & set(op_types), "containers would count twice"
    assert 0 < profile["matmul_op_share"] < 1
    assert abs(sum(share for _, _, share in profile["top_ops"]) + profile["other_share"] - 1) < 0.01


def test_soak_case_samples_rss_and_fits_the_growth(repo_dir, shared_dir):
    (result,) = run_json_lines(repo_dir, "benchmarks/soak.py", "--updates=20", "--checkpoint_every=10",
                               "--sample_every=5", "--eval_batches=1", "--batch_size=2")
    assert_case_format(result, "updates_per_s")
    assert result["name"] == "soak" and result["updates"] == 20
    assert result["checkpoints"] == 2 and result["evaluations"] == 2
    assert [step for step, _ in result["rss_samples"]] == [5, 10, 15, 20]
    assert all(mb > 0 for _, mb in result["rss_samples"])
    assert isinstance(result["rss_growth_mb_per_1000_updates"], float)
    assert isinstance(result["rss_growth_between_checkpoints_mb_per_1000_updates"], float)
    assert len(result["rss_added_across_each_checkpoint_and_evaluation_mb"]) == 1  # the one at 10 (20 is the end)


def test_finetune_speed_prints_one_line_per_variant(repo_dir, shared_dir):
    results = run_json_lines(repo_dir, "benchmarks/finetune_speed.py", "--tasks=lcqmc", "--model=tiny",
                             "--variants=fixed=--pad_to_max_seq_length;dynamic=", "--train_steps=1", "--turns=1",
                             "--predict_batches=1", "--max_examples=32", "--batch_size=4")
    assert [r["variant"] for r in results] == ["fixed", "dynamic"]
    for result in results:
        assert result["task"] == "lcqmc" and result["model"] == "tiny" and result["matmul_gflops_median"] > 0
        assert result["train_examples_per_s"] > 0 and result["predict_examples_per_s"] > 0
    fixed, dynamic = results
    assert fixed["train_padded_length_mean"] == fixed["predict_padded_length_mean"] == 128
    assert dynamic["predict_padded_length_mean"] < 128 and dynamic["predict_padded_length_mean"] % 8 == 0
    assert fixed["train_speed_over_fixed"] == 1.0
    # the warm-up went through every length a batch can be padded to (one for fixed shapes)
    assert fixed["first_time_seconds"] > 0 and dynamic["first_time_seconds"] > 0
