#!/usr/bin/env bash
# Which load-generator settings make a single-threaded server the bound side
# on this machine? A benchmark, not a test (run nothing else meanwhile): it
# runs the default suite's closed-loop and open-loop shapes for a few
# single-threaded strategies with the load generator's knobs turned
# (--pipeline, --threads, the open-loop rate), server and load generator
# pinned apart as `muxbench run` does by default, and prints, per cell, the
# class (server-bound, client-bound, both, neither) and the two busy
# fractions that decided it (docs/results.md, "Which side limited a cell").
#
#   scripts/bound-study.sh [--strategies epoll,poll,io_uring,libevent]
#       [--pipelines "1 4 16"] [--loadgen-threads "1 2"] [--rates "20000 60000 120000"]
#       [--duration 2] [--out DIR]
#
# Writes one results file per setting under OUT (default
# results/bound-study-<date>) and OUT/summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
strategies=epoll,poll,io_uring,libevent pipelines="1 4 16" threads="1 2"
rates="20000 60000 120000" duration=2 out=""
while [ $# -gt 0 ]; do
  case $1 in
    --strategies) strategies=$2; shift 2 ;;
    --pipelines) pipelines=$2; shift 2 ;;
    --loadgen-threads) threads=$2; shift 2 ;;
    --rates) rates=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n 2,17p "$0"; exit 0 ;;
    *) echo "bound-study.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
py=/usr/bin/python3
bin=build/bin
[ -x "$bin/muxbench" ] || { echo "bound-study.sh: build first (scripts/bench.sh or scripts/test.sh builds)" >&2; exit 2; }
out=${out:-results/bound-study-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"

# suite NAME WORKLOAD_PARAMS_JSON LOADGEN_THREADS: a suite file for one setting.
suite() {
  cat >"$out/$1.suite.json" <<EOF
{"name": "$1", "strategies": "all", "workloads": ["$4"], "duration_s": $duration,
 "warmup_s": 0.5, "repeat": 1, "pause_s": 0.5, "loadgen_threads": $3,
 "workload_params": {"$4": $2}}
EOF
}

settings=()
for t in $threads; do
  for p in $pipelines; do
    suite "pingpong-t$t-p$p" "{\"connections\": [10, 100, 1000], \"pipeline\": $p}" "$t" pingpong
    settings+=("pingpong-t$t-p$p")
  done
done
for r in $rates; do
  suite "rate-$r" "{\"connections\": [100], \"rate_per_s\": $r}" 1 rate
  settings+=("rate-$r")
done

n=0
for s in "${settings[@]}"; do
  n=$((n + 1))
  echo "== [$n/${#settings[@]}] $s"
  "$bin/muxbench" run --suite "$out/$s.suite.json" --strategies "$strategies" \
    --out "$out/$s.json" >"$out/$s.log" 2>&1 || echo "   (exit $?; see $out/$s.log)"
done

$py - "$out" "${settings[@]}" <<'EOF' | tee "$out/summary.txt"
import json, os, sys
out, settings = sys.argv[1], sys.argv[2:]
print(f"{'setting':<18} {'cell':<28} {'class':<13} {'server busy':>11} {'client busy':>11} {'req/s':>9}")
counts = {}
for s in settings:
    path = os.path.join(out, s + ".json")
    if not os.path.exists(path):
        print(f"{s:<18} (no results: see {s}.log)")
        continue
    for c in json.load(open(path))["cells"]:
        m = c.get("metrics") or {}
        if c["status"] != "ok":
            print(f"{s:<18} {c['id']:<28} {c['status']}: {c.get('reason')}")
            continue
        def pct(k):
            v = m.get(k)
            return f"{100 * v:.0f}%" if isinstance(v, (int, float)) else "-"
        cls = m.get("bound") or "unknown"
        counts.setdefault(s, {}).setdefault(cls, 0)
        counts[s][cls] += 1
        rps = m.get("requests_per_s")
        print(f"{s:<18} {c['id']:<28} {cls:<13} {pct('server_busy_fraction'):>11} "
              f"{pct('client_busy_fraction'):>11} {rps or 0:>9.0f}")
print()
for s, cs in counts.items():
    print(f"{s:<18} " + ", ".join(f"{k} {v}" for k, v in sorted(cs.items())))
EOF
