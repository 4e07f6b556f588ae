"""The pinned stack is what the project was written for, and Horovod was built with Gloo for TF."""
import re
import subprocess
import sys
from pathlib import Path

import pytest


def test_pinned_tensorflow_and_addons():
    import tensorflow as tf
    import tensorflow_addons as tfa
    import numpy as np

    assert tf.__version__ == "2.15.1"
    assert tfa.__version__ == "0.23.0"
    assert int(np.__version__.split(".")[0]) < 2


def test_horovod_is_built_with_gloo_for_tensorflow():
    horovodrun = Path(sys.executable).with_name("horovodrun")
    assert horovodrun.exists(), "horovodrun is not installed next to this interpreter: run scripts/install.sh"
    result = subprocess.run([str(horovodrun), "--check-build"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = result.stdout
    # check-build marks each built component with [X]
    assert re.search(r"\[X\] TensorFlow", report), report
    assert re.search(r"Available Controllers:.*?\[X\] Gloo", report, re.S), report


def test_horovod_initialises_in_one_process():
    code = ("import horovod, horovod.tensorflow as hvd; hvd.init(); "
            "print(horovod.__version__, hvd.gloo_built(), hvd.size(), hvd.rank())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-4:] == ["0.28.1", "True", "1", "0"]
