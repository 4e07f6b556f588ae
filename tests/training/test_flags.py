"""training/flags.py: every flag's default is its options field's default, and options come from flags."""
import dataclasses
import json
import re
import subprocess
import sys

import pytest

from training.options import PretrainingOptions
from training.tasks.classification import ClassificationOptions
from training.tasks.ner import NerOptions
from training.tasks.reading import ReadingOptions

# The flags each script defines, as absl sees them after importing the script.
DEFAULTS_OF_SCRIPT = """
import importlib, json, sys
from absl import flags
importlib.import_module(sys.argv[1])
print(json.dumps({name: flags.FLAGS[name].default for name in flags.FLAGS}))
"""


def field_defaults(options_class):
    """Field name -> default (None for a required field)."""
    defaults = {}
    for field in dataclasses.fields(options_class):
        defaults[field.name] = None if field.default is dataclasses.MISSING else field.default
    return defaults


@pytest.mark.parametrize("script,options_class", [("run_pretraining", PretrainingOptions),
                                                  ("run_clf", ClassificationOptions),
                                                  ("run_seq_labelling", NerOptions),
                                                  ("run_reading", ReadingOptions)])
def test_every_flag_default_equals_its_options_field_default(repo_dir, script, options_class):
    result = subprocess.run([sys.executable, "-c", DEFAULTS_OF_SCRIPT, script], cwd=repo_dir, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    flag_defaults = json.loads(result.stdout.strip().splitlines()[-1])
    fields = field_defaults(options_class)
    shared = sorted(set(fields) & set(flag_defaults))
    # Every option is a flag, except relative_attention (library only) and report_loss (a flag of
    # run_pretraining.py only, as in the original).
    assert set(fields) - set(flag_defaults) <= {"relative_attention", "report_loss"}
    assert {name: flag_defaults[name] for name in shared} == {name: fields[name] for name in shared}


def test_defaults_the_docs_state_are_the_options_defaults(repo_dir):
    """`--name` (default V) in README.md and docs/*.md: V is the default of the options field name."""
    defaults = {}
    for options_class in (PretrainingOptions, ClassificationOptions, NerOptions, ReadingOptions):
        for name, value in field_defaults(options_class).items():
            defaults.setdefault(name, set()).add(value)
    stated = []
    for path in [repo_dir / "README.md", *sorted((repo_dir / "docs").glob("*.md"))]:
        for name, value in re.findall(r"`--(\w+)` \(default ([^,;)\s]+)", path.read_text(encoding="utf-8")):
            stated.append((path.name, name, value))
            assert name in defaults, f"{path.name}: --{name} is no options field"
            assert value in {str(v) for v in defaults[name]}, f"{path.name}: --{name} default {value}, options say {defaults[name]}"
    assert stated  # the pattern still finds the documented defaults


@pytest.mark.parametrize("script", ["run_pretraining.py", "run_clf.py"])
@pytest.mark.parametrize("precision", [[], ["--use_bf16"]])
def test_fp16_allreduce_without_fp16_is_one_flag_error(repo_dir, script, precision):
    """In float32 or bfloat16 nothing would skip the update that the float16 cast's inf makes."""
    result = subprocess.run([sys.executable, script, "--output_dir=unused", "--bert_config_file=unused.json",
                             "--horovod", "--hvd_fp16_allreduce", *precision], cwd=repo_dir, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 0
    assert result.stderr.count("--hvd_fp16_allreduce needs --use_fp16") == 1, result.stderr[-2000:]


def test_fp16_allreduce_without_fp16_is_refused_before_any_engine_starts():
    from training.options import RunOptions
    for precision in ({}, {"use_bf16": True}):
        options = RunOptions(output_dir="unused", bert_config_file="unused.json", horovod=True,
                             hvd_fp16_allreduce=True, **precision)
        with pytest.raises(ValueError, match="--hvd_fp16_allreduce needs --use_fp16"):
            options.create_engine()


# A script failing with `argv[1]` (a class of training.distribution.base): its atexit handler, run by
# the interpreter's teardown, prints TEARDOWN.
FAILING_SCRIPT = """
import atexit, sys
from training.distribution import base
from training.flags import run_main
atexit.register(lambda: print("TEARDOWN", flush=True))
def fail():
    raise getattr(base, sys.argv[1])("worker 1 of the cluster stopped")
run_main("script.py", fail)
"""


@pytest.mark.parametrize("error,teardown", [("LostPeerError", False), ("DistributedError", True)])
def test_a_lost_peer_exits_without_the_teardown_other_errors_keep_it(repo_dir, error, teardown):
    """TensorFlow's teardown can wait a minute for a lost peer: a lost peer exits at once, still
    with the one-line error and status 1."""
    result = subprocess.run([sys.executable, "-c", FAILING_SCRIPT, error], cwd=repo_dir, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "script.py: error: worker 1 of the cluster stopped", result.stderr
    assert ("TEARDOWN" in result.stdout) == teardown
