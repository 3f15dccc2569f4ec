#!/usr/bin/env bash
# Calibrates `muxbench compare` on this machine: how often it fails a CI job
# on noise (false positives), and how small a slowdown it catches.
#
#   scripts/compare-calibrate.sh [--runs K] [--repeat N] [--threshold 5%] [--alpha 0.05]
#                                [--delays 1,2,5,10,20] [options]
#
# (a) False positives: K runs of the same small suite, nothing changed
#     between them. Every ordered pair (i, j), i != j, is compared with base
#     i and new j, as CI would compare main with an unchanged branch; each
#     exit 1 is a false positive. Reported: failed pairs / pairs, and
#     regressed rows / rows (cell x metric).
# (b) Sensitivity: one more run per delay D, with `muxbench-server
#     --delay-us D` (a fixed sleep per reply, through `muxbench run
#     --server-arg`), compared against each of the K plain runs; caught =
#     exit 1. Reported with the change actually measured (delays below
#     200 µs spin on the clock in the server, so they are close to the
#     delay asked; still read the measured column).
#
# This is a benchmark: run it alone on the machine (the lead does; docs/ci.md
# holds the numbers). Time: (K + number of delays) runs of the suite; the
# plan is printed first.
#
# Options (defaults in brackets):
#   --bin DIR             muxbench binaries [build/bin]
#   --runs K              plain runs, >= 2 [5]
#   --repeat N            repetitions of every cell [5]
#   --threshold T         compare --threshold [5%]
#   --alpha A             compare --alpha [0.05]
#   --metric LIST         compare --metric [compare's default]
#   --two-sided           compare --two-sided
#   --delays LIST         µs, comma-separated; "none": skip (b) [1,2,5,10,20]
#   --suite NAME          base suite the flags below override [smoke]
#   --strategies LIST     [epoll]
#   --workloads LIST      [pingpong]
#   --connections LIST    [10]
#   --duration S          seconds measured per cell [1]
#   --warmup S            [0.5]
#   --cpu-server LIST, --cpu-loadgen LIST   pin them (muxbench run)
#   --out DIR             runs, compare reports and the summary [results/calibrate-<date>]
#   --reuse               keep runs already in --out instead of running them again
# Exit status: 0 done (whatever the rates), 2 usage, 1 a run or compare failed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${MUXBENCH_PYTHON:-/usr/bin/python3}"

bin="$root/build/bin"
runs=5 repeat=5 threshold=5% alpha=0.05 metric="" two_sided=0 delays=1,2,5,10,20
suite=smoke strategies=epoll workloads=pingpong connections=10 duration=1 warmup=0.5
cpu_server="" cpu_loadgen="" out="" reuse=0

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}
need() { [ $# -ge 2 ] || { echo "compare-calibrate: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) need "$@"; bin="$2"; shift 2 ;;
    --runs) need "$@"; runs="$2"; shift 2 ;;
    --repeat) need "$@"; repeat="$2"; shift 2 ;;
    --threshold) need "$@"; threshold="$2"; shift 2 ;;
    --alpha) need "$@"; alpha="$2"; shift 2 ;;
    --metric|--metrics) need "$@"; metric="$2"; shift 2 ;;
    --two-sided) two_sided=1; shift ;;
    --delays) need "$@"; delays="$2"; shift 2 ;;
    --suite) need "$@"; suite="$2"; shift 2 ;;
    --strategies) need "$@"; strategies="$2"; shift 2 ;;
    --workloads) need "$@"; workloads="$2"; shift 2 ;;
    --connections) need "$@"; connections="$2"; shift 2 ;;
    --duration) need "$@"; duration="$2"; shift 2 ;;
    --warmup) need "$@"; warmup="$2"; shift 2 ;;
    --cpu-server) need "$@"; cpu_server="$2"; shift 2 ;;
    --cpu-loadgen) need "$@"; cpu_loadgen="$2"; shift 2 ;;
    --out) need "$@"; out="$2"; shift 2 ;;
    --reuse) reuse=1; shift ;;
    -h|--help) usage ;;
    *) echo "compare-calibrate: unknown option '$1' (--help lists them)" >&2; exit 2 ;;
  esac
done
case "$runs" in ''|*[!0-9]*) echo "compare-calibrate: --runs must be an integer >= 2" >&2; exit 2 ;; esac
[ "$runs" -ge 2 ] || { echo "compare-calibrate: --runs must be at least 2 (pairs of runs)" >&2; exit 2; }
muxbench="$bin/muxbench"
[ -x "$muxbench" ] || { echo "compare-calibrate: $muxbench is not built (cmake --build build)" >&2; exit 2; }
if [ "$delays" = none ]; then delays=""; fi
for d in ${delays//,/ }; do
  case "$d" in ''|*[!0-9]*) echo "compare-calibrate: --delays: '$d' is not a whole number of µs" >&2; exit 2 ;; esac
done
out="${out:-results/calibrate-$(date -u +%Y%m%d-%H%M%S)}"
mkdir -p "$out"

run_args=(run --suite "$suite" --strategies "$strategies" --workloads "$workloads"
          --connections "$connections" --repeat "$repeat" --duration "$duration" --warmup "$warmup")
[ -n "$cpu_server" ] && run_args+=(--cpu-server "$cpu_server")
[ -n "$cpu_loadgen" ] && run_args+=(--cpu-loadgen "$cpu_loadgen")
compare_args=(--threshold "$threshold" --alpha "$alpha")
[ -n "$metric" ] && compare_args+=(--metric "$metric")
[ "$two_sided" -eq 1 ] && compare_args+=(--two-sided)

n_delays=$(for d in ${delays//,/ }; do echo "$d"; done | wc -l)
echo "== plan: $runs plain runs + $n_delays delayed runs of: muxbench ${run_args[*]}"
"$muxbench" "${run_args[@]}" --dry-run | tail -1 | sed 's/^/   each run: /'
echo "   compare ${compare_args[*]}; results in $out"

# One run of the suite into $1 (skipped with --reuse when it is there).
run_suite() {
  local file="$1"; shift
  if [ "$reuse" -eq 1 ] && [ -s "$file" ]; then
    echo "   reuse $file"
    return
  fi
  rm -f "$file"
  echo "   run   $file $*"
  if ! "$muxbench" "${run_args[@]}" "$@" --out "$file" > "$file.log" 2>&1; then
    echo "compare-calibrate: muxbench run failed; see $file.log" >&2
    tail -5 "$file.log" >&2
    exit 1
  fi
}

echo "== (a) plain runs"
for i in $(seq 1 "$runs"); do run_suite "$out/plain-$i.json"; done
if [ -n "$delays" ]; then
  echo "== (b) delayed runs"
  for d in ${delays//,/ }; do run_suite "$out/delay-$d.json" "--server-arg=--delay-us=$d"; done
fi

# Every comparison: kind, label, base, new, report, exit status.
index="$out/compares.tsv"
: > "$index"
compare() {
  local kind="$1" label="$2" base="$3" new="$4" report="$5" rc=0
  "$muxbench" compare "$base" "$new" "${compare_args[@]}" --json "$report" > "$report.txt" 2>&1 || rc=$?
  if [ "$rc" -ge 2 ]; then
    echo "compare-calibrate: muxbench compare $base $new exited $rc:" >&2
    cat "$report.txt" >&2
    exit 1
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$label" "$base" "$new" "$report" "$rc" >> "$index"
}
echo "== compare"
for i in $(seq 1 "$runs"); do
  for j in $(seq 1 "$runs"); do
    [ "$i" -eq "$j" ] && continue
    compare noise "$i->$j" "$out/plain-$i.json" "$out/plain-$j.json" "$out/compare-$i-$j.json"
  done
done
for d in ${delays//,/ }; do
  for i in $(seq 1 "$runs"); do
    compare delay "$d" "$out/plain-$i.json" "$out/delay-$d.json" "$out/compare-$i-delay-$d.json"
  done
done

"$python" - "$index" "$out/calibration.txt" "$threshold" "$alpha" "$repeat" <<'PY'
import json, statistics, sys

index, summary_path, threshold, alpha, repeat = sys.argv[1:6]
rows = [line.rstrip("\n").split("\t") for line in open(index) if line.strip()]
lines = []
say = lines.append

noise = [r for r in rows if r[0] == "noise"]
if noise:
    failed = sum(r[5] == "1" for r in noise)
    total_rows = regressed_rows = inconclusive_rows = 0
    by_metric = {}
    for r in noise:
        rep = json.load(open(r[4]))
        for c in rep["cells"]:
            if c.get("field") is None:
                continue
            total_rows += 1
            m = by_metric.setdefault(c["metric"], [0, 0])
            m[1] += 1
            if c["verdict"] == "regressed":
                regressed_rows += 1
                m[0] += 1
            inconclusive_rows += c["verdict"] == "inconclusive"
    say(f"false positives (threshold {threshold}, alpha {alpha}, --repeat {repeat}):")
    say(f"  pairs failed: {failed} of {len(noise)} ordered pairs of unchanged runs "
        f"({100.0 * failed / len(noise):.1f} %)")
    if total_rows:
        say(f"  rows regressed: {regressed_rows} of {total_rows} cell x metric rows "
            f"({100.0 * regressed_rows / total_rows:.2f} %); inconclusive: {inconclusive_rows}")
        say("  by metric: " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in by_metric.items()))

delays = {}
for r in rows:
    if r[0] == "delay":
        delays.setdefault(int(r[1]), []).append(r)
if delays:
    say("")
    say("injected delays (muxbench-server --delay-us), each compared with every plain run:")
    say(f"  {'delay':>7}  {'caught':>8}  {'throughput':>10}  {'p50':>8}  regressed metrics")
    for d in sorted(delays):
        rs = delays[d]
        caught = sum(r[5] == "1" for r in rs)
        tput, p50, metrics = [], [], set()
        for r in rs:
            rep = json.load(open(r[4]))
            for c in rep["cells"]:
                if c.get("change_pct") is None:
                    continue
                if c["metric"] == "throughput":
                    tput.append(c["change_pct"])
                if c["metric"] == "p50":
                    p50.append(c["change_pct"])
                if c["verdict"] == "regressed":
                    metrics.add(c["metric"])
        fmt = lambda v: f"{statistics.median(v):+.1f}%" if v else "-"
        say(f"  {str(d) + ' µs':>7}  {f'{caught}/{len(rs)}':>8}  {fmt(tput):>10}  {fmt(p50):>8}  "
            f"{', '.join(sorted(metrics)) or '-'}")
    caught_all = [d for d in sorted(delays) if all(r[5] == "1" for r in delays[d])]
    say("  smallest delay caught in every comparison: " +
        (f"{caught_all[0]} µs" if caught_all else "none"))
    say("  (throughput and p50: median change measured over the comparisons; small delays")
    say("   are spun in the server and should be close to the delay asked; read these)")

text = "\n".join(lines) + "\n"
sys.stdout.write("\n" + text)
with open(summary_path, "w") as f:
    f.write(text)
PY
echo "summary: $out/calibration.txt"
