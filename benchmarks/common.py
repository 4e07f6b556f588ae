"""What every benchmark case shares: the JSON line it prints, peak RSS and the machine's matmul rate.

Every case is a separate process (run_all.py starts one per case), so `peak_rss_mb` is the case's
own high-water mark and `matmul_gflops` is measured in the same process, under the same load, as
the case itself: dividing a case's rate by it gives a number that compares across machines.
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
NEZHA_BASE_CONFIG = SHARED / "data" / "nezha_vocab" / "bert_config.json"
VOCAB_FILE = SHARED / "data" / "nezha_vocab" / "vocab.txt"
CORPUS_FILE = SHARED / "data" / "zh_corpus" / "clue_small.txt"
PRETRAIN_TOY_DIR = SHARED / "data" / "pretrain_toy"

MATMUL_SIZE = 2048


def quiet_tensorflow() -> None:
    """Keeps TensorFlow's start-up chatter off stderr (set before TensorFlow is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def require_file(path: Path) -> Path:
    if not Path(path).is_file():
        raise SystemExit(f"benchmark input not found: {path} (the shared data belongs beside the clone)")
    return Path(path)


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """High-water resident set size (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def matmul_gflops(repeats: int = 5) -> float:
    """Best float32 rate of a 2048x2048x2048 tf.matmul over `repeats` runs (after one warm-up)."""
    import tensorflow as tf

    a = tf.random.stateless_uniform([MATMUL_SIZE, MATMUL_SIZE], seed=[1, 2])
    b = tf.random.stateless_uniform([MATMUL_SIZE, MATMUL_SIZE], seed=[3, 4])
    tf.matmul(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        tf.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - started)
    return round(2 * MATMUL_SIZE ** 3 / best / 1e9, 1)


def time_calls(function: Callable[[], object], warmup: int, repeats: int) -> List[float]:
    """Seconds of each of `repeats` calls, after `warmup` untimed calls (compilation, first allocations)."""
    for _ in range(warmup):
        function()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return seconds


def timing_fields(seconds: List[float], items_per_call: int, rate_name: str) -> Dict[str, object]:
    """Rate from the median call (robust to a neighbour's burst on a shared machine), plus the spread."""
    median = statistics.median(seconds)
    return {rate_name: round(items_per_call / median, 3), "seconds_per_call_median": round(median, 4),
            "seconds_per_call_min": round(min(seconds), 4), "seconds_per_call_max": round(max(seconds), 4),
            "timed_calls": len(seconds)}


def record(name: str, config: Dict[str, object], fields: Dict[str, object],
           gflops: Optional[float] = None, rss_mb: Optional[float] = None) -> Dict[str, object]:
    """One result in the suite's format: name, config, the case's fields, peak_rss_mb, matmul_gflops."""
    result = {"name": name, "config": config}
    result.update(fields)
    result["peak_rss_mb"] = peak_rss_mb() if rss_mb is None else rss_mb
    result["matmul_gflops"] = matmul_gflops() if gflops is None else gflops
    return result


def emit(result: Dict[str, object]) -> None:
    """Prints one JSON object on its own line (the only thing a case writes to stdout)."""
    print(json.dumps(result, sort_keys=False), flush=True)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def reply(message: Dict[str, object]) -> None:
    """A worker's answer to its parent (PipeWorker.ask): one JSON line on stdout."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class PipeWorker:
    """A worker process of a side-by-side benchmark: it answers each command line written to its
    stdin with one JSON line (`reply`); its stderr goes to a log file quoted when it dies."""

    def __init__(self, name: str, command: List[str], log_prefix: str):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
        self.name = name
        self.log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"{log_prefix}_{os.getpid()}_{name}.log", "w")
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                        text=True, env=env)

    def ask(self, command: Optional[str] = None) -> Dict[str, object]:
        if command:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        while True:
            line = self.process.stdout.readline()
            if not line:
                self.process.wait()
                self.log.flush()
                tail = Path(self.log.name).read_text()[-800:]
                raise RuntimeError(f"worker {self.name} ended (exit {self.process.returncode}): {tail}")
            if line.startswith("{"):  # the original's code prints progress of its own on stdout
                return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
