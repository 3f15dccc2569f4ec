#!/usr/bin/env bash
# The one list of what muxbench needs, installed from Debian's packages.
# Sourced by scripts/test.sh and scripts/bench.sh; safe to run on its own.
# Quick when everything is present: apt-get runs only if a package is missing.
set -euo pipefail

MUXBENCH_PACKAGES=(
  build-essential cmake pkg-config
  libevent-dev liburing-dev libuv1-dev libasio-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libbenchmark-dev
  libopenmpi-dev openmpi-bin   # muxbench-loadgen on many hosts (mpirun)
  python3 python3-matplotlib python3-pytest python3-jsonschema
  chromium   # headless render check of the HTML report (plots/tests)
  # the distributed testbed (scripts/testbed.sh, tests/distributed): mpirun and
  # mpicc, ip/tc/bridge in network namespaces, unshare and flock
  openmpi-bin libopenmpi-dev iproute2 util-linux
)

# Python tools must run with Debian's interpreter: the python3 first on PATH
# may be another build (pyenv) that cannot see python3-matplotlib.
MUXBENCH_PYTHON=/usr/bin/python3
export MUXBENCH_PYTHON

muxbench_install_deps() {
  local missing=()
  local p
  for p in "${MUXBENCH_PACKAGES[@]}" "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  echo "deps: installing ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

muxbench_build() {  # [preset] [cmake --build arguments, e.g. --target T...]
  local preset="${1:-release}"
  shift || true
  local dir=build
  if [ "$preset" != release ]; then dir="build-$preset"; fi
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake --preset "$preset" >/dev/null
  fi
  cmake --build "$dir" -j "$(nproc)" "$@"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  cd "$(dirname "$0")/.."
  muxbench_install_deps "$@"
fi
