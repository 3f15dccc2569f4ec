#!/usr/bin/env bash
# Uses the `testbed` fixture (testbed_up): checks its hosts.json and that its
# mpirun launcher starts one process on the server host and one on the first
# load generator host. A template for tests with FIXTURES_REQUIRED testbed.
#   testbed_fixture_smoke.sh DIR     (DIR: the fixture's directory)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=testbed_lib.sh
source "$here/testbed_lib.sh"
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
hosts_json=$1/hosts.json
tb_require_hosts_json "$hosts_json"
command -v mpirun >/dev/null || tb_skip "mpirun is not installed (Debian: openmpi-bin)"

# The launcher and the host names, as the harness would read them.
read -r mpirun server loadgen < <(/usr/bin/python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))
hosts = {h["role"]: h["name"] for h in reversed(t["hosts"])}
print(t["launcher"]["mpirun"][0], hosts["server"], hosts["loadgen"])
' "$hosts_json")
echo "launcher $mpirun, server host $server, load generator host $loadgen"
# shellcheck disable=SC2016  # expanded by the remote shell
out=$(timeout 60 "$mpirun" -np 2 --host "$server,$loadgen" sh -c 'echo "$(hostname) $(ip netns identify $$)"' 2>&1) ||
  { echo "FAIL: mpirun: $out" >&2; exit 1; }
echo "$out"
if [ "$(echo "$out" | sort)" != "$(printf '%s %s\n%s %s' "$server" "$server" "$loadgen" "$loadgen" | sort)" ]; then
  echo "FAIL: expected one process in $server and one in $loadgen" >&2
  exit 1
fi
echo "PASS: testbed_fixture_smoke"
