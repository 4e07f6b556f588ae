"""The pinned stacks are what the project was written for (classic: TF 2.15.1, tensorflow-addons, Horovod built
with Gloo for TF; current: TF 2.21 with Keras 2 from tf-keras), and importing modeling gives Keras 2 on both."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from compat.stack import STACK

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.tfa
def test_pinned_tensorflow_and_addons():
    import tensorflow as tf
    import tensorflow_addons as tfa
    import numpy as np

    assert tf.__version__ == "2.15.1"
    assert tfa.__version__ == "0.23.0"
    assert int(np.__version__.split(".")[0]) < 2


@pytest.mark.horovod
def test_horovod_is_built_with_gloo_for_tensorflow():
    horovodrun = Path(sys.executable).with_name("horovodrun")
    assert horovodrun.exists(), "horovodrun is not installed next to this interpreter: run scripts/install.sh"
    result = subprocess.run([str(horovodrun), "--check-build"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = result.stdout
    # check-build marks each built component with [X]
    assert re.search(r"\[X\] TensorFlow", report), report
    assert re.search(r"Available Controllers:.*?\[X\] Gloo", report, re.S), report


@pytest.mark.horovod
def test_horovod_initialises_in_one_process():
    code = ("import horovod, horovod.tensorflow as hvd; hvd.init(); "
            "print(horovod.__version__, hvd.gloo_built(), hvd.size(), hvd.rank())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-4:] == ["0.28.1", "True", "1", "0"]


@pytest.mark.skipif(STACK != "current", reason="the classic stack's pins are checked by test_pinned_tensorflow_and_addons")
def test_pinned_current_stack():
    import tensorflow as tf
    import tf_keras

    assert tf.__version__.startswith("2.21.")
    assert tf_keras.__version__.startswith("2.21.")
    assert sys.version_info[:2] in ((3, 12), (3, 13))


_KERAS_OF_A_MODEL = """
import sys
if sys.argv[1] == "tensorflow-first":
    import tensorflow as tf  # noqa: F401  (tf.keras may then be Keras 3: the library must not care)
from modeling import NezhaConfig, NezhaModel
import tensorflow as tf
model = NezhaModel(NezhaConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=16, max_position_embeddings=16))
model.ensure_built()
keras_model = [c for c in type(model).__mro__ if c.__name__ == "Model"][0]
print("KERAS", keras_model.__module__, tf.__version__, len(model.weights))
"""


@pytest.mark.parametrize("order", ["tensorflow-first", "modeling-first"])
def test_modeling_is_keras_2_whoever_imports_tensorflow_first(order):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_USE_LEGACY_KERAS", None)
    result = subprocess.run([sys.executable, "-c", _KERAS_OF_A_MODEL, order], capture_output=True, text=True,
                            timeout=300, cwd=REPO, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    line = [text for text in result.stdout.splitlines() if text.startswith("KERAS ")][-1]
    _, module, version, weights = line.split()
    # Keras 2's Model lives in keras.src.engine (tf.keras on 2.15) or tf_keras.src.engine; Keras 3 has no engine.
    assert ".engine." in module, module
    assert module.split(".")[0] == ("tf_keras" if STACK == "current" else "keras"), module
    assert int(weights) > 0
