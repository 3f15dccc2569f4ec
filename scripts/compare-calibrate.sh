#!/usr/bin/env bash
# Calibrates `muxbench compare` on this machine: how often it fails a CI job
# on noise (false positives), and how small a slowdown it catches. Two modes:
# two files (below: separate runs compared pairwise) and A/B (--ab, further
# down: `muxbench ab` runs, the gate docs/ci.md recommends).
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
#
# A/B mode, the gate docs/ci.md recommends (`muxbench ab`, the ci suite):
#   scripts/compare-calibrate.sh --ab [--aa 40] [--detect 20] [--delays 1,2]
#       [--suite ci] [--repeat N] [--table results/reference/ci-calibration.md]
#   (a) --aa A/A runs, the same build both sides: exit 1 = a false positive;
#   (b) --detect runs per delay with --new-server-arg=--delay-us=D: exit 1 =
#       detected; with the measured throughput ratio, to pick the delays
#       that cost about 5 % and 10 %. Options: see calibrate_ab below.
#   --reuse keeps finished runs and continues interrupted ones (ab --resume);
#   --table-only runs nothing and tabulates the finished runs in --out.
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
# ---------------------------------------------------------------------------
# A/B mode (--ab): the gate as docs/ci.md recommends it, `muxbench ab` with
# the ci suite, judged by its own exit status.
#
#   scripts/compare-calibrate.sh --ab [--aa 40] [--detect 20] [--delays 1,2]
#                                [--suite ci] [--repeat N] [--table FILE] [options]
#
# (a) A/A: --aa runs of `muxbench ab` with the same build on both sides;
#     each exit 1 is a false positive of the whole gate (every cell x metric,
#     Holm-adjusted).
# (b) Detection: for each delay D, --detect runs with
#     `--new-server-arg=--delay-us=D` (the new side only); caught = exit 1.
#     Reported with the throughput ratio new/base actually measured (median
#     over the runs of the median over cells), so that the delays costing
#     about 5 % and 10 % can be read off.
# The table (markdown) goes to --table [results/reference/ci-calibration.md],
# the runs and reports to --out. Time: (aa + detect x delays) ab runs; the
# plan with ab's own estimate is printed first.
#
# A/B options (defaults in brackets): --bin DIR [build/bin], --aa N [40],
# --detect N [20], --delays LIST [1,2], --suite NAME|FILE [ci], --repeat N,
# --duration S, --warmup S, --strategies LIST (override the suite),
# --threshold T [5%], --alpha A [ab's default, 0.01], --metric LIST, --out DIR
# [results/calibrate-ab-<date>], --table FILE, --reuse (keep finished runs,
# continue an interrupted one with `muxbench ab --resume`), --table-only (run
# nothing: tabulate the finished runs in --out up to --aa / --detect).
calibrate_ab() {
  local bin="$root/build/bin" aa=40 detect=20 delays=1,2 suite=ci out="" table="" reuse=0 table_only=0
  local -a suite_args=() compare_args=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --ab) shift ;;
      --bin) need "$@"; bin="$2"; shift 2 ;;
      --aa) need "$@"; aa="$2"; shift 2 ;;
      --detect) need "$@"; detect="$2"; shift 2 ;;
      --delays) need "$@"; delays="$2"; shift 2 ;;
      --suite) need "$@"; suite="$2"; shift 2 ;;
      --repeat|--duration|--warmup|--strategies|--workloads|--connections|--cpu-server|--cpu-loadgen)
        need "$@"; suite_args+=("$1" "$2"); shift 2 ;;
      --threshold|--alpha|--metric|--adjust) need "$@"; compare_args+=("$1" "$2"); shift 2 ;;
      --out) need "$@"; out="$2"; shift 2 ;;
      --table) need "$@"; table="$2"; shift 2 ;;
      --reuse) reuse=1; shift ;;
      --table-only) table_only=1; reuse=1; shift ;;
      --allow-debug-build) suite_args+=("$1"); shift ;;
      -h|--help) usage ;;
      *) echo "compare-calibrate: --ab: unknown option '$1' (--help lists them)" >&2; exit 2 ;;
    esac
  done
  for n in "$aa" "$detect"; do
    case "$n" in ''|*[!0-9]*) echo "compare-calibrate: --aa and --detect take whole numbers" >&2; exit 2 ;; esac
  done
  if [ "$delays" = none ]; then delays=""; fi
  for d in ${delays//,/ }; do
    [[ "$d" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "compare-calibrate: --delays: '$d' is not a number of µs (e.g. 1 or 0.5)" >&2; exit 2; }
  done
  local muxbench="$bin/muxbench"
  [ -x "$muxbench" ] || { echo "compare-calibrate: $muxbench is not built (cmake --build build)" >&2; exit 2; }
  out="${out:-results/calibrate-ab-$(date -u +%Y%m%d-%H%M%S)}"
  table="${table:-$root/results/reference/ci-calibration.md}"
  mkdir -p "$out" "$(dirname "$table")"
  local -a ab_args=(ab --base-bin "$bin" --new-bin "$bin" --suite "$suite" "${suite_args[@]}"
                    "${compare_args[@]}")
  local n_delays
  n_delays=$(for d in ${delays//,/ }; do echo "$d"; done | wc -l)
  if [ "$table_only" -eq 1 ]; then
    echo "== the finished runs in $out (up to $aa A/A, $detect per delay), nothing run"
  else
    echo "== plan: $aa A/A runs + $detect runs x $n_delays delays of: muxbench ${ab_args[*]}"
    "$muxbench" "${ab_args[@]}" --dry-run | tail -1 | sed 's/^/   each run: /'
    echo "   results in $out, table in $table"
  fi

  # The index of this call's runs (--table-only: a private one, so that a
  # calibration still running into --out keeps its own).
  local index="$out/runs.tsv"
  if [ "$table_only" -eq 1 ]; then index="$(mktemp)"; trap "rm -f '$index'" EXIT; fi
  : > "$index"
  # One ab run: kind, label, file, exit status (1 = the gate failed).
  ab_run() {
    local kind="$1" label="$2" file="$3"; shift 3
    local rc=0
    if [ "$reuse" -eq 1 ] && [ -s "$file.compare.json" ]; then
      rc=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["exit_status"])' "$file.compare.json")
      echo "   reuse $file (exit $rc)"
    elif [ "$table_only" -eq 1 ]; then
      return 0
    else
      rm -f "$file.compare.json"
      if [ "$reuse" -eq 1 ] && [ -s "$file" ]; then
        # Interrupted: the cells recorded are kept (same builds, flags, suite).
        "$muxbench" "${ab_args[@]}" "$@" --resume "$file" --json "$file.compare.json" >> "$file.log" 2>&1 || rc=$?
        echo "   resume $file $* (exit $rc)"
      else
        rm -f "$file"
        "$muxbench" "${ab_args[@]}" "$@" --out "$file" --json "$file.compare.json" > "$file.log" 2>&1 || rc=$?
        echo "   run   $file $* (exit $rc)"
      fi
      if [ "$rc" -ge 2 ] || [ ! -s "$file.compare.json" ]; then
        echo "compare-calibrate: muxbench ab exited $rc; see $file.log" >&2
        tail -5 "$file.log" >&2
        exit 1
      fi
    fi
    printf '%s\t%s\t%s\t%s\n' "$kind" "$label" "$file.compare.json" "$rc" >> "$index"
  }
  # Round robin: A/A i, then each delay's run i, so that the machine's drift
  # over the hours falls on (a) and (b) alike, and a run cut short still
  # holds some of each.
  echo "== (a) A/A, the same build on both sides, and (b) --delay-us D on the new side, in turn"
  local i d
  for i in $(seq 1 "$(( aa > detect ? aa : detect ))"); do
    if [ "$i" -le "$aa" ]; then ab_run aa "$i" "$out/aa-$i.json"; fi
    if [ "$i" -le "$detect" ]; then
      for d in ${delays//,/ }; do
        ab_run delay "$d" "$out/delay-$d-$i.json" "--new-server-arg=--delay-us=$d"
      done
    fi
  done

  "$python" - "$index" "$table" "$suite" "${ab_args[*]}" <<'PY'
import json, math, statistics, sys

index, table, suite, command = sys.argv[1:5]
rows = [line.rstrip("\n").split("\t") for line in open(index) if line.strip()]

def report(path):
    return json.load(open(path))

def throughput_ratio(rep):
    r = [c["ratio"] for c in rep["cells"] if c.get("metric") == "throughput" and c.get("ratio")]
    return statistics.median(r) if r else None

def smallest_p(rep):
    ps = [c["p_adjusted"] for c in rep["cells"] if c.get("p_adjusted") is not None]
    return min(ps) if ps else None

def binom_cdf(k, n, p):
    return sum(math.comb(n, i) * p**i * (1 - p)**(n - i) for i in range(k + 1))

def clopper_pearson(k, n):
    """Exact two-sided 95 % interval of a rate k/n (Clopper-Pearson), by bisection."""
    def solve(f):
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) else (lo, mid)
        return (lo + hi) / 2
    low = 0.0 if k == 0 else solve(lambda p: 1 - binom_cdf(k - 1, n, p) < 0.025)
    high = 1.0 if k == n else solve(lambda p: binom_cdf(k, n, p) > 0.025)
    return low, high

def row(label, rs, what):
    reps = [report(r[2]) for r in rs]
    hits = sum(r[3] == "1" for r in rs)
    ratios = [x for x in (throughput_ratio(rep) for rep in reps) if x]
    ps = [x for x in (smallest_p(rep) for rep in reps) if x is not None]
    lo, hi = clopper_pearson(hits, len(rs))
    med = f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})" if ratios else "-"
    p = f"{min(ps):.3g}" if ps else "-"
    return (f"| {label} | {len(rs)} | {hits} ({what}) | {100.0 * hits / len(rs):.1f} % "
            f"({100 * lo:.1f}-{100 * hi:.1f} %) | {med} | {p} |")

def settings():
    """The gate's settings as the reports record them: alpha, threshold, pairs."""
    seen = set()
    for r in rows:
        rep = report(r[2])
        pairs = sorted({c["pairs"] for c in rep["cells"] if c.get("pairs")})
        seen.add((rep.get("alpha"), rep.get("threshold_pct"), rep.get("adjustment"),
                  "/".join(str(p) for p in pairs)))
    return "; ".join(f"alpha {a}, threshold {t} %, {adj}, {p} pairs a cell" for a, t, adj, p in sorted(seen, key=str))

lines = [f"# Calibration of the gate: `muxbench ab --suite {suite}`", "",
         f"Command: `muxbench {command}`; written by `scripts/compare-calibrate.sh --ab`.",
         f"Gate settings, as the reports record them: {settings() or '-'}.",
         "Rate: with its exact 95 % interval (Clopper-Pearson). Throughput ratio: per run the "
         "median over the cells of new/base; here their median (min-max over the runs). "
         "Smallest p: the smallest Holm-adjusted p-value of any row in any run.", "",
         "| comparison | runs | gate failed (exit 1) | rate (95 % interval) | throughput ratio new/base, median (min-max) | smallest adjusted p |",
         "|---|---|---|---|---|---|"]
aa = [r for r in rows if r[0] == "aa"]
if aa:
    lines.append(row("A/A (same build)", aa, "false positives"))
delays = {}
for r in rows:
    if r[0] == "delay":
        delays.setdefault(float(r[1]), []).append(r)
for d in sorted(delays):
    lines.append(row(f"--delay-us {d:g} on new", delays[d], "detected"))
text = "\n".join(lines) + "\n"
sys.stdout.write("\n" + text)
with open(table, "w") as f:
    f.write(text)
PY
  echo "table: $table"
}

for arg in "$@"; do
  if [ "$arg" = --ab ]; then
    calibrate_ab "$@"
    exit 0
  fi
done
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
  [[ "$d" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "compare-calibrate: --delays: '$d' is not a number of µs (e.g. 1 or 0.5)" >&2; exit 2; }
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
        delays.setdefault(float(r[1]), []).append(r)
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
        say(f"  {f'{d:g} µs':>7}  {f'{caught}/{len(rs)}':>8}  {fmt(tput):>10}  {fmt(p50):>8}  "
            f"{', '.join(sorted(metrics)) or '-'}")
    caught_all = [d for d in sorted(delays) if all(r[5] == "1" for r in delays[d])]
    say("  smallest delay caught in every comparison: " +
        (f"{caught_all[0]:g} µs" if caught_all else "none"))
    say("  (throughput and p50: median change measured over the comparisons; small delays")
    say("   are spun in the server and should be close to the delay asked; read these)")

text = "\n".join(lines) + "\n"
sys.stdout.write("\n" + text)
with open(summary_path, "w") as f:
    f.write(text)
PY
echo "summary: $out/calibration.txt"
