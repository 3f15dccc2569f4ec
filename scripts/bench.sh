#!/usr/bin/env bash
# Installs what is missing, builds the release preset, runs the default suite,
# writes results JSON under results/ and charts under plots/.
#   scripts/bench.sh                    the default suite (under 15 minutes on 2 cores)
#   scripts/bench.sh --suite smoke      extra arguments go to `muxbench run`
#   scripts/bench.sh --resume results/X.json   continue an interrupted run, then chart it
# After the suite it runs the micro-benchmarks (build/bin/muxbench-micro, ~2 min)
# and saves their JSON next to the results file (<results>.micro.json), which
# the charts use; MUXBENCH_MICRO=0 skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
muxbench_install_deps

echo "== build (release)"
muxbench_build release

if [ ! -x build/bin/muxbench ]; then
  echo "bench: the harness (build/bin/muxbench) is not built; nothing was measured." >&2
  echo "bench: what exists: $(ls build/bin | tr '\n' ' ')" >&2
  exit 1
fi

# The default suite unless the arguments name one (or resume a file).
args=("$@")
has_suite=0
dry_run=0
for a in "${args[@]}"; do
  case "$a" in
    --suite|--suite=*|--resume|--resume=*) has_suite=1 ;;
    --dry-run) dry_run=1 ;;
  esac
done
if [ "$has_suite" -eq 0 ]; then args=(--suite default "${args[@]}"); fi

echo "== run: build/bin/muxbench run ${args[*]}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
build/bin/muxbench run "${args[@]}" | tee "$out"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  echo "bench: muxbench run stopped (exit $rc); no charts drawn." >&2
  exit "$rc"
fi
if [ "$dry_run" -eq 1 ]; then exit 0; fi
results=$(sed -n 's/^results: //p' "$out" | tail -n 1)
if [ -z "$results" ] || [ ! -f "$results" ]; then
  echo "bench: could not find the results file muxbench reported; no charts drawn." >&2
  exit 1
fi

plot_args=("$results")
if [ "${MUXBENCH_MICRO:-1}" != 0 ] && [ -x build/bin/muxbench-micro ]; then
  micro="${results%.json}.micro.json"
  echo "== micro-benchmarks: build/bin/muxbench-micro -> $micro (about 2 minutes)"
  if build/bin/muxbench-micro --benchmark_format=console --benchmark_out="$micro" \
       --benchmark_out_format=json; then
    plot_args+=(--micro "$micro")
  else
    echo "bench: the micro-benchmarks failed; charts are drawn without them." >&2
  fi
fi

if [ -x scripts/plot.sh ]; then
  echo "== charts: scripts/plot.sh ${plot_args[*]}"
  scripts/plot.sh "${plot_args[@]}"
else
  echo "bench: scripts/plot.sh does not exist yet: no charts were drawn." >&2
  echo "bench: the results are in $results (muxbench show $results prints them)." >&2
fi
