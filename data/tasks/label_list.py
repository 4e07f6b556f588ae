"""The label list a model was trained with, saved beside it so that a later run (prediction alone)
maps labels to the same ids: `label_list.txt` in the output directory, one label a line, in id order.
"""

import os
from typing import Callable, List, Optional

from data.tasks.errors import DataError, text_lines
from fileio.atomic import write_text

LABEL_LIST_FILE = "label_list.txt"


def saved_labels(output_dir) -> Optional[List[str]]:
    """The list saved in output_dir, or None when there is none."""
    path = os.path.join(output_dir, LABEL_LIST_FILE) if output_dir else None
    if not path or not os.path.isfile(path):
        return None
    return [line.strip() for _, line in text_lines(path) if line.strip()]


def save_labels(output_dir, labels) -> None:
    write_text(os.path.join(output_dir, LABEL_LIST_FILE), "".join(f"{label}\n" for label in labels))


def run_labels(output_dir, derive: Callable[[], List[str]], source, training: bool) -> List[str]:
    """The label list of a run whose task has no fixed one. Without training, the list saved with the
    model wins (its ids are the model's); else `derive()`, the labels of the training file `source`.

    A training run that derives a list other than the one already saved in output_dir stops: it would
    overwrite the saved list under the old run's checkpoints, or (resuming) train them with other ids.
    """
    saved = saved_labels(output_dir)
    if saved and not training:
        return saved
    derived = derive()
    if saved and saved != derived:
        raise DataError(os.path.join(output_dir, LABEL_LIST_FILE),
                        f"holds the labels {saved} of an earlier run in this --output_dir, but the training file "
                        f"{source} has {derived}: use a new --output_dir (or remove the old run's files from it)")
    return derived
