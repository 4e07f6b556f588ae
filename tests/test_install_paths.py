"""Every install path the README gives installs safetensors (Hugging Face checkpoints need it):
the requirements files of both stacks, scripts/install.sh (which installs them), and every pip line
of the README and docs that installs the stack by hand (the NGC container's)."""
import re

import pytest

REQUIREMENTS = ("requirements.txt", "requirements-current.txt")


def _names(requirement_lines):
    return {re.split(r"[=<>!~\[ ;]", line.strip(), maxsplit=1)[0].lower()
            for line in requirement_lines if line.strip() and not line.lstrip().startswith("#")}


@pytest.mark.parametrize("requirements", REQUIREMENTS)
def test_each_stacks_requirements_pin_safetensors(repo_dir, requirements):
    lines = (repo_dir / requirements).read_text().splitlines()
    assert "safetensors" in _names(lines)
    assert requirements in (repo_dir / "README.md").read_text()  # the README names the file it installs


def test_install_script_installs_a_requirements_file(repo_dir):
    script = (repo_dir / "scripts" / "install.sh").read_text()
    assert re.search(r'pip install -r "\$REQUIREMENTS"', script)
    for requirements in REQUIREMENTS:
        assert requirements in script


def test_every_pip_line_that_installs_the_stack_installs_safetensors(repo_dir):
    texts = [repo_dir / "README.md"] + sorted((repo_dir / "docs").glob("*.md"))
    stack_lines = []
    for path in texts:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bpip3? install\b", line) and ("sentencepiece" in line or "-r " in line):
                stack_lines.append((f"{path.name}:{number}", line))
    assert stack_lines, "the README gives no pip line for the NGC container any more; check this test"
    for where, line in stack_lines:
        files = re.findall(r"-r\s+(\S+)", line)
        assert "safetensors" in line or all(
            "safetensors" in _names((repo_dir / name).read_text().splitlines()) for name in files), where
