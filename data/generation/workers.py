"""Worker processes: one unit of work (a worker's share or a group) read, built, spooled and written, in a fork pool.

A unit is made in bounded memory: its documents are read into a compact `Corpus` of token ids,
each instance is encoded as soon as it is made and appended to the spool, the final shuffle
permutes only the instance indexes, and the frames are then copied from the spool to the
outputs in that order.
"""

import contextlib
import dataclasses
import multiprocessing
import os
import random
import signal

from data.generation.config import PretrainingDataError
from data.generation.corpus import ReadStats, Source, read_corpus
from data.generation.encoding import instance_encoder
from data.generation.instances import CONTINUATION_FLAG, TokenKinds, iter_training_instances
from data.generation.planning import group_seed, worker_rng
from data.generation.progress import Progress
from data.generation.sharding import remove_stale_temporaries
from data.generation.shuffling import shuffled_order
from data.generation.spool import RecordSpool, write_in_order
from data.tokenization import VocabularyError, make_tokenizer
from fileio.atomic import atomic_output


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
            from data.generation.chinese_words import ChineseWordSegmenter, ContinuationToken

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
def worker_pool(processes):
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
