#!/usr/bin/env bash
# Issue 16's table: the new strategies, the accept-sharing modes and the
# io_uring options against plain epoll, at pingpong c100 and c1000 and idle
# c10000 (100 active). A benchmark: run it alone on the machine (~20 min on 2
# cores). Writes OUT/modes.json, OUT/uring-<variant>.json (one run per
# io_uring option, epoll as the baseline in each) and OUT/summary.md: median
# requests/s and server CPU per request, each as a ratio to epoll in the same
# run. The cores suite (`muxbench run --suite cores`) adds 2 server threads.
#
#   scripts/modes-study.sh [--out results/reference/modes] [--variants "default fixed-files ..."]
set -euo pipefail
cd "$(dirname "$0")/.."
out=results/reference/modes
variants="default fixed-files sqpoll taskrun=none recv-bundle send-zc"
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --variants) variants=$2; shift 2 ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "modes-study.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
py=/usr/bin/python3
bin=build/bin
[ -x "$bin/muxbench" ] || { echo "modes-study.sh: build first (scripts/bench.sh or scripts/test.sh builds)" >&2; exit 2; }
suites=results/reference/modes/suites
mkdir -p "$out"
"$bin/muxbench" run --suite "$suites/modes.json" --out "$out/modes.json" --force
for v in $variants; do
  f=$(mktemp /tmp/muxbench-uring-XXXXXX.json)
  $py - "$v" "$suites/uring.json" "$f" <<'PY'
import json, sys
v, base, f = sys.argv[1:]
s = json.load(open(base))
s["name"] = "uring-" + v.replace("=", "-")
if v != "default":
    s["server_args"] = {"io_uring": ["--uring-" + v]}
json.dump(s, open(f, "w"), indent=1)
PY
  "$bin/muxbench" run --suite "$f" --out "$out/uring-${v/=/-}.json" --force
  rm -f "$f"
done
$py scripts/modes_table.py "$out" $variants | tee "$out/summary.md"
