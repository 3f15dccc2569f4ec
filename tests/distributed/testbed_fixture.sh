#!/usr/bin/env bash
# The CTest fixture `testbed` (tests testbed_up / testbed_down):
#   testbed_fixture.sh up DIR     scripts/testbed.sh up --prefix mbxct --dir DIR
#   testbed_fixture.sh down DIR   scripts/testbed.sh down --prefix mbxct --dir DIR
# Skips (77) without root or network namespaces. Tests that need the testbed
# use FIXTURES_REQUIRED testbed, RESOURCE_LOCK testbed, read DIR/hosts.json,
# and skip when it is absent (tb_require_hosts_json in testbed_lib.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=testbed_lib.sh
source "$here/testbed_lib.sh"
testbed=$here/../../scripts/testbed.sh
readonly PREFIX=mbxct

[ $# -eq 2 ] || { echo "usage: $0 up|down DIR" >&2; exit 2; }
case $1 in
  up)
    tb_require_namespaces
    "$testbed" up --prefix "$PREFIX" --dir "$2"
    "$testbed" status --prefix "$PREFIX" --dir "$2"
    ;;
  down)
    if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
      tb_skip "not root or no iproute2: there is no testbed to take down"
    fi
    "$testbed" down --prefix "$PREFIX" --dir "$2"
    if ip netns list | awk '{print $1}' | grep -E "^$PREFIX-"; then
      echo "FAIL: namespaces of $PREFIX left after down" >&2
      exit 1
    fi
    ;;
  *) echo "usage: $0 up|down DIR" >&2; exit 2 ;;
esac
