"""data/generation/launcher.py: the task index and count from flags or a launcher's environment."""

import pytest

from data.generation.config import PretrainingDataError
from data.generation.launcher import resolve_task


def test_task_from_flags_or_launcher_environment():
    assert resolve_task(environ={}) == (0, 1, "one task")
    assert resolve_task(environ={"HOROVOD_RANK": "1", "HOROVOD_SIZE": "4"})[:2] == (1, 4)
    assert resolve_task(environ={"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "3"})[:2] == (2, 3)
    assert resolve_task(environ={"PMI_RANK": "0", "PMI_SIZE": "2"})[:2] == (0, 2)
    # Flags win over the environment.
    assert resolve_task(3, 5, environ={"HOROVOD_RANK": "1", "HOROVOD_SIZE": "4"})[:2] == (3, 5)
    with pytest.raises(PretrainingDataError, match="both --task_index and --num_tasks"):
        resolve_task(1, None, environ={})
    with pytest.raises(PretrainingDataError, match="need 0 <= index < count"):
        resolve_task(environ={"HOROVOD_RANK": "4", "HOROVOD_SIZE": "4"})
    with pytest.raises(PretrainingDataError, match="expected two integers"):
        resolve_task(environ={"PMI_RANK": "0"})
