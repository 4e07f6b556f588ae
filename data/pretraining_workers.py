"""Running the generator: input planning, shard naming, worker processes, tasks, progress and summary.

Every unit of work (the whole input, a worker's share or a group) is made the same way, in
bounded memory: its documents are read into a compact `Corpus` of token ids, each instance is
encoded to its TFRecord frame as soon as it is made and appended to an unnamed spool file, and
the final shuffle permutes only the instance indexes (the permutation `rng.shuffle` gives a list
depends on its length and the rng alone), after which the frames are copied from the spool to
the outputs in that order. Memory is then about five bytes per corpus byte plus a constant.

With one worker this is the original: one `random.Random(seed)`, every input file read in
order into one document list, instances round-robin over the output files, byte for byte.
With N workers, each worker reads only its share of the input (whole files when there are at
least N of them, otherwise contiguous byte ranges cut at document boundaries), draws from its
own rng derived from (seed, worker index, N), picks random-next sentences among its own
documents, and writes its own shards; the result is deterministic for a given (seed, N).

With groups (`group_bytes`), every input file is cut into groups of whole documents of at most
that size, and each group is generated as the original would generate that group alone with
the seed `group_seed(seed, group index)`: memory is bounded by the group, whatever the corpus.

Tasks (many processes started by a launcher such as horovodrun or mpirun, or by hand) share the
work without talking to each other: every task computes the same plan from the same files, and
task t of T runs global workers t*W .. t*W + W-1 of T*W (or, with groups, groups t, t+T, ...).
"""

import contextlib
import dataclasses
import glob
import hashlib
import multiprocessing
import os
import random
import re
import signal
import sys
import time

from fileio.atomic import atomic_output
from data.pretraining_data import (CONTINUATION_FLAG, PretrainingDataError, ReadStats, Source, TokenKinds,
                                   iter_training_instances, read_corpus, shuffled_order)
from data.tfrecord_output import RecordSpool, write_in_order
from data.unmasked_instances import instance_encoder
from data.tokenization import VocabularyError, make_tokenizer

_GLOB_CHARS = set("*?[")
_BOUNDARY_WINDOW = 1 << 20  # first window of the backward search for a group's last document start

# Rank and size as set by the launchers users already run for training; the first pair present wins.
LAUNCHER_VARIABLES = (
    ("HOROVOD_RANK", "HOROVOD_SIZE"),  # horovodrun (Gloo or MPI)
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),  # Open MPI's mpirun
    ("PMI_RANK", "PMI_SIZE"),  # MPICH / Intel MPI, srun with PMI
)


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


def _is_blank(line):
    return not line.decode("utf-8", errors="replace").strip()


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
            if _is_blank(line):
                return position + len(line)


def last_document_start(path, low, high):
    """The last byte p with low < p <= high just after a blank line, or None; `low` is a line start.

    Reads backwards from `high` in growing windows, so planning a group costs about one window,
    not one pass over the group.
    """
    window = _BOUNDARY_WINDOW
    with open(path, "rb") as reader:
        while True:
            begin = max(low, high - window)
            reader.seek(max(begin - 1, 0))
            if begin > 0:
                reader.readline()  # to the first line start at or after `begin`
            found = None
            position = reader.tell()
            while position < high:
                line = reader.readline()
                if not line:
                    break
                position += len(line)
                if position <= high and _is_blank(line):
                    found = position
            if found is not None and found > low:
                return found
            if begin <= low:
                return None
            window *= 4


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


def plan_groups(files, group_bytes):
    """Groups of whole documents of at most `group_bytes` each, file by file, in order.

    A group never spans two files (so a file's last document ends with the file). A group is
    larger than `group_bytes` only when one document is: then it is that document alone.
    """
    if group_bytes < 1:
        raise PretrainingDataError(f"the group size must be positive (got {group_bytes} bytes)")
    groups = []
    for path in files:
        size = os.path.getsize(path)
        start = 0
        while start < size:
            if size - start <= group_bytes:
                end = size
            else:
                end = last_document_start(path, start, start + group_bytes)
                if end is None:  # one document longer than a group
                    end = next_document_start(path, start + group_bytes)
            groups.append(Source(path, start, end))
            start = end
    return groups


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
    return [shard_names(output_files, w, num_workers) for w in range(num_workers)]


def shard_names(output_files, index, count):
    return [f"{name}-{index:05d}-of-{count:05d}" for name in output_files]


def _derived_seed(text):
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def worker_rng(seed, worker_index, num_workers):
    if num_workers == 1:
        return random.Random(seed)  # the original's single generator
    return random.Random(_derived_seed(f"{seed}:{worker_index}:{num_workers}"))


def group_seed(seed, group_index):
    """The seed group `group_index` is generated with: `--random_seed` of the original run on that group alone."""
    return _derived_seed(f"{seed}:group:{group_index}")


def launcher_task(environ=None):
    """(task index, number of tasks, where they came from) from a launcher's environment, or None."""
    environ = os.environ if environ is None else environ
    for rank_name, size_name in LAUNCHER_VARIABLES:
        if rank_name in environ or size_name in environ:
            try:
                rank, size = int(environ[rank_name]), int(environ[size_name])
            except (KeyError, ValueError):
                raise PretrainingDataError(f"the launcher set {rank_name}={environ.get(rank_name)!r} and "
                                           f"{size_name}={environ.get(size_name)!r}: expected two integers") from None
            return rank, size, f"{rank_name}/{size_name}"
    return None


def resolve_task(task_index=None, num_tasks=None, environ=None):
    """(task index, number of tasks, description): the flags when given, else the launcher's, else (0, 1)."""
    if (task_index is None) != (num_tasks is None):
        raise PretrainingDataError("give both --task_index and --num_tasks, or neither")
    if task_index is not None:
        where = "--task_index/--num_tasks"
    else:
        found = launcher_task(environ)
        task_index, num_tasks, where = found if found else (0, 1, "one task")
    if num_tasks < 1 or not 0 <= task_index < num_tasks:
        raise PretrainingDataError(f"task {task_index} of {num_tasks} (from {where}): need 0 <= index < count")
    return task_index, num_tasks, where


def remove_stale_temporaries(path):
    """Removes temporaries of `path` left by a killed earlier run (see fileio.atomic.temporary_name).

    Only the temporaries of an output this run is about to write: two runs writing one output at
    the same time would clobber each other anyway.
    """
    directory, base = os.path.split(os.path.abspath(path))
    pattern = re.compile(rf"\.{re.escape(base)}\.tmp-\d+-[0-9a-f]{{8}}")
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(directory):
            if pattern.fullmatch(name):
                with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                    os.remove(os.path.join(directory, name))


class Progress:
    """Throttled progress lines on stderr for one process: reading, making instances, writing."""

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
            # One write per line: print() writes the text and the newline separately, and on the
            # shared stderr of several workers another line could land in between.
            self.stream.write(f"[{self.label}] {message}\n")
            self.stream.flush()

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

    def start_writing(self, instances, spooled_bytes, files):
        self.say(f"made {instances} instances in {time.monotonic() - self._phase_start:.1f}s; writing them "
                 f"shuffled ({spooled_bytes / 1e6:.1f} MB) to {files} file(s)")


class _Tools:
    """What one process needs to turn text into records; built once per process and reused."""

    def __init__(self, vocab_file, spm_model_file, do_lower_case, config):
        try:
            self.tokenizer = make_tokenizer(vocab_file, spm_model_file, do_lower_case)
        except VocabularyError as err:
            raise PretrainingDataError(str(err)) from None
        vocab = self.tokenizer.vocab
        self.kinds = TokenKinds.for_ids(vocab)
        self.encoder = instance_encoder(vocab, config, self.kinds)
        if config.chinese_wwm:
            from data.chinese_words import ChineseWordSegmenter, ContinuationToken

            try:
                self.tokenize_line = ChineseWordSegmenter(self.tokenizer).tokenize
            except TypeError as err:
                raise PretrainingDataError(str(err)) from None

            def token_id(token):
                index = vocab[token]
                return index | CONTINUATION_FLAG if type(token) is ContinuationToken else index

            self.token_id = token_id
        else:
            self.tokenize_line = self.tokenizer.tokenize
            self.token_id = vocab.__getitem__


_TOOLS = {}


def _tools_for(vocab_file, spm_model_file, do_lower_case, config):
    key = (vocab_file, spm_model_file, do_lower_case, config)
    if key not in _TOOLS:
        _TOOLS.clear()
        _TOOLS[key] = _Tools(vocab_file, spm_model_file, do_lower_case, config)
    return _TOOLS[key]


@dataclasses.dataclass(frozen=True)
class Options:
    """What every unit of work shares."""

    vocab_file: str
    spm_model_file: str
    do_lower_case: bool
    config: object
    random_seed: int
    show_progress: bool = True
    spool_dir: str = None

    def tools(self):
        return _tools_for(self.vocab_file, self.spm_model_file, self.do_lower_case, self.config)


def generate_unit(sources, rng, output_paths, options, progress):
    """Reads `sources`, makes their instances with `rng` and writes them to `output_paths`
    (round-robin, in the original's shuffled order); returns (documents, counts, read stats)."""
    tools = options.tools()
    config = options.config
    corpus, stats = read_corpus(sources, tools.tokenize_line, tools.token_id, on_bytes=progress.on_bytes)
    num_documents = len(corpus)
    progress.start_instances(num_documents, config.dupe_factor)
    spool_dir = options.spool_dir or os.path.dirname(os.path.abspath(output_paths[0]))
    encode = tools.encoder.encode
    with RecordSpool(spool_dir) as spool:
        for instance in iter_training_instances(corpus, config, tools.kinds, rng, progress.on_document):
            spool.add(encode(instance))
        del corpus  # the write phase needs only the spool and the order
        order = shuffled_order(len(spool), rng)
        spool.flush()
        progress.start_writing(len(order), spool.size, len(output_paths))
        counts = write_in_order(spool, order, output_paths)
    return num_documents, counts, stats


@dataclasses.dataclass(frozen=True)
class WorkerTask:
    worker_index: int  # global, over all tasks
    num_workers: int  # global: tasks x workers per task
    sources: tuple
    output_paths: tuple  # where to write (temporary names chosen by the caller)
    options: Options


@dataclasses.dataclass
class WorkerResult:
    worker_index: int  # or group index
    documents: int
    instances_per_output: list
    read_stats: ReadStats
    output_files: list = None  # final names (grouped mode)


def run_worker(task):
    """Read, build and write one worker's share; returns what it wrote."""
    label = "cpd" if task.num_workers == 1 else f"worker {task.worker_index + 1}/{task.num_workers}"
    progress = Progress(label, sum(s.size() for s in task.sources), enabled=task.options.show_progress)
    task.options.tools()  # a bad vocabulary is reported before any reading
    rng = worker_rng(task.options.random_seed, task.worker_index, task.num_workers)
    documents, counts, stats = generate_unit(task.sources, rng, list(task.output_paths), task.options, progress)
    if not documents and task.num_workers == 1:
        raise PretrainingDataError("the input has no document with a non-empty line: nothing to write")
    return WorkerResult(task.worker_index, documents, counts, stats)


@dataclasses.dataclass(frozen=True)
class GroupTask:
    group_index: int
    num_groups: int
    source: Source
    output_files: tuple  # final names
    options: Options


def run_group(task):
    """One group, generated as the original would generate it alone with its derived seed; its
    outputs are renamed to their final names as soon as they are complete."""
    progress = Progress(f"group {task.group_index + 1}/{task.num_groups}", task.source.size(),
                        interval=10.0, enabled=task.options.show_progress)
    rng = random.Random(group_seed(task.options.random_seed, task.group_index))
    with contextlib.ExitStack() as outputs:
        for path in task.output_files:
            remove_stale_temporaries(path)
        temporaries = [outputs.enter_context(atomic_output(p)) for p in task.output_files]
        documents, counts, stats = generate_unit([task.source], rng, temporaries, task.options, progress)
    return WorkerResult(task.group_index, documents, counts, stats, list(task.output_files))


def exit_on_sigterm():
    """Makes SIGTERM (what launchers and `kill` send) unwind like an exception, so temporaries are removed."""

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def _start_worker():
    exit_on_sigterm()
    # Stopped (SIGTERM) when the parent dies, so a killed run stops entirely (Linux's PR_SET_PDEATHSIG).
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)


@contextlib.contextmanager
def _pool(processes):
    """A fork pool whose workers are terminated (not waited for) if the caller fails or is stopped."""
    pool = multiprocessing.get_context("fork").Pool(processes, initializer=_start_worker)
    try:
        yield pool
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def _check_inputs(config, output_files, vocab_file, spm_model_file, num_workers):
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


def generate(input_patterns, output_files, vocab_file, spm_model_file, do_lower_case, config, random_seed,
             num_workers=1, show_progress=True, group_bytes=None, task_index=0, num_tasks=1, spool_dir=None):
    """Runs this task's share of the generator; returns ({output path: instances written}, results).

    `num_workers` processes on this machine; `group_bytes` switches to grouped mode; task
    `task_index` of `num_tasks` takes its share of the work (see the module docstring). Raises
    PretrainingDataError for bad input.
    """
    _check_inputs(config, output_files, vocab_file, spm_model_file, num_workers)
    if num_tasks < 1 or not 0 <= task_index < num_tasks:
        raise PretrainingDataError(f"task {task_index} of {num_tasks}: need 0 <= index < count")
    if spool_dir is not None and not os.path.isdir(spool_dir):
        raise PretrainingDataError(f"spool directory not found: {spool_dir}")
    files = expand_input_patterns(input_patterns)
    options = Options(vocab_file, spm_model_file, do_lower_case, config, random_seed, show_progress, spool_dir)
    for path in output_files:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if group_bytes is not None:
        return _generate_groups(files, output_files, options, num_workers, group_bytes, task_index, num_tasks)
    return _generate_split(files, output_files, options, num_workers, task_index, num_tasks)


def _generate_split(files, output_files, options, num_workers, task_index, num_tasks):
    total_workers = num_workers * num_tasks
    mine = range(task_index * num_workers, (task_index + 1) * num_workers)
    plans = plan_sources(files, total_workers)
    shards = shard_paths(output_files, total_workers)
    with contextlib.ExitStack() as outputs:
        # Every shard is renamed to its final name only once all of this task's workers have succeeded.
        temporaries = {}
        for w in mine:
            for path in shards[w]:
                remove_stale_temporaries(path)
            temporaries[w] = [outputs.enter_context(atomic_output(p)) for p in shards[w]]
        tasks = [WorkerTask(w, total_workers, tuple(plans[w]), tuple(temporaries[w]), options) for w in mine]
        if num_workers == 1:
            results = [run_worker(tasks[0])]
        else:
            with _pool(num_workers) as pool:
                results = pool.map(run_worker, tasks, chunksize=1)
        if num_tasks == 1 and sum(sum(r.instances_per_output) for r in results) == 0:
            raise PretrainingDataError("the input has no document with a non-empty line: nothing to write")
    summary = {}
    for result in results:
        for path, count in zip(shards[result.worker_index], result.instances_per_output):
            summary[path] = count
    return summary, results


def _generate_groups(files, output_files, options, num_workers, group_bytes, task_index, num_tasks):
    groups = plan_groups(files, group_bytes)
    mine = list(range(task_index, len(groups), num_tasks))
    tasks = [GroupTask(g, len(groups), groups[g], tuple(shard_names(output_files, g, len(groups))), options)
             for g in mine]
    progress = Progress("groups" if num_tasks == 1 else f"task {task_index + 1}/{num_tasks}",
                        sum(t.source.size() for t in tasks), interval=0.0, enabled=options.show_progress)
    progress.say(f"{len(groups)} group(s) of at most {group_bytes / 1e6:g} MB from {len(files)} file(s); "
                 f"this process runs {len(tasks)} of them with {num_workers} worker(s)")
    results = []

    def done(result):
        results.append(result)
        progress.bytes_read += groups[result.worker_index].size()
        progress.instances += sum(result.instances_per_output)
        elapsed = max(time.monotonic() - progress.start, 1e-9)
        rate = progress.bytes_read / elapsed
        eta = (progress.total_bytes - progress.bytes_read) / rate if rate > 0 else float("nan")
        progress.say(f"{len(results)}/{len(tasks)} groups done: {progress.instances} instances, "
                     f"{rate / 1e6:.2f} MB of text/s, ETA {eta:.0f}s")

    if num_workers == 1:
        for task in tasks:
            done(run_group(task))
    else:
        with _pool(num_workers) as pool:
            for result in pool.imap_unordered(run_group, tasks, chunksize=1):
                done(result)
    if num_tasks == 1 and sum(sum(r.instances_per_output) for r in results) == 0:
        for result in results:  # empty, but they would look like a finished run's
            for path in result.output_files:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
        raise PretrainingDataError("the input has no document with a non-empty line: nothing to write")
    results.sort(key=lambda r: r.worker_index)
    summary = {path: count for r in results for path, count in zip(r.output_files, r.instances_per_output)}
    return summary, results
