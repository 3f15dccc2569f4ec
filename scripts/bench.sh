#!/usr/bin/env bash
# Installs what is missing, builds the release preset, runs the default suite,
# writes results JSON under results/ and charts under plots/.
#   scripts/bench.sh                    the default suite
#   scripts/bench.sh --suite smoke      extra arguments go to `muxbench run`
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
muxbench_install_deps

echo "== build (release)"
muxbench_build release

if [ ! -x build/bin/muxbench ]; then
  echo "bench: the harness (build/bin/muxbench) is not built yet; nothing was measured." >&2
  echo "bench: what exists: $(ls build/bin | tr '\n' ' ')" >&2
  exit 1
fi
