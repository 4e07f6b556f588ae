"""The GPU commands of README.md ("GPU clusters") and docs/gpu_checklist.md, and the fine-tuning
commands of docs/finetuning.md, run as written: every --flag given to one of our scripts is a flag
that script defines, every horovodrun option is one horovodrun
has, our scripts are started with the venv's interpreter (or the container image's), `docker run`
has a command to run, and pip lines install the whole stack (safetensors included)."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = ("run_pretraining.py", "run_clf.py", "run_seq_labelling.py", "run_reading.py",
           "create_pretraining_data.py", "convert_checkpoint.py")
# Handled by absl.app itself, not defined flags.
ABSL_OWN = {"help", "helpfull", "helpshort", "helpxml", "flagfile", "undefok"}
FLAG_NAMES = """
import importlib, sys
from absl import flags
importlib.import_module(sys.argv[1])
for name, flag in flags.FLAGS._flags().items():
    print(name, flag.boolean)
"""


def gpu_texts():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("## GPU clusters")
    end = readme.find("\n## ", start + 1)
    return {"README.md (GPU clusters)": readme[start:end if end > 0 else None],
            "docs/gpu_checklist.md": (REPO / "docs" / "gpu_checklist.md").read_text(encoding="utf-8"),
            "docs/finetuning.md": (REPO / "docs" / "finetuning.md").read_text(encoding="utf-8")}


def commands(text):
    """Each shell command of the fenced blocks (continuation lines joined, comments dropped) and of the
    inline code spans that start one of our scripts."""
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                found.append(line)
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"`([^`\n]+)`", prose.replace("\n", " ")):
        if any(script in span for script in SCRIPTS):
            found.append(span)
    return found


def script_flags(script):
    result = subprocess.run([sys.executable, "-c", FLAG_NAMES, script[:-3]], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return {name: boolean == "True" for name, boolean in (line.split() for line in result.stdout.splitlines())}


def words(command):
    try:
        return shlex.split(command)
    except ValueError:  # an unbalanced quote in a table cell: split on spaces
        return command.split()


ALL_COMMANDS = [(source, command) for source, text in gpu_texts().items() for command in commands(text)]


def test_the_sections_hold_commands():
    scripts = [c for _, c in ALL_COMMANDS if any(s in c for s in SCRIPTS)]
    assert len(scripts) >= 10, scripts


def test_every_flag_given_to_a_script_is_defined_by_it():
    defined = {}
    wrong = []
    for source, command in ALL_COMMANDS:
        tokens = words(command)
        for index, token in enumerate(tokens):
            script = Path(token).name
            if script not in SCRIPTS:
                continue
            if script not in defined:
                defined[script] = script_flags(script)
            for word in tokens[index + 1:]:
                word = word.strip("[]|")
                if not word.startswith("--"):
                    continue
                name = word[2:].split("=", 1)[0]
                known = defined[script]
                if name in known or name in ABSL_OWN or (name.startswith("no") and known.get(name[2:])):
                    continue
                wrong.append(f"{source}: {script} has no --{name}: {command}")
    assert not wrong, "\n".join(wrong)


def test_every_horovodrun_option_exists():
    runner = Path(sys.executable).with_name("horovodrun")
    if not runner.exists():
        pytest.skip(f"{runner} is absent (Horovod is on the classic stack only)")
    help_text = subprocess.run([str(runner), "--help"], capture_output=True, text=True, timeout=120).stdout
    options = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", help_text))
    wrong = []
    for source, command in ALL_COMMANDS:
        tokens = words(command)
        for index, token in enumerate(tokens):
            if Path(token).name != "horovodrun":
                continue
            for word in tokens[index + 1:]:
                if not word.startswith("-"):
                    if word.endswith("python") or word.endswith(".py"):
                        break  # the program horovodrun starts: its flags are checked above
                    continue
                if word.split("=", 1)[0] not in options:
                    wrong.append(f"{source}: horovodrun has no {word}: {command}")
    assert not wrong, "\n".join(wrong)


def test_scripts_run_with_the_venvs_interpreter_or_the_images():
    wrong = []
    for source, command in ALL_COMMANDS:
        tokens = words(command)
        in_container = "docker" in tokens
        for index, token in enumerate(tokens):
            if Path(token).name in SCRIPTS and index > 0:
                interpreter = tokens[index - 1]
                allowed = ("python",) if in_container else (".venv/bin/python", ".venv-current/bin/python")
                if interpreter not in allowed:
                    wrong.append(f"{source}: {token} started by {interpreter!r}: {command}")
            if Path(token).name == "horovodrun" and not in_container and token != ".venv/bin/horovodrun":
                wrong.append(f"{source}: {token} is not the venv's horovodrun: {command}")
    assert not wrong, "\n".join(wrong)


def test_docker_run_has_a_command_and_pip_lines_the_whole_stack():
    docker = [c for _, c in ALL_COMMANDS if c.startswith("docker run")]
    assert docker
    for command in docker:
        tokens = words(command)
        image = next(i for i, t in enumerate(tokens) if "nvcr.io/" in t or t.startswith("nezha-tf2:"))
        assert image < len(tokens) - 1 or "-it" in tokens, f"docker run with nothing to run: {command}"
    pips = [c for _, c in ALL_COMMANDS if "pip install" in c]
    assert pips
    for command in pips:
        for package in ("sentencepiece", "jieba", "safetensors"):
            assert package in command, f"{package} missing: {command}"
