"""Writing a checkpoint directory whole or not at all (the TF1 and Hugging Face writers share it)."""
import os
from typing import Callable

from fileio.atomic import atomic_directory


def write_directory_atomically(directory, write: Callable[[str], None], overwrite: bool = False) -> str:
    """Calls write(temporary_directory), then renames it to `directory` (fileio.atomic_directory), so
    that no reader ever sees a half-written output. An existing non-empty `directory` is an error
    unless overwrite, and is then replaced whole. Returns the directory's absolute path."""
    directory = os.path.abspath(os.fspath(directory))
    if os.path.exists(directory):
        if not os.path.isdir(directory):
            raise FileExistsError(f"{directory}: exists and is not a directory")
        if os.listdir(directory) and not overwrite:
            raise FileExistsError(f"{directory}: directory exists and is not empty (pass overwrite to replace it)")
    os.makedirs(os.path.dirname(directory), exist_ok=True)
    with atomic_directory(directory) as temporary:
        os.makedirs(temporary)
        write(temporary)
        umask = os.umask(0)
        os.umask(umask)
        for name in os.listdir(temporary):  # some writers (safetensors) create their files 0600
            if os.path.isfile(os.path.join(temporary, name)):
                os.chmod(os.path.join(temporary, name), 0o666 & ~umask)
    return directory
