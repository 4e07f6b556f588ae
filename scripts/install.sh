#!/usr/bin/env bash
# Creates .venv in the repository and installs the pinned stack into it, from nothing.
# Horovod has no wheels on PyPI: it is compiled from source against the installed
# TensorFlow, which takes several minutes, so the built wheel is kept in pip's cache
# directory and reused by every later install on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV=${VENV:-.venv}
HOROVOD_VERSION=0.28.1

if [ ! -x "$VENV/bin/python" ]; then
  echo "[install] creating $VENV with $($PYTHON --version)"
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
  wheel_dir="$("$PY" -m pip cache dir)/nezha-tf2-wheels"
  mkdir -p "$wheel_dir"
  wheel=$(ls "$wheel_dir"/horovod-${HOROVOD_VERSION}-*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$wheel" ]; then
    echo "[install] building horovod ${HOROVOD_VERSION} with Gloo (takes several minutes; cached afterwards in $wheel_dir)"
    "$PY" -m pip install "cmake<4" >/dev/null
    HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
    HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 HOROVOD_CPU_OPERATIONS=gloo \
    MAKEFLAGS="-j$(nproc)" \
      "$PY" -m pip wheel --no-deps --no-build-isolation -w "$wheel_dir" "horovod==${HOROVOD_VERSION}"
    wheel=$(ls "$wheel_dir"/horovod-${HOROVOD_VERSION}-*.whl | head -n 1)
  else
    echo "[install] reusing the cached horovod wheel $wheel"
  fi
  "$PY" -m pip install --no-deps "$wheel"
  # horovod's own runtime dependencies (its wheel was installed without them)
  "$PY" -m pip install cloudpickle psutil pyyaml packaging
fi

"$PY" -c "import horovod, horovod.tensorflow as hvd; hvd.init(); print('[install] horovod', horovod.__version__, 'with Gloo:', hvd.gloo_built())"
rm -f "$VENV"/.installed-*
touch "$stamp"
echo "[install] done"
