"""Running the generator: input planning, shard naming, worker processes, progress and summary.

With one worker this is the original: one `random.Random(seed)`, every input file read in
order into one document list, instances round-robin over the output files. With N workers,
each worker reads only its share of the input (whole files when there are at least N of them,
otherwise contiguous byte ranges cut at document boundaries), draws from its own rng derived
from (seed, worker index, N), picks random-next sentences among its own documents, and writes
its own shards; the result is deterministic for a given (seed, N).
"""

import contextlib
import dataclasses
import glob
import hashlib
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing

from data.atomic import atomic_output
from data.pretraining_data import (CLS, MASK, SEP, PretrainingDataError, ReadStats, Source,
                                   create_training_instances, read_documents)
from data.tfrecord_output import write_round_robin
from data.unmasked_instances import instance_encoder
from data.tokenization import VocabularyError, make_tokenizer

_GLOB_CHARS = set("*?[")


def expand_input_patterns(patterns):
    """Files of comma-separated globs, each glob's matches sorted, in the order given."""
    files = []
    for pattern in [p.strip() for p in patterns.split(",") if p.strip()]:
        matches = sorted(glob.glob(pattern))
        if not matches:
            if _GLOB_CHARS & set(pattern):
                raise PretrainingDataError(f"input pattern matches no file: {pattern}")
            raise PretrainingDataError(f"input file not found: {pattern}")
        for path in matches:
            if not os.path.isfile(path):
                raise PretrainingDataError(f"input is not a file: {path}")
            files.append(path)
    if not files:
        raise PretrainingDataError("no input file given (--input_file)")
    return files


def next_document_start(path, offset):
    """The first byte at or after `offset` that starts a document (just after a blank line)."""
    if offset <= 0:
        return 0
    with open(path, "rb") as reader:
        reader.seek(offset - 1)
        reader.readline()  # the rest of the line `offset` falls in
        while True:
            position = reader.tell()
            line = reader.readline()
            if not line:
                return position
            if not line.decode("utf-8", errors="replace").strip():
                return position + len(line)


def plan_sources(files, num_workers):
    """Per worker, the Sources it reads (see the module docstring)."""
    if num_workers == 1:
        return [[Source(f) for f in files]]
    sizes = [os.path.getsize(f) for f in files]
    if len(files) >= num_workers:
        # Largest file first to the least loaded worker: balanced and deterministic.
        loads = [0] * num_workers
        assigned = [[] for _ in range(num_workers)]
        for index in sorted(range(len(files)), key=lambda i: (-sizes[i], i)):
            worker = min(range(num_workers), key=lambda w: (loads[w], w))
            loads[worker] += sizes[index]
            assigned[worker].append(index)
        return [[Source(files[i]) for i in sorted(indexes)] for indexes in assigned]
    # Fewer files than workers: cut the concatenated input into N byte ranges.
    starts = [0]
    for size in sizes:
        starts.append(starts[-1] + size)
    total = starts[-1]
    cuts = [0]
    for worker in range(1, num_workers):
        target = max(total * worker // num_workers, cuts[-1])
        file_index = max(i for i in range(len(files)) if starts[i] <= target) if files else 0
        local = next_document_start(files[file_index], target - starts[file_index])
        cuts.append(max(cuts[-1], starts[file_index] + local))
    cuts.append(total)
    plans = []
    for worker in range(num_workers):
        low, high = cuts[worker], cuts[worker + 1]
        plan = []
        for i, path in enumerate(files):
            begin, end = max(low, starts[i]), min(high, starts[i + 1])
            if begin < end:
                plan.append(Source(path, begin - starts[i], end - starts[i]))
        plans.append(plan)
    return plans


def shard_paths(output_files, num_workers):
    """Per worker, the output files it writes round-robin.

    One worker: all of them. N workers and at least N output files: worker w gets files w,
    w+N, w+2N, ... Fewer output files than workers: every output name NAME becomes one shard
    per worker, NAME-0000w-of-0000N.
    """
    if num_workers == 1:
        return [list(output_files)]
    if len(output_files) >= num_workers:
        return [list(output_files[w::num_workers]) for w in range(num_workers)]
    return [[f"{name}-{w:05d}-of-{num_workers:05d}" for name in output_files] for w in range(num_workers)]


def worker_rng(seed, worker_index, num_workers):
    if num_workers == 1:
        return random.Random(seed)  # the original's single generator
    digest = hashlib.sha256(f"{seed}:{worker_index}:{num_workers}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


class Progress:
    """Throttled progress lines on stderr for one worker."""

    def __init__(self, label, total_bytes, interval=2.0, stream=None, enabled=True):
        self.label = label
        self.total_bytes = total_bytes
        self.interval = interval
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.start = time.monotonic()
        self._last = self.start
        self.bytes_read = 0
        self.documents_done = 0
        self.documents_total = 0
        self.instances = 0
        self._phase_start = self.start

    def _due(self):
        now = time.monotonic()
        if not self.enabled or now - self._last < self.interval:
            return None
        self._last = now
        return now

    def say(self, message):
        if self.enabled:
            print(f"[{self.label}] {message}", file=self.stream, flush=True)

    def on_bytes(self, count):
        self.bytes_read += count
        now = self._due()
        if now is None:
            return
        rate = self.bytes_read / max(now - self._phase_start, 1e-9)
        eta = (self.total_bytes - self.bytes_read) / rate if rate > 0 else float("nan")
        self.say(f"reading: {self.bytes_read / 1e6:.1f} of {self.total_bytes / 1e6:.1f} MB, "
                 f"{rate / 1e6:.2f} MB/s, ETA {eta:.0f}s")

    def start_instances(self, num_documents, rounds):
        self.documents_total = num_documents * rounds
        self._phase_start = time.monotonic()
        self.say(f"read {self.bytes_read / 1e6:.1f} MB in {self._phase_start - self.start:.1f}s; "
                 f"making instances from {num_documents} documents x {rounds} rounds")

    def on_document(self, instances_made):
        self.documents_done += 1
        self.instances += instances_made
        now = self._due()
        if now is None:
            return
        elapsed = max(now - self._phase_start, 1e-9)
        docs_rate = self.documents_done / elapsed
        eta = (self.documents_total - self.documents_done) / docs_rate if docs_rate > 0 else float("nan")
        self.say(f"instances: {self.instances} ({self.instances / elapsed:.0f}/s), documents "
                 f"{self.documents_done}/{self.documents_total} ({docs_rate:.0f}/s), ETA {eta:.0f}s")


@dataclasses.dataclass(frozen=True)
class WorkerTask:
    worker_index: int
    num_workers: int
    sources: tuple
    output_paths: tuple  # where to write (temporary names chosen by the caller)
    vocab_file: str
    spm_model_file: str
    do_lower_case: bool
    config: object
    random_seed: int
    show_progress: bool = True


@dataclasses.dataclass
class WorkerResult:
    worker_index: int
    documents: int
    instances_per_output: list
    read_stats: ReadStats


def _line_tokenizer(tokenizer, config):
    if not config.chinese_wwm:
        return tokenizer.tokenize
    from data.chinese_words import ChineseWordSegmenter

    try:
        return ChineseWordSegmenter(tokenizer).tokenize
    except TypeError as err:
        raise PretrainingDataError(str(err)) from None


def run_worker(task):
    """Read, build and write one worker's share; returns what it wrote."""
    label = "cpd" if task.num_workers == 1 else f"worker {task.worker_index + 1}/{task.num_workers}"
    progress = Progress(label, sum(s.size() for s in task.sources), enabled=task.show_progress)
    try:
        tokenizer = make_tokenizer(task.vocab_file, task.spm_model_file, task.do_lower_case)
    except VocabularyError as err:
        raise PretrainingDataError(str(err)) from None
    missing = [t for t in (CLS, SEP, MASK) if t not in tokenizer.vocab]
    if missing:
        raise PretrainingDataError(f"the vocabulary lacks the special tokens {missing}")
    config = task.config
    documents, stats = read_documents(task.sources, _line_tokenizer(tokenizer, config), on_bytes=progress.on_bytes)
    if not documents and task.num_workers == 1:
        raise PretrainingDataError("the input has no document with a non-empty line: nothing to write")
    rng = worker_rng(task.random_seed, task.worker_index, task.num_workers)
    progress.start_instances(len(documents), config.dupe_factor)
    vocab_words = list(tokenizer.vocab.keys())
    instances = create_training_instances(documents, config, vocab_words, rng, on_document=progress.on_document)
    num_documents = len(documents)
    del documents
    progress.say(f"writing {len(instances)} instances to {len(task.output_paths)} file(s)")
    encoder = instance_encoder(tokenizer.vocab, config)
    try:
        records = [encoder.encode(instance) for instance in instances]
    except KeyError as err:
        raise PretrainingDataError(f"token {err.args[0]!r} is not in the vocabulary (is [UNK] missing?)") from None
    del instances
    counts = write_round_robin(records, list(task.output_paths))
    return WorkerResult(task.worker_index, num_documents, counts, stats)


def generate(input_patterns, output_files, vocab_file, spm_model_file, do_lower_case, config, random_seed,
             num_workers=1, show_progress=True):
    """Runs the generator; returns {output path: instances written}. Raises PretrainingDataError."""
    config.validate()
    if num_workers < 1:
        raise PretrainingDataError(f"num_workers={num_workers} must be >= 1")
    if not output_files:
        raise PretrainingDataError("no output file given (--output_file)")
    if len(set(output_files)) != len(output_files):
        raise PretrainingDataError("an output file is named twice in --output_file")
    if spm_model_file:
        if not os.path.isfile(spm_model_file):
            raise PretrainingDataError(f"SentencePiece model file not found: {spm_model_file}")
    elif not vocab_file or not os.path.isfile(vocab_file):
        raise PretrainingDataError(f"vocabulary file not found: {vocab_file}")
    files = expand_input_patterns(input_patterns)
    plans = plan_sources(files, num_workers)
    shards = shard_paths(output_files, num_workers)
    for path in (p for paths in shards for p in paths):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    with contextlib.ExitStack() as outputs:
        # Every shard is renamed to its final name only once all workers have succeeded.
        temporaries = [[outputs.enter_context(atomic_output(p)) for p in paths] for paths in shards]
        tasks = [WorkerTask(w, num_workers, tuple(plans[w]), tuple(temporaries[w]), vocab_file, spm_model_file,
                            do_lower_case, config, random_seed, show_progress) for w in range(num_workers)]
        if num_workers == 1:
            results = [run_worker(tasks[0])]
        else:
            with ProcessPoolExecutor(num_workers, mp_context=multiprocessing.get_context("fork")) as pool:
                results = list(pool.map(run_worker, tasks))
        if sum(sum(r.instances_per_output) for r in results) == 0:
            raise PretrainingDataError("the input has no document with a non-empty line: nothing to write")
    summary = {}
    for result in results:
        for path, count in zip(shards[result.worker_index], result.instances_per_output):
            summary[path] = count
    return summary, results
