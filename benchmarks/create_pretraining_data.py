"""Throughput of create_pretraining_data.py with 1 and 2 workers; one JSON object per line on stdout.

Each configuration runs --repeat times (the fastest is reported, all times are listed: the
machine is shared). Each run is a fresh subprocess (so import and vocabulary loading count, as for a user) and its
peak RSS is the largest of the generator's processes (main and workers), from getrusage.
The reference: the original takes about 12 s (about 3,300 instances/s) for the default config.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def run_once(corpus, vocab, workers, dupe_factor, max_seq_length, output_dir):
    output = Path(output_dir) / f"bench_{workers}.tfrecord"
    command = [sys.executable, str(REPO / "create_pretraining_data.py"), f"--input_file={corpus}",
               f"--output_file={output}", f"--vocab_file={vocab}", f"--dupe_factor={dupe_factor}",
               f"--max_seq_length={max_seq_length}", f"--num_workers={workers}", "--progress=false"]
    # A wrapper process per run keeps RUSAGE_CHILDREN to this run's processes only.
    wrapper = ("import resource, subprocess, sys, json;"
               "r = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
               "print(json.dumps({'rc': r.returncode, 'stderr': r.stderr[-2000:],"
               " 'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    report = json.loads(completed.stdout)
    if report["rc"] != 0:
        raise SystemExit(f"generator failed with {workers} worker(s):\n{report['stderr']}")
    instances = sum(int(line.rsplit(":", 1)[1].split()[0]) for line in report["stderr"].splitlines()
                    if line.startswith("  ") and line.rstrip().endswith("instances"))
    for path in Path(output_dir).glob("bench_*"):
        os.remove(path)
    return {"name": "create_pretraining_data",
            "config": {"corpus": str(corpus), "dupe_factor": dupe_factor, "max_seq_length": max_seq_length,
                       "instances": instances},
            "instances_per_s": round(instances / seconds, 1), "seconds": round(seconds, 2),
            "peak_rss_mb": round(report["maxrss_kb"] / 1024, 1), "workers": workers}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", default=str(SHARED / "data" / "zh_corpus" / "clue_small.txt"))
    parser.add_argument("--vocab_file", default=str(SHARED / "data" / "nezha_vocab" / "vocab.txt"))
    parser.add_argument("--dupe_factor", type=int, default=5)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to run")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per worker count; the fastest is reported (the machine is shared)")
    args = parser.parse_args()
    for path in (args.corpus, args.vocab_file):
        if not Path(path).is_file():
            raise SystemExit(f"benchmark input not found: {path}")
    with tempfile.TemporaryDirectory() as output_dir:
        for workers in (int(w) for w in args.workers.split(",")):
            runs = [run_once(args.corpus, args.vocab_file, workers, args.dupe_factor, args.max_seq_length, output_dir)
                    for _ in range(max(1, args.repeat))]
            fastest = min(runs, key=lambda r: r["seconds"])
            fastest["config"]["repeats"] = len(runs)
            fastest["config"]["all_seconds"] = [r["seconds"] for r in runs]
            print(json.dumps(fastest), flush=True)


if __name__ == "__main__":
    main()
