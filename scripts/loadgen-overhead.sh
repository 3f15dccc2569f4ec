#!/usr/bin/env bash
# How close does muxbench-loadgen come to a minimal hand-written epoll client?
# (issue 4: aim >= 85% of its requests/s, and loadgen CPU per request no
# higher than the server's.) A BENCHMARK: run it on an otherwise idle machine.
#
# Against ONE `muxbench-server --strategy epoll`, for every connection count
# and thread count: muxbench-minclient, then muxbench-loadgen with the same
# settings (64-byte ping-pong, closed loop, same warm-up and duration). Prints
# one table row per pair:
#   rps          requests/s achieved
#   req/cpu-s    requests per client CPU-second (user + sys, measurement only)
#   ratio        loadgen rps / minclient rps
#   lg us/req    loadgen CPU per request;  srv us/req: the server's, during the loadgen run
#
#   scripts/loadgen-overhead.sh                          10/100/1000 conns x 1/2 threads, 5 s each
#   scripts/loadgen-overhead.sh --duration 10 --server-cpu 0 --client-cpu 1
#   scripts/loadgen-overhead.sh --connections "100" --threads "1" --bin build/bin --no-build
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

duration=5
warmup=1
conns_list="10 100 1000"
threads_list="1 2"
server_cpu=""
client_cpu=""
bin=build/bin
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --connections) conns_list="$2"; shift 2 ;;
    --threads) threads_list="$2"; shift 2 ;;
    --server-cpu) server_cpu="$2"; shift 2 ;;
    --client-cpu) client_cpu="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "loadgen-overhead: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$build" = 1 ]; then
  muxbench_install_deps
  muxbench_build release >/dev/null
fi
for b in muxbench-server muxbench-loadgen muxbench-minclient; do
  [ -x "$bin/$b" ] || { echo "loadgen-overhead: $bin/$b is missing" >&2; exit 1; }
done

work=$(mktemp -d /tmp/muxbench-overhead.XXXXXX)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# One server for every run.
server_cmd=("$bin/muxbench-server" --strategy epoll --port 0)
if [ -n "$server_cpu" ]; then server_cmd=(taskset -c "$server_cpu" "${server_cmd[@]}"); fi
"${server_cmd[@]}" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 100); do grep -q '^READY' "$work/server.out" && break; sleep 0.05; done
port=$(sed -n 's/^READY .*port=\([0-9]*\).*/\1/p' "$work/server.out")
real_pid=$(sed -n 's/^READY .*pid=\([0-9]*\).*/\1/p' "$work/server.out")
[ -n "$port" ] || { echo "loadgen-overhead: the server did not start: $(cat "$work/server.err")" >&2; exit 1; }
target="127.0.0.1:$port"
clk_tck=$(getconf CLK_TCK)

# utime + stime of the server, in seconds.
server_cpu_s() {
  awk -v t="$clk_tck" '{ sub(/^.*\) /, ""); print ($12 + $13) / t }' "/proc/$real_pid/stat"
}

cpu_flag=()
if [ -n "$client_cpu" ]; then cpu_flag=(--cpu "$client_cpu"); fi

echo "# muxbench-loadgen overhead vs muxbench-minclient; server: epoll on $target${server_cpu:+ (cpu $server_cpu)}; client cpu: ${client_cpu:-any}"
echo "# $(nproc) CPUs, ${warmup}s warm-up + ${duration}s per run, 64-byte lines, closed loop, pipeline 1"
printf "%6s %4s | %10s %10s %6s | %11s %11s | %9s %9s %9s | %s\n" \
  conns thr "min rps" "lg rps" ratio "min req/cpu" "lg req/cpu" "min us/rq" "lg us/rq" "srv us/rq" "lg saturated"

for conns in $conns_list; do
  for threads in $threads_list; do
    # The yardstick.
    min_line=$("$bin/muxbench-minclient" --target "$target" --connections "$conns" \
      --threads "$threads" --warmup "$warmup" --duration "$duration" "${cpu_flag[@]}")
    kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$min_line"; }
    min_rps=$(kv requests_per_s)
    min_rpc=$(kv requests_per_cpu_s)
    min_req=$(kv requests)
    min_cpu=$("$MUXBENCH_PYTHON" -c "import sys; u,s,n=map(float,sys.argv[1:]); print(f'{(u+s)*1e6/n:.2f}' if n else '-')" \
      "$(kv cpu_user_s)" "$(kv cpu_sys_s)" "$min_req")

    # The load generator, same settings; the server's CPU over the whole run
    # divided by every request it served in that time (warm-up included).
    s0=$(server_cpu_s)
    "$bin/muxbench-loadgen" --target "$target" --connections "$conns" --threads "$threads" \
      --warmup "$warmup" --duration "$duration" --quiet --json "$work/lg.json" "${cpu_flag[@]}"
    s1=$(server_cpu_s)
    read -r lg_rps lg_rpc lg_cpu srv_cpu saturated < <("$MUXBENCH_PYTHON" - "$work/lg.json" "$s0" "$s1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
s0, s1 = float(sys.argv[2]), float(sys.argv[3])
c = r["client"]
rps = r["throughput"]["requests_per_s"] or 0.0
cpu = (c["cpu_user_s"] or 0.0) + (c["cpu_sys_s"] or 0.0)
done = r["requests"]["completed_in_window"]
rpc = done / cpu if cpu > 0 else 0.0
served = sum(iv["requests"] for iv in r["timeseries"])
srv = (s1 - s0) * 1e6 / served if served else float("nan")
lg = c["cpu_us_per_request"]
print(f"{rps:.0f} {rpc:.0f} {lg if lg is not None else float('nan'):.2f} {srv:.2f} "
      f"{'yes' if c['client_saturated'] else 'no'}({c['busy_fraction'] or 0:.2f})")
EOF
)
    ratio=$("$MUXBENCH_PYTHON" -c "import sys; a,b=map(float,sys.argv[1:]); print(f'{a/b:.3f}' if b else '-')" "$lg_rps" "$min_rps")
    printf "%6s %4s | %10.0f %10.0f %6s | %11.0f %11.0f | %9s %9s %9s | %s\n" \
      "$conns" "$threads" "$min_rps" "$lg_rps" "$ratio" "$min_rpc" "$lg_rpc" "$min_cpu" "$lg_cpu" "$srv_cpu" "$saturated"
  done
done
echo "# goal: ratio >= 0.85 and lg us/rq <= srv us/rq"
