#!/usr/bin/env bash
# End-to-end check of scripts/testbed.sh on this machine:
#   brings a testbed up under a unique prefix (mbxt<pid>), then checks
#   (a) TCP between two host namespaces (h2 -> a listener in h1),
#   (b) DIR/mpirun puts one process in each of two host namespaces,
#   (c) a real MPI program (MPI_Reduce, compiled here with mpicc) across
#       three host namespaces, over TCP,
#   (d) after `down`: no namespace of the prefix and no process of ours left,
#   and that the root namespace got no interface of the testbed.
# The testbed is always taken down (trap). Exit 0: pass; 1: fail; 77: skip
# (not root, no network namespaces, no mpirun/mpicc).
# Every network command is bounded by `timeout` and runs inside a namespace of
# this testbed, towards its own 192.0.2.x addresses.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=testbed_lib.sh
source "$here/testbed_lib.sh"
testbed=$here/../../scripts/testbed.sh

tb_require_namespaces
tb_require_mpi
command -v python3 >/dev/null || tb_skip "python3 is not installed (the TCP check's listener)"

P=mbxt$(($$ % 100000))
T=$(mktemp -d /tmp/muxbench-testbed-check.XXXXXX)
DIR=$T/testbed
listener=""

cleanup() {
  local rc=$?
  set +e
  if [ -n "$listener" ] && kill -0 "$listener" 2>/dev/null; then kill -TERM "$listener"; fi
  "$testbed" down --prefix "$P" --dir "$DIR" >/dev/null 2>&1
  rm -rf -- "$T"
  if [ "$rc" -eq 0 ]; then echo "PASS: testbed_check"; elif [ "$rc" -ne 77 ]; then echo "FAIL: testbed_check (status $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "== $*"; }

step "up: prefix $P, dir $DIR"
"$testbed" up --prefix "$P" --hosts 3 --dir "$DIR"
"$testbed" status --prefix "$P" --dir "$DIR" || fail "status after up is not 0"
/usr/bin/python3 -m json.tool "$DIR/hosts.json" >/dev/null || fail "hosts.json is not valid JSON"
grep -q "\"name\": \"$P-h1\", \"address\": \"192.0.2.11\"" "$DIR/hosts.json" || fail "hosts.json lacks $P-h1"

step "root namespace untouched"
if ip -o link show | grep -F -- "$P"; then fail "an interface of the testbed is in the root namespace"; fi

step "(a) TCP $P-h2 -> $P-h1 (192.0.2.11)"
# A one-connection listener in h1: writes its port to a file once listening,
# answers the line it gets in upper case, prints the peer's address.
timeout 15 ip netns exec "$P-h1" /usr/bin/python3 -c '
import os, socket, sys
s = socket.socket()
s.bind(("192.0.2.11", 0))
s.listen(1)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.settimeout(10)
c, peer = s.accept()
c.settimeout(5)
c.sendall(c.recv(64).upper())
print(peer[0])
' "$T/port" >"$T/listener.out" &
listener=$!
for _ in $(seq 50); do
  [ -s "$T/port" ] && break
  sleep 0.1
done
[ -s "$T/port" ] || fail "the listener in $P-h1 did not start"
port=$(cat "$T/port")
# shellcheck disable=SC2016  # expanded by the inner bash
reply=$(timeout 10 ip netns exec "$P-h2" bash -c '
  exec 3<>"/dev/tcp/192.0.2.11/$1" || exit 1
  echo ping >&3
  read -r -t 5 line <&3
  echo "$line"' tcpcheck "$port") || fail "no TCP connection from $P-h2 to 192.0.2.11:$port"
wait "$listener" || fail "the listener in $P-h1 failed"
listener=""
[ "$reply" = PING ] || fail "TCP reply was '$reply', not PING"
[ "$(cat "$T/listener.out")" = 192.0.2.12 ] || fail "the listener saw peer '$(cat "$T/listener.out")', not 192.0.2.12"
echo "ok: $P-h2 (192.0.2.12) -> $P-h1 192.0.2.11:$port, reply $reply"
if command -v ping >/dev/null; then
  timeout 5 ip netns exec "$P-h3" ping -c 1 -W 2 192.0.2.11 >/dev/null || fail "ping $P-h3 -> 192.0.2.11"
  echo "ok: ping $P-h3 -> 192.0.2.11"
fi

step "(b) $DIR/mpirun -np 2 --host $P-h2,$P-h3"
# Each process prints its hostname (UTS, set by rsh-agent) and its network namespace.
# shellcheck disable=SC2016  # expanded by the remote shell
out=$(timeout 60 "$DIR/mpirun" -np 2 --host "$P-h2,$P-h3" \
  sh -c 'echo "$(hostname) $(ip netns identify $$)"' 2>&1) || fail "mpirun (b) failed: $out"
echo "$out"
expected=$(printf '%s %s\n%s %s' "$P-h2" "$P-h2" "$P-h3" "$P-h3")
[ "$(echo "$out" | sort)" = "$expected" ] || fail "mpirun (b): expected one process in each of $P-h2, $P-h3"

step "(c) MPI_Reduce over 3 ranks on $P-h1..$P-h3"
cat >"$T/reduce.c" <<'C'
#include <mpi.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  long mine = 1000L * (rank + 1) + rank, sum = 0;
  MPI_Reduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
  printf("rank %d of %d on %s\n", rank, size, host);
  fflush(stdout);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) printf("sum %ld\n", sum);
  MPI_Finalize();
  return 0;
}
C
mpicc -O1 -o "$T/reduce" "$T/reduce.c" || fail "mpicc failed"
# btl self,tcp on the command line: the ranks must talk over the testbed's
# network (and a command-line --mca must override the wrapper's settings).
out=$(timeout 90 "$DIR/mpirun" -np 3 --host "$P-h1,$P-h2,$P-h3" --mca btl self,tcp \
  "$T/reduce" 2>&1) || fail "mpirun (c) failed: $out"
echo "$out"
# ranks 0,1,2 contribute 1000, 2001, 3002
echo "$out" | grep -qx "sum 6003" || fail "MPI_Reduce: expected sum 6003"
for i in 1 2 3; do
  echo "$out" | grep -qx "rank $((i - 1)) of 3 on $P-h$i" || fail "rank $((i - 1)) did not run on $P-h$i"
done

step "(d) down"
left=""
for ns in $(ip netns list | awk '{print $1}' | grep -E "^$P-"); do
  pids=$(ip netns pids "$ns" | tr '\n' ' ')
  echo "processes in $ns before down: ${pids:-none}"
  left="$left $pids"
done
"$testbed" down --prefix "$P" --dir "$DIR"
if ip netns list | awk '{print $1}' | grep -E "^$P-"; then fail "namespaces of $P left after down"; fi
for pid in $left; do
  if kill -0 "$pid" 2>/dev/null; then fail "process $pid ($(ps -o args= -p "$pid")) left after down"; fi
done
if pgrep -a -f -- "$P-"; then fail "processes naming $P left after down"; fi
[ ! -e "$DIR" ] || fail "$DIR left after down"
"$testbed" status --prefix "$P" --dir "$DIR" >/dev/null && st=0 || st=$?
[ "$st" -eq 3 ] || fail "status after down is $st, not 3"
echo "ok: nothing of $P left"
