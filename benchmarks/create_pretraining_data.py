"""Throughput of create_pretraining_data.py with 1 and 2 workers; one JSON object per line on stdout.

With --dynamic_masking it writes the unmasked records of run_pretraining.py --dynamic_masking
(compare `--dynamic_masking --dupe_factor=1` with the default dupe_factor 5: time and output_mb).

Each configuration runs --repeat times (the fastest is reported, all times are listed: the
machine is shared). Each run is a fresh subprocess (so import and vocabulary loading count, as for a user) and its
peak RSS is the largest of the generator's processes (main and workers), from getrusage.
The reference: the original takes about 12 s (about 3,300 instances/s) for the default config.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

REPO = common.REPO
FLAGS = flags.FLAGS
flags.DEFINE_string("corpus", str(common.CORPUS_FILE), "Input text: one sentence per line, blank line between documents.")
flags.DEFINE_string("vocab_file", str(common.VOCAB_FILE), "WordPiece vocabulary.")
flags.DEFINE_integer("dupe_factor", 5, "Passes over the corpus with different masks (the original's flag).")
flags.DEFINE_integer("max_seq_length", 128, "Sequence length of the instances.")
flags.DEFINE_string("workers", "1,2", "Comma-separated worker counts to run.")
flags.DEFINE_integer("repeat", 3, "Runs per worker count; the fastest is reported (the machine is shared).")
flags.DEFINE_bool("dynamic_masking", False, "Write unmasked records for run_pretraining.py --dynamic_masking "
                  "(usually with --dupe_factor=1) instead of masked ones.")
flags.DEFINE_bool("chinese_wwm", False, "Chinese whole-word masking groups (jieba), as the generator's flag.")


def run_once(corpus, vocab, workers, dupe_factor, max_seq_length, output_dir, dynamic_masking=False,
             chinese_wwm=False):
    output = Path(output_dir) / f"bench_{workers}.tfrecord"
    command = [sys.executable, str(REPO / "create_pretraining_data.py"), f"--input_file={corpus}",
               f"--output_file={output}", f"--vocab_file={vocab}", f"--dupe_factor={dupe_factor}",
               f"--max_seq_length={max_seq_length}", f"--num_workers={workers}", "--progress=false",
               f"--dynamic_masking={dynamic_masking}", f"--chinese_wwm={chinese_wwm}"]
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
    output_bytes = 0
    for path in Path(output_dir).glob("bench_*"):
        output_bytes += path.stat().st_size
        os.remove(path)
    kind = "_dynamic" if dynamic_masking else ""
    return {"name": f"create_pretraining_data{kind}_{workers}_worker{'s' if workers > 1 else ''}",
            "config": {"corpus": str(corpus), "dupe_factor": dupe_factor, "max_seq_length": max_seq_length,
                       "instances": instances, "workers": workers, "dynamic_masking": dynamic_masking,
                       "chinese_wwm": chinese_wwm},
            "instances_per_s": round(instances / seconds, 1), "seconds": round(seconds, 2),
            "output_mb": round(output_bytes / 1e6, 2),
            "peak_rss_mb": round(report["maxrss_kb"] / 1024, 1), "workers": workers}


def main(argv):
    del argv
    common.quiet_tensorflow()
    for path in (FLAGS.corpus, FLAGS.vocab_file):
        common.require_file(path)
    with tempfile.TemporaryDirectory() as output_dir:
        for workers in (int(w) for w in FLAGS.workers.split(",")):
            runs = [run_once(FLAGS.corpus, FLAGS.vocab_file, workers, FLAGS.dupe_factor, FLAGS.max_seq_length,
                             output_dir, FLAGS.dynamic_masking, FLAGS.chinese_wwm) for _ in range(max(1, FLAGS.repeat))]
            fastest = min(runs, key=lambda r: r["seconds"])
            fastest["config"]["repeats"] = len(runs)
            fastest["config"]["all_seconds"] = [r["seconds"] for r in runs]
            # Measured here, between the generator runs, in the benchmark's own process.
            fastest["matmul_gflops"] = common.matmul_gflops()
            common.emit(fastest)


if __name__ == "__main__":
    app.run(main)
