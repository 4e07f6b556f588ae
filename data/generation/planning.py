"""Input planning: which files (or document-aligned byte ranges) each unit of work reads, and its seed.

See the README's "Pretraining data" section for the three ways of splitting the work (one worker, N workers,
groups) and what each reproduces.
"""

import glob
import hashlib
import os
import random

from data.generation.config import PretrainingDataError
from data.generation.corpus import Source

_GLOB_CHARS = set("*?[")
_BOUNDARY_WINDOW = 1 << 20  # first window of the backward search for a group's last document start


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
    """Per worker, the Sources it reads: all of them with one worker; whole files, largest first to the
    least loaded worker, when there are at least N; else N byte ranges cut at document boundaries."""
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


def _derived_seed(text):
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def worker_rng(seed, worker_index, num_workers):
    if num_workers == 1:
        return random.Random(seed)  # the original's single generator
    return random.Random(_derived_seed(f"{seed}:{worker_index}:{num_workers}"))


def group_seed(seed, group_index):
    """The seed group `group_index` is generated with: `--random_seed` of the original run on that group alone."""
    return _derived_seed(f"{seed}:group:{group_index}")
