#!/usr/bin/env bash
# The highest sustained open-loop rate of one server against 1, 2, ... load-
# generator ranks launched by mpirun over a host file's load hosts (the
# testbed's, or real ones). A benchmark, not a test: it prints a table and
# writes every load-generator report under OUT.
#
#   scripts/mpi-rate-sweep.sh HOSTS_JSON [--strategy epoll] [--ranks "1 2 3"]
#       [--rates "20000 40000 ..."] [--connections 300] [--duration 4] [--out DIR]
#
# For each rank count, rates go up until one is not sustained: a rate is
# sustained when the load generator sent (almost) every request due (unsent
# <= 1 %), got every reply, and achieved within 2 % of the target. The server
# runs through `muxbench serve-cell` on the server host, pinned to its CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n 2,14p "$0"; exit 2; }
hosts=$1
shift
strategy=epoll ranks="1 2 3" connections=300 duration=4 out=""
rates="20000 40000 60000 80000 100000 120000 140000 160000 200000"
while [ $# -gt 0 ]; do
  case $1 in
    --strategy) strategy=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --rates) rates=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
py=/usr/bin/python3
bin=$(pwd)/build/bin
out=${out:-results/rate-sweep-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"

# The launcher and hosts, from the host file.
eval "$($py - "$hosts" <<'EOF'
import json, shlex, sys
h = json.load(open(sys.argv[1]))
l = h["launcher"]
mpirun = l["mpirun"] + sum((["--mca", k, str(v)] for k, v in l.get("mca", {}).items()), []) + ["--bind-to", "none"]
print("mpirun=(%s)" % " ".join(shlex.quote(a) for a in mpirun))
print("envs=(%s)" % " ".join(shlex.quote("%s=%s" % kv) for kv in l.get("env", {}).items()))
srv = [x for x in h["hosts"] if x["role"] == "server"][0]
print("server_host=%s server_addr=%s server_cpus=%s" % (srv["name"], srv["address"], srv.get("cpus", "")))
print("load_hosts=(%s)" % " ".join("%s:%s" % (x["name"], x.get("cpus", "")) for x in h["hosts"] if x["role"] == "loadgen"))
EOF
)"

agent_pid=""
cleanup() {
  if [ -n "$agent_pid" ]; then
    echo stop >&"${agent_in}" 2>/dev/null || true
    sleep 3
    kill -TERM "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

# The server, through its agent on the server host.
coproc AGENT { env "${envs[@]}" "${mpirun[@]}" -np 1 --host "$server_host:1" "$bin/muxbench" serve-cell \
  ${server_cpus:+--cpus "$server_cpus"} -- "$bin/muxbench-server" --strategy "$strategy" --port 0 \
  --bind "$server_addr" 2>"$out/agent.stderr"; }
agent_pid=$AGENT_PID
agent_in=${AGENT[1]}
port=""
while read -r -t 60 line <&"${AGENT[0]}"; do
  port=$($py -c 'import json,sys; e=json.loads(sys.argv[1]); print(e.get("port","") if e.get("event")=="ready" else "")' "$line" 2>/dev/null || true)
  [ -n "$port" ] && break
done
[ -n "$port" ] || { echo "the server did not start: $(cat "$out/agent.stderr")" >&2; exit 1; }
echo "server $strategy on $server_host $server_addr:$port (CPUs ${server_cpus:-any}); results in $out"
printf '%-6s %-10s %-12s %-10s %-10s %-9s %s\n' ranks target achieved p50 p99 unsent sustained

for r in $ranks; do
  # r ranks, round-robin over the load hosts, one MPMD context per host.
  args=()
  declare -A count=()
  for ((i = 0; i < r; i++)); do
    h=${load_hosts[$((i % ${#load_hosts[@]}))]}
    count[$h]=$((${count[$h]:-0} + 1))
  done
  for rate in $rates; do
    args=()
    for h in "${!count[@]}"; do
      [ ${#args[@]} -gt 0 ] && args+=(":")
      name=${h%%:*} cpus=${h#*:}
      args+=(-np "${count[$h]}" --host "$name:${count[$h]}" "$bin/muxbench-loadgen" --target "$server_addr:$port"
        --connections "$connections" --rate "$rate" --warmup 1 --duration "$duration" --json - --quiet
        ${cpus:+--cpu "$cpus"})
    done
    f=$out/r$r-rate$rate.json
    env "${envs[@]}" "${mpirun[@]}" "${args[@]}" >"$f" 2>"$f.stderr" || true
    line=$($py - "$f" "$rate" "$r" <<'EOF'
import json, sys
f, rate, ranks = sys.argv[1], float(sys.argv[2]), sys.argv[3]
try:
    j = json.load(open(f))
except Exception:
    print("%-6s %-10d %-12s %-10s %-10s %-9s %s" % (ranks, rate, "-", "-", "-", "-", "no")); sys.exit()
ach = j["throughput"]["requests_per_s"]
due = j["requests"]["sent"] + j["rate"]["unsent"]
unsent = j["rate"]["unsent"] / due if due else 1
ok = j["status"] == "ok" and unsent <= 0.01 and j["errors"]["total"] == 0 and ach >= 0.98 * rate
fmt = lambda ns: "%.0fus" % (ns / 1e3) if ns is not None else "-"
print("%-6s %-10d %-12.0f %-10s %-10s %-9s %s" % (ranks, rate, ach, fmt(j["latency"]["p50_ns"]),
      fmt(j["latency"]["p99_ns"]), "%.2f%%" % (100 * unsent), "yes" if ok else "no"))
EOF
)
    echo "$line"
    case $line in *no) break ;; esac
  done
  unset count
done
