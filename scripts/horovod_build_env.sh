#!/usr/bin/env bash
# Decides how Horovod is compiled on this machine, from what is installed (no GPU needed to decide):
#   - CUDA (nvcc in $CUDA_HOME/bin or on PATH) and NCCL (libnccl.so and nccl.h) found:
#       GPU allreduce through NCCL (HOROVOD_GPU_OPERATIONS=NCCL), so gradients on the GPUs never
#       go through host memory;
#   - an MPI compiler wrapper (mpicxx) on PATH: MPI is built in as well (mpirun launches work);
#   - otherwise: the CPU build with Gloo only, as before.
# Prints KEY=VALUE lines on stdout (the environment of `pip wheel horovod`), the last one
# HOROVOD_BUILD_VARIANT=cpu-gloo|cpu-gloo-mpi|gpu-nccl|gpu-nccl-mpi and NEZHA_WHEEL_CACHE, the
# directory under pip's cache where that build's wheel is kept (the CPU build keeps the name it
# always had, so a machine that built it once never rebuilds it), and says on stderr what it found. Only bash builtins are used, so a test can run it with a PATH and a
# CUDA_HOME of its own making. Overrides: CUDA_HOME (default /usr/local/cuda), NCCL_HOME,
# HOROVOD_BUILD_FOR=cpu to force the CPU build whatever is installed.
# TF_CUDA_VERSION (install.sh passes TensorFlow's tf.sysconfig.get_build_info()["cuda_version"], e.g. 12.2):
# the GPU build needs an nvcc of the same CUDA major version, since Horovod's GPU code and TensorFlow's
# (the pip nvidia-*-cu12 libraries that tensorflow[and-cuda] installs) share one process and its streams;
# another major version gives the CPU build and says why.
set -euo pipefail

say() { echo "[install] $*" >&2; }

first_file() {  # first existing file among the arguments (globs already expanded by the caller)
  local f
  for f in "$@"; do
    if [ -f "$f" ]; then echo "$f"; return 0; fi
  done
  return 1
}

find_nccl_home() {  # a directory holding include/nccl.h and lib*/libnccl.so*
  local home
  for home in ${NCCL_HOME:+"$NCCL_HOME"} "$CUDA_HOME" /usr /usr/local; do
    [ -f "$home/include/nccl.h" ] || continue
    shopt -s nullglob
    local libs=("$home"/lib/libnccl.so* "$home"/lib64/libnccl.so* "$home"/lib/x86_64-linux-gnu/libnccl.so*)
    shopt -u nullglob
    if first_file "${libs[@]}" >/dev/null; then echo "$home"; return 0; fi
  done
  return 1
}

CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
nvcc=""
if [ -x "$CUDA_HOME/bin/nvcc" ]; then
  nvcc="$CUDA_HOME/bin/nvcc"
elif command -v nvcc >/dev/null 2>&1; then
  nvcc=$(command -v nvcc)
  CUDA_HOME=$(cd "${nvcc%/*}/.." && pwd)
fi
mpicxx=$(command -v mpicxx 2>/dev/null || true)

nvcc_release() {  # "12.2" from nvcc --version's "Cuda compilation tools, release 12.2, V12.2.140"
  local line
  while IFS= read -r line; do
    if [[ $line =~ release\ ([0-9]+\.[0-9]+) ]]; then echo "${BASH_REMATCH[1]}"; return 0; fi
  done <<<"$("$1" --version 2>/dev/null || true)"
  return 1
}

echo "HOROVOD_WITH_TENSORFLOW=1"
echo "HOROVOD_WITHOUT_PYTORCH=1"
echo "HOROVOD_WITHOUT_MXNET=1"
echo "HOROVOD_WITH_GLOO=1"

gpu=""
if [ "${HOROVOD_BUILD_FOR:-auto}" = cpu ]; then
  say "HOROVOD_BUILD_FOR=cpu: building for CPU whatever is installed"
elif [ -n "$nvcc" ]; then
  cuda_release=$(nvcc_release "$nvcc" || echo unknown)
  if [ -n "${TF_CUDA_VERSION:-}" ] && [ "${cuda_release%%.*}" != "${TF_CUDA_VERSION%%.*}" ]; then
    say "CUDA $cuda_release found ($nvcc), but TensorFlow's wheels are built for CUDA $TF_CUDA_VERSION: building"
    say "  for CPU (every allreduce through host memory). Install a CUDA ${TF_CUDA_VERSION%%.*}.x toolkit (nvcc) and"
    say "  rerun with CUDA_HOME naming it to get the GPU build."
  elif nccl_home=$(find_nccl_home); then
    gpu=nccl
    say "CUDA $cuda_release found ($nvcc) and NCCL ($nccl_home): GPU allreduce through NCCL"
    echo "HOROVOD_GPU_OPERATIONS=NCCL"
    echo "HOROVOD_CUDA_HOME=$CUDA_HOME"
    echo "HOROVOD_NCCL_HOME=$nccl_home"
  else
    say "CUDA found ($nvcc) but no NCCL (libnccl.so + nccl.h under NCCL_HOME, CUDA_HOME, /usr or /usr/local):"
    say "  building for CPU; on GPUs every allreduce would go through host memory. Install NCCL"
    say "  (or set NCCL_HOME) and rerun to get the GPU build."
  fi
else
  say "no CUDA (nvcc) found: CPU build"
fi

if [ -n "$mpicxx" ]; then
  say "MPI found ($mpicxx): built in (mpirun can launch the processes)"
  echo "HOROVOD_WITH_MPI=1"
else
  echo "HOROVOD_WITHOUT_MPI=1"
  # CPU tensors' collectives go through Gloo; with MPI built in Horovod's default (MPI) is kept.
  echo "HOROVOD_CPU_OPERATIONS=gloo"
fi

variant=$([ -n "$gpu" ] && echo gpu-nccl || echo cpu-gloo)
[ -n "$mpicxx" ] && variant="$variant-mpi"
echo "HOROVOD_BUILD_VARIANT=$variant"
if [ "$variant" = cpu-gloo ]; then
  echo "NEZHA_WHEEL_CACHE=nezha-tf2-wheels"
else
  echo "NEZHA_WHEEL_CACHE=nezha-tf2-wheels-$variant"
fi
