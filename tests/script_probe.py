"""A probe of what a script imports, for tests that run it in a fresh process (no imports here,
so a test of a TensorFlow-free script stays free of TensorFlow)."""


def modules_after_script(script: str, package: str) -> str:
    """Python source (for `python -c`) that runs `script` with the command line's arguments, asserts it
    exited cleanly and prints `<PACKAGE>_MODULES=` followed by the modules of `package` it imported."""
    return f"""
import runpy, sys
sys.argv = [{script!r}] + sys.argv[1:]
try:
    runpy.run_path({script!r}, run_name="__main__")
except SystemExit as stop:
    assert not stop.code, stop.code
print({package.upper() + "_MODULES="!r} + ",".join(sorted(m for m in sys.modules if m.split(".")[0] == {package!r})))
"""
