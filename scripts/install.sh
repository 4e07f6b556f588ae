#!/usr/bin/env bash
# Creates .venv in the repository and installs the pinned stack into it, from nothing.
# Horovod has no wheels on PyPI: it is compiled from source against the installed
# TensorFlow, which takes several minutes, so the built wheel is kept in pip's cache
# directory and reused by every later install on this machine. It is built for GPUs (NCCL)
# when CUDA and NCCL are installed, with MPI when an MPI is, and for CPUs (Gloo) otherwise
# (scripts/horovod_build_env.sh decides).
#   PYTHON=/path/to/python3.11 bash scripts/install.sh     # use that interpreter for the venv
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
HOROVOD_VERSION=0.28.1
# TensorFlow 2.15.1 publishes wheels for CPython 3.9, 3.10 and 3.11 only.
SUPPORTED="3.9 3.10 3.11"

python_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true; }

supported() { case " $SUPPORTED " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

no_python() {
  {
    echo "[install] $1"
    echo "[install] TensorFlow 2.15.1, and so this project, needs Python 3.9, 3.10 or 3.11 (3.11 recommended)."
    echo "[install] Get one, then run again with PYTHON naming it, e.g.  PYTHON=/usr/bin/python3.11 make test"
    echo "[install]   pyenv:     pyenv install 3.11, then PYTHON=\$(pyenv root)/versions/<3.11.x>/bin/python3.11"
    echo "[install]   Ubuntu:    sudo add-apt-repository ppa:deadsnakes/ppa"
    echo "[install]              sudo apt-get install python3.11 python3.11-venv, then PYTHON=python3.11"
    echo "[install]   conda:     conda create -n py311 python=3.11, then PYTHON=<that env>/bin/python"
    echo "[install]   container: a python:3.11 image, or an NGC TensorFlow 2.15 image on GPUs (README, GPU clusters)"
  } >&2
  exit 1
}

if [ -x "$VENV/bin/python" ]; then
  # An existing environment decides; one made with an unsupported Python cannot be repaired by pip.
  version=$(python_version "$VENV/bin/python")
  supported "$version" ||
    no_python "$VENV was made with Python ${version:-?}: remove it (rm -rf $VENV) and run again with a supported one."
elif [ -n "${PYTHON:-}" ]; then
  command -v "$PYTHON" >/dev/null 2>&1 || no_python "PYTHON=$PYTHON is not an executable."
  version=$(python_version "$PYTHON")
  supported "$version" || no_python "PYTHON=$PYTHON is Python ${version:-(it reported no version)}."
else
  for candidate in python3.11 python3.10 python3.9 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && supported "$(python_version "$candidate")"; then
      PYTHON=$candidate
      break
    fi
  done
  if [ -z "${PYTHON:-}" ]; then
    found=$(python_version python3)
    no_python "no Python 3.9-3.11 among python3.11, python3.10, python3.9, python3 (python3 is ${found:-absent})."
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[install] creating $VENV with $("$PYTHON" --version 2>&1) ($(command -v "$PYTHON"))"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1

stamp="$VENV/.installed-$(sha1sum requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)"
if [ -f "$stamp" ]; then
  echo "[install] $VENV is up to date"
  exit 0
fi

# TensorFlow (and everything else) first: Horovod's build needs its headers.
"$PY" -m pip install --upgrade "pip<25" setuptools wheel >/dev/null
"$PY" -m pip install -r requirements.txt -r requirements-dev.txt

if ! "$PY" -c "import horovod.tensorflow" 2>/dev/null; then
  # KEY=VALUE lines: the build's environment (HOROVOD_*), its name and its wheel cache directory.
  settings=$(bash scripts/horovod_build_env.sh)
  variant=$(sed -n 's/^HOROVOD_BUILD_VARIANT=//p' <<<"$settings")
  wheel_dir="$("$PY" -m pip cache dir)/$(sed -n 's/^NEZHA_WHEEL_CACHE=//p' <<<"$settings")"
  mkdir -p "$wheel_dir"
  wheel=$(ls "$wheel_dir"/horovod-${HOROVOD_VERSION}-*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$wheel" ]; then
    echo "[install] building horovod ${HOROVOD_VERSION} for $variant (takes several minutes; cached afterwards in $wheel_dir)"
    "$PY" -m pip install "cmake<4" >/dev/null
    (
      while IFS= read -r setting; do
        [ -n "$setting" ] && export "${setting?}"
      done <<<"$(grep '^HOROVOD_' <<<"$settings" | grep -v '^HOROVOD_BUILD_VARIANT=')"
      MAKEFLAGS="-j$(nproc)" "$PY" -m pip wheel --no-deps --no-build-isolation -w "$wheel_dir" "horovod==${HOROVOD_VERSION}"
    )
    wheel=$(ls "$wheel_dir"/horovod-${HOROVOD_VERSION}-*.whl | head -n 1)
  else
    echo "[install] reusing the cached horovod wheel $wheel"
  fi
  "$PY" -m pip install --no-deps "$wheel"
  # horovod's own runtime dependencies (its wheel was installed without them)
  "$PY" -m pip install cloudpickle psutil pyyaml packaging
fi

"$PY" -c "import horovod, horovod.tensorflow as hvd; print('[install] horovod', horovod.__version__, 'built with NCCL:', bool(hvd.nccl_built()), 'MPI:', bool(hvd.mpi_built()), 'Gloo:', bool(hvd.gloo_built()))"
rm -f "$VENV"/.installed-*
touch "$stamp"
echo "[install] done"
