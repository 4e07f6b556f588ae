"""Output naming: which output files (or NAME-0000w-of-0000N shards) each worker or group writes.

Also clears what a killed earlier run left of those names (its temporaries).
"""

import contextlib
import os
import re


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
    """Shard `index` of `count` of every output name: NAME-0000i-of-0000c."""
    return [f"{name}-{index:05d}-of-{count:05d}" for name in output_files]


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
