#!/usr/bin/env bash
# The harness on the testbed fixture: the server on host h1, load generators
# on h2 (and h3), every process launched through the host file's mpirun.
#
#   harness_testbed.sh DIR BIN CASE
#     DIR  the fixture's directory (DIR/hosts.json)
#     BIN  build/bin
#     CASE smoke      every strategy, the smoke suite: ok but for documented
#                     limits; hosts, network path and placement recorded; the
#                     remote server measured (CPU and RSS non-zero)
#          failures   a server that crashes, and one that hangs (SIGSTOP), on
#                     the remote host: failed cells, and the sweep goes on
#          interrupt  SIGINT to the harness mid-cell: exit 130 and no process
#                     of ours left in any namespace of the testbed
#          compare    a loopback run against a testbed run is refused (exit 2)
#                     unless --allow-env-mismatch
#          ranks      2 load-generator ranks on 2 hosts: one merged report
#                     whose ranks add up
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=testbed_lib.sh
source "$here/testbed_lib.sh"
[ $# -eq 3 ] || { echo "usage: $0 DIR BIN CASE" >&2; exit 2; }
dir=$1 bin=$2 case=$3
hosts_json=$dir/hosts.json
tb_require_hosts_json "$hosts_json"
command -v mpirun >/dev/null || tb_skip "mpirun is not installed (Debian: openmpi-bin)"
py=/usr/bin/python3
work=$(mktemp -d /tmp/muxbench-tbtest-XXXXXX)
trap 'rm -rf "$work"' EXIT

namespaces() { $py -c 'import json,sys; print(" ".join(h["name"] for h in json.load(open(sys.argv[1]))["hosts"]))' "$hosts_json"; }

# Nothing of ours may be left in the testbed's namespaces (orted, agents,
# servers, load generators). A remote orted learns of mpirun's end over its
# socket and needs a moment to exit, so wait up to 5 s before calling a
# process left over.
expect_namespaces_empty() {
  local ns left="" _
  for _ in $(seq 50); do
    left=""
    for ns in $(namespaces); do
      left+=$(ip netns pids "$ns" | tr '\n' ' ')
    done
    [ -z "${left// /}" ] && return 0
    sleep 0.1
  done
  if [ -n "${left// /}" ]; then
    echo "FAIL: processes left in the testbed: $left"
    ps -o pid,args -p "${left// /,}" || true
    exit 1
  fi
}

# check RESULTS PYTHON: runs assertions on the results document `d`.
check() {
  $py - "$1" <<EOF
import json, sys
d = json.load(open(sys.argv[1]))
cells = d["cells"]
def fail(msg):
    print("FAIL:", msg); sys.exit(1)
$2
EOF
}

run() { timeout 900 "$bin/muxbench" run --hosts "$hosts_json" "$@"; }

case $case in
smoke)
  run --suite smoke --out "$work/r.json"
  check "$work/r.json" '
env = d["environment"]
if env["network"]["kind"] != "testbed": fail("network kind %r" % env["network"]["kind"])
roles = sorted((p["role"], p["interface"]["loopback"], p["interface"]["mtu"]) for p in env["network"]["path"])
print("path:", roles)
if any(lo for _, lo, _ in roles) or len(roles) < 2: fail("the path is not between testbed hosts")
if len(env["hosts"]) < 2 or not all(h["environment"]["kernel"] for h in env["hosts"]): fail("hosts not recorded")
ok = [c for c in cells if c["status"] == "ok"]
failed = [c for c in cells if c["status"] == "failed"]
# Documented limits: threadpool is skipped or fails only where its worker
# count is exceeded; none in the smoke suite. Everything else must be ok.
if failed: fail("failed cells: " + "; ".join(c["id"] + ": " + c["reason"] for c in failed))
for c in ok:
    p = c["placement"]
    if p["server_host"] != env["network"]["path"][0]["host"] or p["server_address"] == "127.0.0.1":
        fail(c["id"] + ": placement " + json.dumps(p))
    m = c["metrics"]
    if not (m["server_cpu_total_s"] or 0) > 0 or not (m["server_rss_peak_bytes"] or 0) > 0:
        fail(c["id"] + ": the remote server was not measured: " + json.dumps(m))
    if not c["loadgen"]["config"]["target_resolved"].startswith(p["server_address"]):
        fail(c["id"] + ": the load generator aimed at " + c["loadgen"]["config"]["target_resolved"])
strategies = sorted({c["strategy"] for c in ok})
print("%d ok cells, %d skipped, strategies: %s" % (len(ok), len(cells) - len(ok), ", ".join(strategies)))
if len(strategies) < 10: fail("too few strategies ran")
'
  ;;
failures)
  # crash-after: the server kills itself mid-run; delay-us on iterative with
  # 2 s of pending lines: SIGTERM cannot stop it within the grace period.
  run --suite smoke --strategies epoll,poll --workloads pingpong --connections 8 \
    --server-arg=--crash-after=3000 --out "$work/crash.json"
  check "$work/crash.json" '
if len(cells) != 2: fail("the sweep stopped: %d cells" % len(cells))
for c in cells:
    print(c["id"], c["status"], c["reason"])
    if c["status"] != "failed" or not c["reason"].startswith("crashed: the server died during the run"):
        fail(c["id"] + " not recorded as a crash")
'
  # A hang: SIGSTOP the first cell's server on its host mid-run. Its clients
  # time out, SIGTERM cannot stop it; the next cell must still run.
  run --suite smoke --strategies epoll,poll --workloads idle --duration 4 \
    --out "$work/hang.json" >"$work/hang.log" 2>&1 &
  pid=$!
  server_ns=$(namespaces | cut -d' ' -f1)
  stopped=""
  for _ in $(seq 200); do
    for p in $(ip netns pids "$server_ns"); do
      if [ "$(cat /proc/"$p"/comm 2>/dev/null)" = muxbench-server ]; then stopped=$p; fi
    done
    [ -n "$stopped" ] && break
    sleep 0.05
  done
  [ -n "$stopped" ] || { echo "FAIL: no server appeared in $server_ns"; kill -INT "$pid"; exit 1; }
  sleep 1.5
  kill -STOP "$stopped"
  echo "stopped server $stopped in $server_ns"
  wait "$pid" || true
  cat "$work/hang.log"
  check "$work/hang.json" '
if len(cells) != 2: fail("the sweep stopped: %d cells" % len(cells))
first, second = cells
print(first["id"], first["status"], first["reason"])
if first["status"] != "failed" or not first["reason"].startswith("hung"): fail("the stopped server is not recorded as hung")
if second["status"] != "ok": fail("the next cell did not run: " + str(second["reason"]))
'
  expect_namespaces_empty
  ;;
interrupt)
  "$bin/muxbench" run --hosts "$hosts_json" --suite smoke --strategies fork,epoll --workloads idle \
    --duration 20 --out "$work/int.json" >"$work/int.log" 2>&1 &
  pid=$!
  # Mid-cell: wait until the server has clients on its host.
  server_ns=$(namespaces | cut -d' ' -f1)
  for _ in $(seq 100); do
    [ "$(ip netns pids "$server_ns" | wc -l)" -ge 3 ] && break
    sleep 0.1
  done
  sleep 1
  echo "processes in $server_ns mid-cell: $(ip netns pids "$server_ns" | wc -l)"
  kill -INT "$pid"
  rc=0
  wait "$pid" || rc=$?
  cat "$work/int.log"
  [ "$rc" -eq 130 ] || { echo "FAIL: exit $rc, expected 130"; exit 1; }
  expect_namespaces_empty
  ;;
compare)
  "$bin/muxbench" run --suite smoke --strategies epoll --workloads pingpong --connections 1 \
    --out "$work/loop.json" >/dev/null
  run --suite smoke --strategies epoll --workloads pingpong --connections 1 --out "$work/tb.json" >/dev/null
  rc=0
  "$bin/muxbench" compare "$work/loop.json" "$work/tb.json" >"$work/cmp.out" 2>&1 || rc=$?
  cat "$work/cmp.out"
  [ "$rc" -eq 2 ] || { echo "FAIL: compare exited $rc, expected 2 (environments differ)"; exit 1; }
  grep -q "network" "$work/cmp.out" || { echo "FAIL: the refusal does not name the network"; exit 1; }
  rc=0
  "$bin/muxbench" compare "$work/loop.json" "$work/tb.json" --allow-env-mismatch >/dev/null 2>&1 || rc=$?
  [ "$rc" -ne 2 ] || { echo "FAIL: --allow-env-mismatch still refused"; exit 1; }
  ;;
ranks)
  run --suite smoke --strategies epoll --workloads pingpong,idle,rate --loadgen-ranks 2 --out "$work/ranks.json"
  check "$work/ranks.json" '
for c in cells:
    print(c["id"], c["status"], c["reason"])
    if c["status"] == "skipped": continue
    # A rate cell may honestly miss its schedule on a loaded machine; what
    # this case checks is how the ranks merge, which holds either way.
    if c["status"] not in ("ok", "rate_not_met"): fail(c["id"] + ": " + c["reason"])
    lg = c["loadgen"]
    hosts = sorted(r["host"] for r in lg["ranks"])
    if len(hosts) != 2 or hosts[0] == hosts[1]: fail(c["id"] + ": ranks on " + str(hosts))
    if sum(r["connections"] for r in lg["ranks"]) != c["connections"]: fail(c["id"] + ": connections do not add up")
    if sum(r["completed"] for r in lg["ranks"]) != lg["requests"]["completed"]: fail(c["id"] + ": completed does not add up")
    if c["placement"]["loadgen_ranks"] != 2: fail("placement does not record the ranks")
    print("  ranks on", hosts, "start skew", lg["start_skew_ns"], "ns")
    # Typically under 1 ms; a rank woken late on a loaded runner adds a few.
    if not 0 <= lg["start_skew_ns"] < 50e6: fail(c["id"] + ": the ranks started %s ns apart (more than 50 ms)" % lg["start_skew_ns"])
'
  ;;
*)
  echo "unknown case $case" >&2
  exit 2
  ;;
esac
echo "PASS: harness_testbed $case"
