"""Tasks: this process's index and count among the processes sharing one run, from flags or a launcher's environment."""

import os

from data.generation.config import PretrainingDataError

# Rank and size as set by the launchers users already run for training; the first pair present wins.
LAUNCHER_VARIABLES = (
    ("HOROVOD_RANK", "HOROVOD_SIZE"),  # horovodrun (Gloo or MPI)
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),  # Open MPI's mpirun
    ("PMI_RANK", "PMI_SIZE"),  # MPICH / Intel MPI, srun with PMI
)


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
