"""scripts/install.sh: the stack it picks (STACK, PYTHON=..., the Pythons on PATH and pyenv's), the Python
version check, and the Horovod build it chooses for a machine with and without CUDA / NCCL / MPI, decided by scripts/horovod_build_env.sh from what is
installed. Fake interpreters and fake CUDA trees stand in for real ones: nothing is installed or built."""
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INSTALL = REPO / "scripts" / "install.sh"
BUILD_ENV = REPO / "scripts" / "horovod_build_env.sh"
BASH = "/bin/bash"


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def fake_python(path: Path, version: str, log: Path) -> Path:
    """Answers the version query with `version`; any other call is logged and fails (so nothing is installed)."""
    return executable(path, f"""#!/bin/sh
case "$*" in
  *version_info*) echo {version} ;;
  --version) echo "Python {version}.0" ;;
  *) echo "$0 $*" >> {log}; exit 7 ;;
esac
""")


def run_install(tmp_path, **env):
    # The STACK of the `make test` running this suite (CI runs it once per stack) must not choose for the test.
    inherited = {k: v for k, v in os.environ.items() if k not in ("STACK", "PYTHON")}
    full_env = dict(inherited, VENV=str(tmp_path / "venv"), **env)
    return subprocess.run([BASH, str(INSTALL)], capture_output=True, text=True, env=full_env, timeout=60)


def test_unsupported_python_stops_at_once_with_what_works(tmp_path):
    log = tmp_path / "calls.log"
    python = fake_python(tmp_path / "bin" / "python3.12", "3.12", log)
    result = run_install(tmp_path, PYTHON=str(python), STACK="classic")
    assert result.returncode == 1
    message = result.stderr
    assert "is Python 3.12" in message
    for needed in ("3.9", "3.10", "3.11", "pyenv", "deadsnakes", "PYTHON="):
        assert needed in message, message
    assert not log.exists(), "the unsupported interpreter was used for more than its version"
    assert not (tmp_path / "venv").exists()


def test_missing_python_named_by_PYTHON_is_reported(tmp_path):
    result = run_install(tmp_path, PYTHON=str(tmp_path / "nowhere" / "python3.11"))
    assert result.returncode == 1
    assert "is not an executable" in result.stderr and "3.11" in result.stderr


# No STACK with a 3.11 is classic; the current stack takes 3.12 and 3.13.
@pytest.mark.parametrize("stack, version", [(None, "3.11"), ("current", "3.12"), ("current", "3.13")])
def test_PYTHON_is_the_interpreter_that_makes_the_venv(tmp_path, stack, version):
    log = tmp_path / "calls.log"
    python = fake_python(tmp_path / "elsewhere" / "python", version, log)
    result = run_install(tmp_path, PYTHON=str(python), **({"STACK": stack} if stack else {}))
    assert result.returncode != 0  # the fake cannot make a venv; that it was asked to is the point
    assert log.read_text().split() == [str(python), "-m", "venv", str(tmp_path / "venv")]


@pytest.mark.parametrize("stack, version", [("classic", "3.12"), ("current", "3.11")])
def test_existing_venv_of_an_unsupported_python_is_refused(tmp_path, stack, version):
    fake_python(tmp_path / "venv" / "bin" / "python", version, tmp_path / "calls.log")
    result = run_install(tmp_path, STACK=stack)
    assert result.returncode == 1
    assert f"made with Python {version}" in result.stderr and "rm -rf" in result.stderr


def which_stack(tmp_path, pythons=(), pyenv=(), **env):
    """install.sh --which-stack on a PATH holding only fake interpreters named `pythons` ({name: version})
    and the shell tools the script needs, with a fake pyenv root holding `pyenv` ({version: name})."""
    home = Path(tempfile.mkdtemp(dir=tmp_path))  # a fresh one per call
    log = home / "calls.log"
    bin_dir = home / "only-these"
    bin_dir.mkdir()
    for tool in ("dirname", "ls", "sort", "tr", "sed", "cat"):
        (bin_dir / tool).symlink_to(subprocess.check_output(["which", tool], text=True).strip())
    for name, version in dict(pythons).items():
        fake_python(bin_dir / name, version, log)
    root = home / "pyenv"
    for version, name in dict(pyenv).items():
        fake_python(root / "versions" / f"{version}.1" / "bin" / name, version, log)
    full_env = dict(PATH=str(bin_dir), PYENV_ROOT=str(root), **env)
    result = subprocess.run([BASH, str(INSTALL), "--which-stack"], capture_output=True, text=True,
                            env=full_env, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_classic_is_picked_where_a_python_3_9_to_3_11_exists(tmp_path):
    assert which_stack(tmp_path, {"python3.11": "3.11", "python3.12": "3.12"}) == "classic"


def test_current_is_picked_where_only_python_3_12_or_3_13_exists(tmp_path):
    assert which_stack(tmp_path, {"python3": "3.13"}) == "current"


def test_pyenv_interpreters_count_for_the_choice(tmp_path):
    # pyenv's shims answer only for its selected versions: install.sh looks in its versions/ too
    assert which_stack(tmp_path, {"python3": "3.8"}, pyenv={"3.12": "python3.12"}) == "current"
    assert which_stack(tmp_path, {"python3.12": "3.12"}, pyenv={"3.10": "python3.10"}) == "classic"


def test_STACK_and_PYTHON_decide_before_what_is_installed(tmp_path):
    assert which_stack(tmp_path, {"python3.11": "3.11"}, STACK="current") == "current"
    python = fake_python(tmp_path / "elsewhere" / "python", "3.12", tmp_path / "calls.log")
    assert which_stack(tmp_path, {"python3.11": "3.11"}, PYTHON=str(python)) == "current"


def test_no_python_of_either_stack_names_both(tmp_path):
    assert which_stack(tmp_path, {"python3": "3.8"}) == "classic"
    result = run_install(tmp_path, PYTHON=str(fake_python(tmp_path / "p" / "python3", "3.8", tmp_path / "log")))
    assert result.returncode == 1
    assert "is Python 3.8" in result.stderr and "STACK=current (Python 3.12 or 3.13)" in result.stderr


def test_unknown_STACK_is_refused(tmp_path):
    result = run_install(tmp_path, STACK="newest")
    assert result.returncode == 1 and "STACK=newest" in result.stderr and "STACK=current" in result.stderr


def test_current_stack_refuses_python_3_11_and_says_where_it_fits(tmp_path):
    log = tmp_path / "calls.log"
    python = fake_python(tmp_path / "bin" / "python3.11", "3.11", log)
    result = run_install(tmp_path, PYTHON=str(python), STACK="current")
    assert result.returncode == 1
    assert "is Python 3.11" in result.stderr and "3.12 or 3.13" in result.stderr
    assert "STACK=classic" in result.stderr
    assert not log.exists() and not (tmp_path / "venv").exists()


@pytest.mark.parametrize("stack, venv", [("classic", ".venv"), ("current", ".venv-current")])
def test_make_test_runs_pytest_with_the_stacks_venv(stack, venv):
    # Without the MAKE* variables of a `make test` that may be running this very suite (a sub-make would
    # print "Entering directory" lines).
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    result = subprocess.run(["make", "--no-print-directory", "-n", "test"], cwd=REPO, capture_output=True, text=True,
                            timeout=60, env=dict(env, STACK=stack))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["bash scripts/install.sh", f"{venv}/bin/python -m pytest -q tests"]


def build_settings(tmp_path, cuda_home=None, path_tools=(), nccl_home=None, extra_env=None):
    """Runs horovod_build_env.sh with a PATH holding only `path_tools` (fake executables) and the given
    CUDA_HOME; returns (dict of KEY=VALUE lines, stderr)."""
    bin_dir = tmp_path / "path"
    bin_dir.mkdir(exist_ok=True)
    for tool in path_tools:
        executable(bin_dir / tool, "#!/bin/sh\nexit 0\n")
    env = {"PATH": str(bin_dir), "CUDA_HOME": str(cuda_home or tmp_path / "no-cuda")}
    if nccl_home:
        env["NCCL_HOME"] = str(nccl_home)
    env.update(extra_env or {})
    result = subprocess.run([BASH, str(BUILD_ENV)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    settings = dict(line.split("=", 1) for line in result.stdout.split())
    return settings, result.stderr


def fake_cuda(root: Path, with_nccl: bool) -> Path:
    executable(root / "bin" / "nvcc", "#!/bin/sh\necho fake nvcc\n")
    if with_nccl:
        (root / "include").mkdir(parents=True)
        (root / "include" / "nccl.h").write_text("/* fake */\n")
        (root / "lib64").mkdir(parents=True)
        (root / "lib64" / "libnccl.so.2").write_text("")
    return root


CPU_BUILD = {"HOROVOD_WITH_TENSORFLOW": "1", "HOROVOD_WITH_GLOO": "1", "HOROVOD_WITHOUT_MPI": "1",
             "HOROVOD_WITHOUT_PYTORCH": "1", "HOROVOD_WITHOUT_MXNET": "1", "HOROVOD_CPU_OPERATIONS": "gloo",
             "HOROVOD_BUILD_VARIANT": "cpu-gloo", "NEZHA_WHEEL_CACHE": "nezha-tf2-wheels"}


def test_machine_without_cuda_gets_the_cpu_build_in_the_cache_it_always_had(tmp_path):
    settings, stderr = build_settings(tmp_path)
    # Exactly the settings (and wheel cache directory) of the CPU-only install.sh before GPU support:
    # a CPU machine that built Horovod once reuses that wheel.
    assert settings == CPU_BUILD
    assert "no CUDA" in stderr


system_nccl = any(Path(p, "include", "nccl.h").exists() for p in ("/usr", "/usr/local"))


@pytest.mark.skipif(system_nccl, reason="this machine has NCCL installed system-wide")
def test_cuda_without_nccl_stays_on_the_cpu_build_and_says_why(tmp_path):
    settings, stderr = build_settings(tmp_path, cuda_home=fake_cuda(tmp_path / "cuda", with_nccl=False))
    assert settings == CPU_BUILD
    assert "no NCCL" in stderr


def test_cuda_and_nccl_give_the_nccl_build(tmp_path):
    cuda = fake_cuda(tmp_path / "cuda", with_nccl=True)
    settings, stderr = build_settings(tmp_path, cuda_home=cuda)
    assert settings["HOROVOD_GPU_OPERATIONS"] == "NCCL"
    assert settings["HOROVOD_CUDA_HOME"] == str(cuda)
    assert settings["HOROVOD_NCCL_HOME"] == str(cuda)
    assert settings["HOROVOD_WITH_GLOO"] == "1" and settings["HOROVOD_WITHOUT_MPI"] == "1"
    assert settings["HOROVOD_BUILD_VARIANT"] == "gpu-nccl"
    assert settings["NEZHA_WHEEL_CACHE"] == "nezha-tf2-wheels-gpu-nccl"


def test_nccl_in_its_own_home_and_nvcc_found_on_path(tmp_path):
    cuda = fake_cuda(tmp_path / "cuda", with_nccl=False)
    nccl = tmp_path / "nccl"
    (nccl / "include").mkdir(parents=True)
    (nccl / "include" / "nccl.h").write_text("")
    (nccl / "lib").mkdir()
    (nccl / "lib" / "libnccl.so").write_text("")
    settings, _ = build_settings(tmp_path, path_tools=(), nccl_home=nccl,
                                 extra_env={"PATH": f"{cuda / 'bin'}:{tmp_path / 'path'}"})
    assert settings["HOROVOD_GPU_OPERATIONS"] == "NCCL"
    assert settings["HOROVOD_CUDA_HOME"] == str(cuda)
    assert settings["HOROVOD_NCCL_HOME"] == str(nccl)


def test_mpi_is_built_in_when_mpicxx_is_installed(tmp_path):
    settings, stderr = build_settings(tmp_path, cuda_home=fake_cuda(tmp_path / "cuda", with_nccl=True),
                                      path_tools=("mpicxx", "mpirun"))
    assert settings["HOROVOD_WITH_MPI"] == "1" and "HOROVOD_WITHOUT_MPI" not in settings
    assert "HOROVOD_CPU_OPERATIONS" not in settings  # Horovod's default with MPI
    assert settings["HOROVOD_BUILD_VARIANT"] == "gpu-nccl-mpi"
    assert settings["NEZHA_WHEEL_CACHE"] == "nezha-tf2-wheels-gpu-nccl-mpi"
    cpu_settings, _ = build_settings(tmp_path, path_tools=("mpicxx",))
    assert cpu_settings["HOROVOD_BUILD_VARIANT"] == "cpu-gloo-mpi" and "HOROVOD_GPU_OPERATIONS" not in cpu_settings


def test_cpu_build_can_be_forced(tmp_path):
    settings, _ = build_settings(tmp_path, cuda_home=fake_cuda(tmp_path / "cuda", with_nccl=True),
                                 extra_env={"HOROVOD_BUILD_FOR": "cpu"})
    assert settings == CPU_BUILD


# -- TensorFlow for GPUs where an NVIDIA driver is present ---------------------------------------------
def which_tensorflow(tmp_path, smi=None, driver_file=False, **env):
    """install.sh --which-tensorflow on a PATH holding only a fake nvidia-smi (`smi`: its exit status, None:
    absent) and the shell tools the script needs; `driver_file`: whether the driver's version file exists."""
    home = Path(tempfile.mkdtemp(dir=tmp_path))
    bin_dir = home / "only-these"
    bin_dir.mkdir()
    for tool in ("dirname", "ls", "sort", "tr", "sed", "cat"):
        (bin_dir / tool).symlink_to(subprocess.check_output(["which", tool], text=True).strip())
    if smi is not None:
        executable(bin_dir / "nvidia-smi", f"#!/bin/sh\necho 'GPU 0: Tesla V100-SXM2-32GB (UUID: GPU-1)'\n"
                                           f"echo 'GPU 1: Tesla V100-SXM2-32GB (UUID: GPU-2)'\nexit {smi}\n")
    version_file = home / "nvidia-version"
    if driver_file:
        version_file.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05\n")
    full_env = dict(PATH=str(bin_dir), PYENV_ROOT=str(home / "no-pyenv"), DRIVER_VERSION_FILE=str(version_file),
                    **env)
    result = subprocess.run([BASH, str(INSTALL), "--which-tensorflow"], capture_output=True, text=True,
                            env=full_env, timeout=60)
    return result


@pytest.mark.parametrize("stack, version", [("classic", "2.15.1"), ("current", "2.21.0")])
def test_a_working_nvidia_smi_gives_tensorflow_with_its_cuda_libraries(tmp_path, stack, version):
    result = which_tensorflow(tmp_path, smi=0, STACK=stack)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tensorflow[and-cuda]=={version}"
    assert "nvidia-smi lists 2 GPU(s)" in result.stderr


@pytest.mark.parametrize("stack, version", [("classic", "2.15.1"), ("current", "2.21.0")])
def test_no_driver_gives_the_cpu_tensorflow(tmp_path, stack, version):
    # a failing nvidia-smi (installed, but no driver loaded) counts as no driver
    for smi in (None, 9):
        result = which_tensorflow(tmp_path, smi=smi, STACK=stack)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"tensorflow=={version}"
        assert "no NVIDIA driver" in result.stderr


def test_the_drivers_version_file_alone_is_a_driver(tmp_path):
    result = which_tensorflow(tmp_path, driver_file=True, STACK="classic")
    assert result.stdout.strip() == "tensorflow[and-cuda]==2.15.1"
    assert "535.104.05" in result.stderr


def test_TENSORFLOW_GPU_overrides_the_detection(tmp_path):
    assert which_tensorflow(tmp_path, smi=0, STACK="classic", TENSORFLOW_GPU="no").stdout.strip() == "tensorflow==2.15.1"
    assert which_tensorflow(tmp_path, STACK="current", TENSORFLOW_GPU="yes").stdout.strip() == \
        "tensorflow[and-cuda]==2.21.0"
    refused = which_tensorflow(tmp_path, STACK="classic", TENSORFLOW_GPU="maybe")
    assert refused.returncode == 1 and "TENSORFLOW_GPU=maybe" in refused.stderr


def fake_venv_python(path: Path, version: str, devices: str, log: Path) -> Path:
    """A venv's python: answers the version query, lists `devices` for TensorFlow, logs `-m pip install`
    (and succeeds), and fails on anything else, so the install stops before building anything."""
    return executable(path, f"""#!/bin/sh
case "$*" in
  *version_info*) echo {version} ;;
  *list_physical_devices*) echo "{devices}" ;;
  "-m pip install"*) echo "$*" >> {log} ;;
  *) exit 7 ;;
esac
""")


@pytest.mark.parametrize("stack, version", [("classic", "3.11"), ("current", "3.12")])
def test_with_a_driver_pip_installs_tensorflow_and_cuda(tmp_path, stack, version):
    log = tmp_path / "pip.log"
    fake_venv_python(tmp_path / "venv" / "bin" / "python", version, "", log)
    result = run_install(tmp_path, STACK=stack, TENSORFLOW_GPU="yes")
    assert result.returncode != 0  # the fake stops the install after pip, before anything is built
    assert "-m pip install cmake<4" not in log.read_text(), "the install went on to build Horovod"
    installs = [line for line in log.read_text().splitlines() if "-r requirements" in line]
    tf_version = "2.15.1" if stack == "classic" else "2.21.0"
    assert len(installs) == 1 and installs[0].endswith(f"tensorflow[and-cuda]=={tf_version}"), installs


def check_devices(tmp_path, devices, **env):
    fake_venv_python(tmp_path / "venv" / "bin" / "python", "3.11", devices, tmp_path / "pip.log")
    inherited = {k: v for k, v in os.environ.items() if k not in ("STACK", "PYTHON")}
    return subprocess.run([BASH, str(INSTALL), "--check-devices"], capture_output=True, text=True, timeout=60,
                          env=dict(inherited, VENV=str(tmp_path / "venv"), STACK="classic", **env))


def test_the_install_ends_by_printing_what_tensorflow_sees(tmp_path):
    gpus = "/physical_device:CPU:0 /physical_device:GPU:0 /physical_device:GPU:1"
    result = check_devices(tmp_path, gpus, TENSORFLOW_GPU="yes")
    assert result.returncode == 0, result.stderr
    assert f"TensorFlow 2.15.1 sees: {gpus}" in result.stdout


def test_a_driver_with_no_gpu_in_tensorflow_fails_saying_what_to_check(tmp_path):
    result = check_devices(tmp_path, "/physical_device:CPU:0", TENSORFLOW_GPU="yes")
    assert result.returncode == 1
    assert "sees: /physical_device:CPU:0" in result.stdout
    for needed in ("installed for GPUs", "sees no GPU", "nvidia-smi", "CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH",
                   "TENSORFLOW_GPU=no"):
        assert needed in result.stderr, result.stderr


def test_without_a_driver_a_cpu_only_tensorflow_is_fine(tmp_path):
    result = check_devices(tmp_path, "/physical_device:CPU:0", TENSORFLOW_GPU="no")
    assert result.returncode == 0, result.stderr


def fake_nvcc(root: Path, release: str) -> Path:
    cuda = fake_cuda(root, with_nccl=True)
    executable(cuda / "bin" / "nvcc", f"#!/bin/sh\necho 'nvcc: NVIDIA (R) Cuda compiler driver'\n"
                                      f"echo 'Cuda compilation tools, release {release}, V{release}.140'\n")
    return cuda


def test_horovod_builds_for_gpus_only_with_tensorflows_cuda_major_version(tmp_path):
    same, stderr = build_settings(tmp_path, cuda_home=fake_nvcc(tmp_path / "cuda12", "12.4"),
                                  extra_env={"TF_CUDA_VERSION": "12.2"})
    assert same["HOROVOD_GPU_OPERATIONS"] == "NCCL" and "CUDA 12.4 found" in stderr
    other, stderr = build_settings(tmp_path, cuda_home=fake_nvcc(tmp_path / "cuda11", "11.8"),
                                   extra_env={"TF_CUDA_VERSION": "12.2"})
    assert other == CPU_BUILD
    assert "CUDA 11.8 found" in stderr and "built for CUDA 12.2" in stderr and "CUDA 12.x toolkit" in stderr
