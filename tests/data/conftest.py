"""Fixtures of the data tests: the fuzz tests' counts, shown in the run's terminal summary."""
import pytest

_FUZZ_LINES = pytest.StashKey[list]()


@pytest.fixture
def fuzz_summary(request):
    """Takes one line per fuzzed format; the lines are printed at the end of the run, because
    `pytest -q` (make test) swallows what a passing test prints."""
    return request.config.stash.setdefault(_FUZZ_LINES, []).append


def pytest_terminal_summary(terminalreporter, config):
    lines = config.stash.get(_FUZZ_LINES, [])
    if lines:
        terminalreporter.write_sep("-", "fuzzed files: mutants read / rejected with a one-line error")
        for line in lines:
            terminalreporter.write_line(line)
