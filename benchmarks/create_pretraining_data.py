"""Throughput and memory of create_pretraining_data.py; one JSON object per line on stdout.

Each run is a fresh subprocess (so import and vocabulary loading count, as for a user) started
through a small wrapper, whose RUSAGE_CHILDREN then covers that run's processes only: its
`ru_maxrss` is the peak RSS of the largest of them (the main process or one worker), reported
as `peak_rss_mb`, i.e. per process, and its user + system time is `cpu_seconds` (all processes
together). On a loaded shared machine wall time mostly measures the other tenants (a run that
needs 30 s of CPU took 260 s at a load average of 10 on 2 cores); CPU time barely moves with
load, so `cpu_ratio` (baseline CPU seconds / ours) is the firmer speed comparison. While the run goes, /proc is sampled every half second for
the RSS of every process of the run, and `rss_timeline_mb` gives the largest per-process RSS in
each tenth of the run: flat for a run whose memory does not grow with the corpus.

Cases (--cases):
- `small` (what `make bench` runs): the shared 2 MB corpus, --workers (1 and 2), --repeat runs each.
- `scale`: the corpus sizes of issue 13, built in a temporary directory by repeating the shared
  corpus: one worker on 20 MB (10 copies), two workers on 100 MB (50 copies), and grouped mode
  (--group_size_mb, two workers) on --grouped_copies and --grouped_copies_small copies, whose peak
  RSS should be the same if memory is bounded by the group.
With --baseline_repo (another checkout, e.g. the commit before a change), every run is made there
too, alternating with ours, and our line carries `speed_ratio` (baseline seconds / ours).
The original's figures (issue 13, same machine kind): 20 MB 100 s and 2.0 GB; 2 MB about 12 s.
With --dynamic_masking it writes the unmasked records of run_pretraining.py --dynamic_masking
(compare `--dynamic_masking --dupe_factor=1` with the default dupe_factor 5: time and output_mb).
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
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
flags.DEFINE_integer("grouped_dupe_factor", 1, "dupe_factor of the grouped cases (memory does not depend on it; "
                     "time does, five times over at 5).")
flags.DEFINE_integer("max_seq_length", 128, "Sequence length of the instances.")
flags.DEFINE_string("workers", "1,2", "Comma-separated worker counts to run (cases=small).")
flags.DEFINE_integer("repeat", 3, "Runs per configuration; the fastest is reported (the machine is shared).")
flags.DEFINE_enum("cases", "small", ["small", "scale"], "Which cases to run (see the module docstring).")
flags.DEFINE_string("only", None, "With cases=scale: comma-separated names among 20mb_1_worker, 100mb_2_workers, "
                    "grouped, grouped_small.")
flags.DEFINE_float("group_size_mb", 64.0, "--group_size_mb of the grouped cases.")
flags.DEFINE_integer("grouped_copies", 500, "Copies of the corpus for the grouped case (500: about 1 GB).")
flags.DEFINE_integer("grouped_copies_small", 0, "If > 0, the grouped case is also run on this many copies, to compare "
                     "peak RSS at two corpus sizes.")
flags.DEFINE_string("baseline_repo", None, "Another checkout whose create_pretraining_data.py is run side by side.")
flags.DEFINE_bool("baseline_first", False, "Run the baseline before ours in each alternation (to see whether the "
                  "order, i.e. the load's drift, decides a wall-time comparison).")
flags.DEFINE_bool("dynamic_masking", False, "Write unmasked records for run_pretraining.py --dynamic_masking "
                  "(usually with --dupe_factor=1) instead of masked ones.")
flags.DEFINE_bool("chinese_wwm", False, "Chinese whole-word masking groups (jieba), as the generator's flag.")
flags.DEFINE_string("work_dir", None, "Where corpora and outputs go (default: a temporary directory, removed after).")

_WRAPPER = ("import resource, subprocess, sys, json;"
            "r = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
            "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
            "print(json.dumps({'rc': r.returncode, 'stderr': r.stderr[-4000:],"
            " 'maxrss_kb': u.ru_maxrss, 'cpu_s': u.ru_utime + u.ru_stime}))")


def _descendants(root):
    """pid -> RSS in KiB of `root` and every process below it, from /proc."""
    parents, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
        except (OSError, IndexError, ValueError):
            continue
    found = {}
    for pid in parents:
        chain = pid
        while chain in parents and chain != root and chain > 1:
            chain = parents[chain]
        if chain == root:
            found[pid] = rss[pid]
    return found


class _RssSampler(threading.Thread):
    def __init__(self, root, interval=0.5):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.samples = []  # (seconds since start, largest per-process RSS in KiB, processes)
        self.stop = threading.Event()
        self.start_time = time.perf_counter()

    def run(self):
        while not self.stop.is_set():
            found = _descendants(self.root)
            if found:
                self.samples.append((time.perf_counter() - self.start_time, max(found.values()), len(found)))
            self.stop.wait(self.interval)

    def timeline(self, parts=10):
        if not self.samples:
            return []
        end = self.samples[-1][0] or 1.0
        buckets = [0] * parts
        for seconds, largest, _ in self.samples:
            index = min(parts - 1, int(parts * seconds / end))
            buckets[index] = max(buckets[index], largest)
        return [round(b / 1024, 1) for b in buckets]


def run_once(repo, corpus, workers, dupe_factor, output_dir, group_size_mb=None):
    output = Path(output_dir) / "bench.tfrecord"
    command = [sys.executable, str(Path(repo) / "create_pretraining_data.py"), f"--input_file={corpus}",
               f"--output_file={output}", f"--vocab_file={FLAGS.vocab_file}", f"--dupe_factor={dupe_factor}",
               f"--max_seq_length={FLAGS.max_seq_length}", f"--num_workers={workers}", "--progress=false"]
    # only when asked: a baseline checkout may not know these flags
    command += ["--dynamic_masking"] * FLAGS.dynamic_masking + ["--chinese_wwm"] * FLAGS.chinese_wwm
    if group_size_mb:
        command.append(f"--group_size_mb={group_size_mb}")
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", _WRAPPER, *command], stdout=subprocess.PIPE, text=True,
                               cwd=repo)
    sampler = _RssSampler(process.pid)
    sampler.start()
    stdout, _ = process.communicate()
    seconds = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    report = json.loads(stdout)
    if report["rc"] != 0:
        raise SystemExit(f"generator failed ({command}):\n{report['stderr']}")
    instances = sum(int(line.rsplit(":", 1)[1].split()[0]) for line in report["stderr"].splitlines()
                    if line.startswith("  ") and line.rstrip().endswith("instances"))
    output_bytes = sum(p.stat().st_size for p in Path(output_dir).glob("bench*"))
    for path in Path(output_dir).glob("bench*"):
        os.remove(path)
    return {"seconds": round(seconds, 2), "cpu_seconds": round(report["cpu_s"], 2), "instances": instances, "output_mb": round(output_bytes / 1e6, 1),
            "peak_rss_mb": round(report["maxrss_kb"] / 1024, 1), "rss_timeline_mb": sampler.timeline(),
            "processes": max((n for _, _, n in sampler.samples), default=0)}


def build_corpus(directory, copies):
    path = Path(directory) / f"corpus_x{copies}.txt"
    if not path.exists():
        text = Path(FLAGS.corpus).read_bytes()
        with open(path, "wb") as writer:
            for _ in range(copies):
                writer.write(text)
    return path


def measure(name, corpus, workers, dupe_factor, work_dir, repeats, group_size_mb=None):
    # The baseline has no grouped mode to compare with.
    with_baseline = FLAGS.baseline_repo and not group_size_mb
    variants = [("ours", REPO)] + ([("baseline", FLAGS.baseline_repo)] if with_baseline else [])
    runs = {label: [] for label, _ in variants}
    for _ in range(max(1, repeats)):
        for label, repo in (variants[::-1] if FLAGS.baseline_first else variants):  # alternating: the same load
            with tempfile.TemporaryDirectory(dir=work_dir) as output_dir:
                runs[label].append(run_once(repo, corpus, workers, dupe_factor, output_dir, group_size_mb))
    gflops = common.matmul_gflops()  # measured here, between the generator runs
    fastest = {label: min(r, key=lambda run: run["seconds"]) for label, r in runs.items()}
    for label, _ in variants:
        best = fastest[label]
        result = {"name": name if label == "ours" else f"{name}_baseline",
                  "config": {"corpus": str(corpus), "corpus_mb": round(Path(corpus).stat().st_size / 1e6, 1),
                             "dupe_factor": dupe_factor, "max_seq_length": FLAGS.max_seq_length, "workers": workers,
                             "group_size_mb": group_size_mb, "dynamic_masking": FLAGS.dynamic_masking,
                             "chinese_wwm": FLAGS.chinese_wwm, "instances": best["instances"], "repeats": len(runs[label]),
                             "all_seconds": [r["seconds"] for r in runs[label]],
                             "repo": str(REPO if label == "ours" else FLAGS.baseline_repo)},
                  "instances_per_s": round(best["instances"] / best["seconds"], 1), "seconds": best["seconds"],
                  "cpu_seconds": min(r["cpu_seconds"] for r in runs[label]),
                  "instances_per_cpu_s": round(best["instances"] / min(r["cpu_seconds"] for r in runs[label]), 1),
                  "peak_rss_mb": max(r["peak_rss_mb"] for r in runs[label]),
                  "rss_timeline_mb": best["rss_timeline_mb"], "processes": best["processes"],
                  "output_mb": best["output_mb"], "workers": workers, "matmul_gflops": gflops}
        if label == "ours" and "baseline" in fastest:
            result["speed_ratio"] = round(fastest["baseline"]["seconds"] / best["seconds"], 3)
            result["cpu_ratio"] = round(min(r["cpu_seconds"] for r in runs["baseline"])
                                        / min(r["cpu_seconds"] for r in runs["ours"]), 3)
            result["memory_ratio"] = round(result["peak_rss_mb"] / max(r["peak_rss_mb"] for r in runs["baseline"]), 3)
        common.emit(result)


def main(argv):
    del argv
    common.quiet_tensorflow()
    for path in (FLAGS.corpus, FLAGS.vocab_file):
        common.require_file(path)
    with tempfile.TemporaryDirectory(dir=FLAGS.work_dir) as work_dir:
        if FLAGS.cases == "small":
            for workers in (int(w) for w in FLAGS.workers.split(",")):
                suffix = "s" if workers > 1 else ""
                measure(f"create_pretraining_data_{workers}_worker{suffix}", FLAGS.corpus, workers, FLAGS.dupe_factor,
                        work_dir, FLAGS.repeat)
            return
        wanted = set(FLAGS.only.split(",")) if FLAGS.only else {"20mb_1_worker", "100mb_2_workers", "grouped",
                                                                  "grouped_small"}
        if "20mb_1_worker" in wanted:
            measure("create_pretraining_data_20mb_1_worker", build_corpus(work_dir, 10), 1, FLAGS.dupe_factor,
                    work_dir, FLAGS.repeat)
        if "100mb_2_workers" in wanted:
            measure("create_pretraining_data_100mb_2_workers", build_corpus(work_dir, 50), 2, FLAGS.dupe_factor,
                    work_dir, FLAGS.repeat)
        grouped = [("grouped", FLAGS.grouped_copies)]
        if FLAGS.grouped_copies_small > 0:
            grouped.append(("grouped_small", FLAGS.grouped_copies_small))
        for label, copies in grouped:
            if label in wanted:
                corpus = build_corpus(work_dir, copies)
                size = round(corpus.stat().st_size / 1e6)
                measure(f"create_pretraining_data_groups{FLAGS.group_size_mb:g}mb_{size}mb_2_workers", corpus, 2, FLAGS.grouped_dupe_factor,
                        work_dir, FLAGS.repeat, group_size_mb=FLAGS.group_size_mb)
                corpus.unlink()


if __name__ == "__main__":
    app.run(main)
