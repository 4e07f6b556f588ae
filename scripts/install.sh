#!/usr/bin/env bash
# Creates the stack's venv in the repository and installs the pinned stack into it, from nothing.
# Two stacks (README, Set up):
#   classic  Python 3.9-3.11, requirements.txt (TensorFlow 2.15.1, tensorflow-addons, Horovod), in .venv
#   current  Python 3.12-3.13, requirements-current.txt (TensorFlow 2.21, tf-keras; no Horovod, no
#            tensorflow-addons), in .venv-current
# STACK=classic|current chooses; without it PYTHON's version decides, else classic when a Python 3.9-3.11
# is on PATH, else current when a 3.12-3.13 is.
# Horovod (classic only) has no wheels on PyPI: it is compiled from source against the installed
# TensorFlow, which takes several minutes, so the built wheel is kept in pip's cache
# directory and reused by every later install on this machine. It is built for GPUs (NCCL)
# when CUDA and NCCL are installed, with MPI when an MPI is, and for CPUs (Gloo) otherwise
# (scripts/horovod_build_env.sh decides).
# Where an NVIDIA driver is present (nvidia-smi lists GPUs, or /proc/driver/nvidia/version exists),
# TensorFlow comes as tensorflow[and-cuda]==<the stack's version>: the pip packages nvidia-*-cu12 bring
# CUDA, cuDNN and NCCL (2.15.1: CUDA 12.2, cuDNN 8.9.4, NCCL 2.16.5; 2.21.0: CUDA 12.5 or later 12.x,
# cuDNN 9.3+, NCCL 2.27.7+), so no system CUDA is needed for TensorFlow itself. Horovod's GPU build
# compiles against a system CUDA toolkit of the same major version (12) and a system NCCL
# (scripts/horovod_build_env.sh). The install ends by printing the devices TensorFlow sees, and fails
# when a driver is present and TensorFlow sees no GPU. TENSORFLOW_GPU=yes|no overrides the detection
# (e.g. building a GPU image where no driver is loaded); DRIVER_VERSION_FILE names the driver's file.
#   PYTHON=/path/to/python3.11 bash scripts/install.sh     # use that interpreter for the venv
#   STACK=current bash scripts/install.sh                  # the current stack, in .venv-current
#   bash scripts/install.sh --which-stack                  # print the stack it would install, and stop
#   bash scripts/install.sh --which-tensorflow             # print the TensorFlow requirement, and stop
#   bash scripts/install.sh --check-devices                # print the devices the venv's TensorFlow sees
set -euo pipefail
cd "$(dirname "$0")/.."

HOROVOD_VERSION=0.28.1
# TensorFlow 2.15.1 publishes wheels for CPython 3.9, 3.10 and 3.11 only; 2.21 for 3.10-3.13, of which
# the current stack takes the two that 2.15.1 cannot serve.
CLASSIC_PYTHONS="3.9 3.10 3.11"
CURRENT_PYTHONS="3.12 3.13"

python_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true; }

member() { case " $2 " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# The first of the candidate interpreters (arguments after the versions) whose version is listed.
first_python() {
  local versions=$1 candidate
  shift
  for candidate in "$@"; do
    if command -v "$candidate" >/dev/null 2>&1 && member "$(python_version "$candidate")" "$versions"; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# pyenv's interpreters count too: its shims answer only for the versions pyenv has selected.
pyenv_root=${PYENV_ROOT:-$(pyenv root 2>/dev/null || true)}
pyenv_pythons() {
  local version
  for version in "$@"; do
    ls -d "$pyenv_root/versions/$version".*/bin/python"$version" 2>/dev/null | sort -V -r || true
  done
}
CLASSIC_CANDIDATES="python3.11 python3.10 python3.9 python3 $(pyenv_pythons 3.11 3.10 3.9 | tr '\n' ' ')"
CURRENT_CANDIDATES="python3.12 python3.13 python3 $(pyenv_pythons 3.12 3.13 | tr '\n' ' ')"

if [ -z "${STACK:-}" ]; then
  if [ -n "${PYTHON:-}" ] && member "$(python_version "$PYTHON")" "$CURRENT_PYTHONS"; then
    STACK=current
  elif [ -z "${PYTHON:-}" ] && ! first_python "$CLASSIC_PYTHONS" $CLASSIC_CANDIDATES >/dev/null &&
    first_python "$CURRENT_PYTHONS" $CURRENT_CANDIDATES >/dev/null; then
    STACK=current
  else
    STACK=classic
  fi
fi
case "$STACK" in
  classic) SUPPORTED=$CLASSIC_PYTHONS CANDIDATES=$CLASSIC_CANDIDATES REQUIREMENTS=requirements.txt
    TF_VERSION=2.15.1 RANGE="3.9-3.11" RECOMMENDED=3.11 DEFAULT_VENV=.venv ;;
  current) SUPPORTED=$CURRENT_PYTHONS CANDIDATES=$CURRENT_CANDIDATES REQUIREMENTS=requirements-current.txt
    TF_VERSION=2.21.0 RANGE="3.12-3.13" RECOMMENDED=3.12 DEFAULT_VENV=.venv-current ;;
  *) echo "[install] STACK=$STACK: choose STACK=classic (Python 3.9-3.11) or STACK=current (Python 3.12-3.13)." >&2
    exit 1 ;;
esac
if [ "${1:-}" = "--which-stack" ]; then
  echo "$STACK"
  exit 0
fi

DRIVER_VERSION_FILE=${DRIVER_VERSION_FILE:-/proc/driver/nvidia/version}
# How an NVIDIA driver was found (status 0), or nothing (status 1). Bash builtins and nvidia-smi only.
nvidia_driver() {
  local line listing count=0
  if command -v nvidia-smi >/dev/null 2>&1 && listing=$(nvidia-smi -L 2>/dev/null); then
    while IFS= read -r line; do [[ $line == GPU* ]] && count=$((count + 1)); done <<<"$listing"
    echo "nvidia-smi lists $count GPU(s)"
    return 0
  fi
  if [ -r "$DRIVER_VERSION_FILE" ]; then
    read -r line <"$DRIVER_VERSION_FILE" || true
    echo "$DRIVER_VERSION_FILE: ${line:-present}"
    return 0
  fi
  return 1
}

case "${TENSORFLOW_GPU:-auto}" in
  yes) DRIVER="TENSORFLOW_GPU=yes" ;;
  no) DRIVER="" ;;
  auto) DRIVER=$(nvidia_driver || true) ;;
  *) echo "[install] TENSORFLOW_GPU=$TENSORFLOW_GPU: choose yes, no or auto (the default: yes where an NVIDIA driver is found)." >&2
    exit 1 ;;
esac
if [ -n "$DRIVER" ]; then
  TF_REQUIREMENT="tensorflow[and-cuda]==$TF_VERSION"
  tf_reason="an NVIDIA driver is present ($DRIVER): $TF_REQUIREMENT, with CUDA, cuDNN and NCCL from pip"
else
  TF_REQUIREMENT="tensorflow==$TF_VERSION"
  tf_reason="no NVIDIA driver (nvidia-smi, $DRIVER_VERSION_FILE): $TF_REQUIREMENT, for CPUs"
fi
if [ "${1:-}" = "--which-tensorflow" ]; then
  echo "[install] $tf_reason" >&2
  echo "$TF_REQUIREMENT"
  exit 0
fi

# Prints the devices TensorFlow sees; fails, saying what to check, when a driver is present and it sees no GPU.
check_devices() {
  local devices gpus
  devices=$(TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2} "$1" -c "import tensorflow as tf; print(' '.join(d.name for d in tf.config.list_physical_devices()))") || {
    echo "[install] TensorFlow does not import in $VENV" >&2
    return 1
  }
  echo "[install] TensorFlow $TF_VERSION sees: $devices"
  gpus=0
  for device in $devices; do [[ $device == *:GPU:* ]] && gpus=$((gpus + 1)); done
  if [ -n "$DRIVER" ] && [ "$gpus" = 0 ]; then
    {
      echo "[install] TensorFlow was installed for GPUs ($DRIVER) but sees no GPU. Check:"
      echo "[install]   nvidia-smi works and its driver supports CUDA 12 (driver 525.60 or later);"
      echo "[install]   CUDA_VISIBLE_DEVICES is not empty or wrong (it is '${CUDA_VISIBLE_DEVICES-unset}');"
      echo "[install]   LD_LIBRARY_PATH does not put another CUDA or cuDNN before the pip nvidia-* libraries;"
      echo "[install]   $1 -c \"import tensorflow as tf; tf.config.list_physical_devices('GPU')\" says why in its log."
      echo "[install] TENSORFLOW_GPU=no installs for CPUs without this check."
    } >&2
    return 1
  fi
}
VENV=${VENV:-$DEFAULT_VENV}
if [ "${1:-}" = "--check-devices" ]; then  # the install's last check, on its own
  check_devices "$VENV/bin/python"
  exit
fi

supported() { member "$1" "$SUPPORTED"; }

no_python() {
  local other="STACK=current (Python 3.12 or 3.13)"
  [ "$STACK" = current ] && other="STACK=classic (Python 3.9-3.11, with Horovod and tensorflow-addons)"
  {
    echo "[install] $1"
    echo "[install] The $STACK stack (TensorFlow $TF_VERSION) needs Python $(sed 's/ /, /g; s/, \([^,]*\)$/ or \1/' <<<"$SUPPORTED") ($RECOMMENDED recommended); the other one is $other."
    echo "[install] Get one, then run again with PYTHON naming it, e.g.  PYTHON=/usr/bin/python$RECOMMENDED make test"
    echo "[install]   pyenv:     pyenv install $RECOMMENDED, then PYTHON=\$(pyenv root)/versions/<$RECOMMENDED.x>/bin/python$RECOMMENDED"
    echo "[install]   Ubuntu:    sudo add-apt-repository ppa:deadsnakes/ppa"
    echo "[install]              sudo apt-get install python$RECOMMENDED python$RECOMMENDED-venv, then PYTHON=python$RECOMMENDED"
    echo "[install]   conda:     conda create -n py${RECOMMENDED/./} python=$RECOMMENDED, then PYTHON=<that env>/bin/python"
    echo "[install]   container: a python:$RECOMMENDED image, or an NGC TensorFlow 2.15 image on GPUs (README, GPU clusters)"
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
  PYTHON=$(first_python "$SUPPORTED" $CANDIDATES) || {
    found=$(python_version python3)
    names=$(tr ' ' '\n' <<<"$CANDIDATES" | grep -v -e / -e '^$' | paste -sd, - | sed 's/,/, /g')
    no_python "no Python $RANGE among $names on PATH, nor in pyenv's versions (python3 is ${found:-absent})."
  }
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[install] creating $VENV with $("$PYTHON" --version 2>&1) ($(command -v "$PYTHON"))"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1

# The GPU install has a stamp of its own, so that a venv first installed for CPUs gets tensorflow[and-cuda].
stamp="$VENV/.installed-$(sha1sum "$REQUIREMENTS" requirements-dev.txt | sha1sum | cut -c1-12)${DRIVER:+-gpu}"
if [ -f "$stamp" ]; then
  echo "[install] $VENV is up to date"
  exit 0
fi

# TensorFlow (and everything else) first: Horovod's build needs its headers.
"$PY" -m pip install --upgrade "pip<25" setuptools wheel >/dev/null
echo "[install] $tf_reason"
"$PY" -m pip install -r "$REQUIREMENTS" -r requirements-dev.txt ${DRIVER:+"$TF_REQUIREMENT"}

if [ "$STACK" = current ]; then
  "$PY" -c "import tensorflow as tf, tf_keras; print('[install] current stack: tensorflow', tf.__version__, 'tf-keras', tf_keras.__version__)"
  check_devices "$PY"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
  echo "[install] done"
  exit 0
fi

if ! "$PY" -c "import horovod.tensorflow" 2>/dev/null; then
  # KEY=VALUE lines: the build's environment (HOROVOD_*), its name and its wheel cache directory.
  # Horovod's GPU code must use the CUDA major version TensorFlow's wheels were built for.
  settings=$(TF_CUDA_VERSION=$("$PY" -c "import tensorflow as tf; print(tf.sysconfig.get_build_info().get('cuda_version', ''))") \
    bash scripts/horovod_build_env.sh)
  variant=$(sed -n 's/^HOROVOD_BUILD_VARIANT=//p' <<<"$settings")
  # Its own assignment, so that a failing `pip cache dir` stops the install (set -e) rather than leaving
  # an empty directory and a wheel cache at the file system's root.
  cache_dir=$("$PY" -m pip cache dir)
  wheel_dir="$cache_dir/$(sed -n 's/^NEZHA_WHEEL_CACHE=//p' <<<"$settings")"
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
check_devices "$PY"
rm -f "$VENV"/.installed-*
touch "$stamp"
echo "[install] done"
