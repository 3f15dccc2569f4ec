#!/usr/bin/env bash
# Installs what is missing, builds the release preset, runs every test.
#   scripts/test.sh                 all tests (unit, conformance, slow, pytest)
#   scripts/test.sh -L unit         extra arguments go to ctest
#   MUXBENCH_PRESET=asan scripts/test.sh   the same under a sanitizer preset
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
muxbench_install_deps

preset="${MUXBENCH_PRESET:-release}"
echo "== build ($preset)"
muxbench_build "$preset"
dir=build
if [ "$preset" != release ]; then dir="build-$preset"; fi

echo "== ctest"
ctest --test-dir "$dir" --output-on-failure -j 2 "$@"

if [ -d plots/tests ] && [ $# -eq 0 ]; then
  echo "== pytest (plots)"
  "$MUXBENCH_PYTHON" -m pytest -q plots/tests
fi
echo "== all tests passed"
