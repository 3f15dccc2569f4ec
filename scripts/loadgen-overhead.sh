#!/usr/bin/env bash
# How close does muxbench-loadgen come to a minimal hand-written epoll client
# (muxbench-minclient)? A BENCHMARK: run it alone on the machine.
#
# Against one `muxbench-server --strategy epoll`, per connection count, REPS
# interleaved repetitions (ABBA) of both clients with the same settings;
# prints the median (min-max) of loadgen rps / minclient rps and of each
# client's CPU per request, and whether issue 15's goal holds (ratio >= 0.95,
# loadgen CPU/req <= minclient's + 10 %). On >= 2 CPUs the server runs on
# CPU 0 and the clients on CPU 1, as `muxbench run` lays a cell out.
#
#   scripts/loadgen-overhead.sh                        10/100/1000 conns, 5 reps, 1+4 s each
#   scripts/loadgen-overhead.sh --reps 7 --out results/reference/loadgen-overhead.txt
#   scripts/loadgen-overhead.sh --connections "100" --loadgen-arg=--threads=1 --no-build
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

build=1
args=()
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) args+=("$a") ;;
  esac
done
if [ "$build" = 1 ]; then
  muxbench_install_deps
  muxbench_build release >/dev/null
fi
exec "$MUXBENCH_PYTHON" scripts/loadgen_overhead.py "${args[@]}"
