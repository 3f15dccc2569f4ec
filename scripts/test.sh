#!/usr/bin/env bash
# Installs what is missing, builds, runs every test:
#   1. release preset (build/): ctest (unit, conformance, slow) + the plots' pytest;
#   2. asan and tsan presets (build-asan/, build-tsan/): the unit and conformance
#      suites again under the sanitizers (they build and run nothing else).
#
#   scripts/test.sh                   everything above (CI runs exactly this)
#   scripts/test.sh -L unit           release only; extra arguments go to ctest
#   MUXBENCH_SANITIZERS=0 scripts/test.sh    skip step 2
#   MUXBENCH_PRESET=asan scripts/test.sh     all ctest tests under one preset only
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
muxbench_install_deps

# What the unit and conformance suites run: their test binaries and the
# binaries they spawn (the sanitizer presets build only these).
SANITIZER_TARGETS=(unit_tests line_codec_fuzz conformance_tests loadgen_tests loadgen_unit_tests
                   muxbench-server muxbench-loadgen muxbench-test-corrupt-server)

run_ctest() {  # preset, ctest args...
  local preset="$1"
  shift
  local dir=build
  if [ "$preset" != release ]; then dir="build-$preset"; fi
  echo "== build ($preset) $(date +%T)"
  if [ "$preset" = release ] || [ -n "${MUXBENCH_PRESET:-}" ]; then
    muxbench_build "$preset"
  else
    muxbench_build "$preset" --target "${SANITIZER_TARGETS[@]}"
  fi
  echo "== ctest ($preset) $* $(date +%T)"
  # tsan: no 1 s sleep at exit, which would make the SIGTERM cases flaky.
  TSAN_OPTIONS="${TSAN_OPTIONS:-atexit_sleep_ms=0 halt_on_error=1}" \
    ctest --test-dir "$dir" --output-on-failure -j 2 "$@"
}

if [ -n "${MUXBENCH_PRESET:-}" ]; then
  run_ctest "$MUXBENCH_PRESET" "$@"
  echo "== all tests passed ($MUXBENCH_PRESET)"
  exit 0
fi

run_ctest release "$@"
if [ $# -gt 0 ]; then
  echo "== selected tests passed"
  exit 0
fi

echo "== pytest (plots) $(date +%T)"
"$MUXBENCH_PYTHON" -m pytest -q plots/tests

if [ "${MUXBENCH_SANITIZERS:-1}" != 0 ]; then
  for preset in asan tsan; do
    # (registry_current and long_functions are Python checks of the
    # sources: once, in the release run, is enough.)
    run_ctest "$preset" -L 'unit|conformance' -E '^(registry_current|long_functions)$'
  done
fi
echo "== all tests passed $(date +%T)"
