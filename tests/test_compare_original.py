"""benchmarks/compare_original.py without the original: two variants of ours on the tiny model print
one line per implementation and case and one ratio line per case (no timing is asserted)."""
import json
import subprocess
import sys

IMPL_KEYS = {"case", "model", "impl", "seq_per_s", "seconds_median", "seconds_min", "seconds_max", "turns",
             "peak_rss_mb", "step_matmul_gflop", "matmul_share_median", "matmul_gflops_median",
             "matmul_gflops_min", "matmul_gflops_max", "load_average_1min"}
RATIO_KEYS = {"case", "model", "variant", "against", "speed_ratio_median", "speed_ratio_min", "speed_ratio_max",
              "turns", "peak_rss_ratio", "matmul_gflops_median"}
POSITIVE = ("seq_per_s", "seconds_median", "seconds_min", "seconds_max", "peak_rss_mb", "step_matmul_gflop",
            "matmul_share_median", "matmul_gflops_median", "matmul_gflops_min", "matmul_gflops_max")


def test_two_variants_without_the_original_print_their_lines_and_the_ratio(repo_dir):
    completed = subprocess.run(
        [sys.executable, "benchmarks/compare_original.py", "--nowith_original", "--model=tiny",
         "--cases=train,32,2;forward,32,2", "--pairs=2", "--warmup=1",
         "--variants=dense=--relative_attention=dense;per_distance=--relative_attention=per_distance"],
        cwd=repo_dir, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    lines = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    assert [(line["case"], line.get("impl") or line["variant"]) for line in lines] == [
        ("train_32x2", "dense"), ("train_32x2", "per_distance"), ("train_32x2", "per_distance"),
        ("forward_32x2", "dense"), ("forward_32x2", "per_distance"), ("forward_32x2", "per_distance")]
    for case in ("train_32x2", "forward_32x2"):
        dense, per_distance, ratio = [line for line in lines if line["case"] == case]
        for impl in (dense, per_distance):
            assert set(impl) == IMPL_KEYS and impl["model"] == "tiny" and impl["turns"] == 2
            assert all(impl[key] > 0 for key in POSITIVE), impl
            assert impl["seconds_min"] <= impl["seconds_median"] <= impl["seconds_max"]
            assert abs(impl["seq_per_s"] * impl["seconds_median"] - 2) < 0.01  # batch 2 over the median
            assert impl["matmul_gflops_min"] <= impl["matmul_gflops_median"] <= impl["matmul_gflops_max"]
        assert set(ratio) == RATIO_KEYS and ratio["against"] == "dense" and ratio["turns"] == 2
        assert 0 < ratio["speed_ratio_min"] <= ratio["speed_ratio_median"] <= ratio["speed_ratio_max"]
        assert abs(ratio["peak_rss_ratio"] - per_distance["peak_rss_mb"] / dense["peak_rss_mb"]) < 2e-3
    train_flops = [line["step_matmul_gflop"] for line in lines if line["case"] == "train_32x2" and "impl" in line]
    forward_flops = [line["step_matmul_gflop"] for line in lines if line["case"] == "forward_32x2" and "impl" in line]
    assert min(train_flops) > max(forward_flops)  # a training step does the forward's products and more
