"""The generator's entry: checks the inputs, plans this task's share, runs its workers and gathers what they wrote.

With one worker the output is the original's, byte for byte; the README's "Pretraining data" section describes
what more workers, groups (`group_bytes`) and many tasks do.
"""

import contextlib
import os

from data.generation.config import PretrainingDataError
from data.generation.planning import expand_input_patterns, plan_groups, plan_sources
from data.generation.progress import Progress
from data.generation.sharding import remove_stale_temporaries, shard_names, shard_paths
from data.generation.workers import GroupTask, Options, WorkerTask, run_group, run_worker, worker_pool
from fileio.atomic import atomic_output


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
    `task_index` of `num_tasks` takes its share of the work (the README's "Pretraining data" section). Raises
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
            with worker_pool(num_workers) as pool:
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
        progress.group_done(len(results), len(tasks), groups[result.worker_index].size(),
                            sum(result.instances_per_output))

    if num_workers == 1:
        for task in tasks:
            done(run_group(task))
    else:
        with worker_pool(num_workers) as pool:
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
