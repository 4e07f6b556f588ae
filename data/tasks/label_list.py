"""The label list a model was trained with, saved beside it so that a later run (prediction alone)
maps labels to the same ids: `label_list.txt` in the output directory, one label a line, in id order.
"""

import os
from typing import List, Optional

from data.tasks.errors import text_lines
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
