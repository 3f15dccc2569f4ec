#!/usr/bin/env bash
# Shared by the distributed tests (sourced). Exit 77 is CTest's SKIP_RETURN_CODE
# for every test of tests/distributed.
#
#   tb_skip REASON                 print why and exit 77
#   tb_require_namespaces          skip unless root and network namespaces, veth
#                                  pairs and bridges can be made (probed in a
#                                  throw-away namespace, never in the root one)
#   tb_require_mpi                 skip unless mpirun and mpicc are installed
#   tb_require_hosts_json FILE     skip unless the fixture's hosts.json exists
#                                  (tests with FIXTURES_REQUIRED testbed)
PATH=$PATH:/usr/sbin:/sbin

tb_skip() {
  echo "SKIP: $*"
  exit 77
}

tb_require_namespaces() {
  [ "$(id -u)" -eq 0 ] || tb_skip "not root: the testbed needs network namespaces (run as root)"
  command -v ip >/dev/null || tb_skip "ip (iproute2) is not installed"
  command -v unshare >/dev/null || tb_skip "unshare (util-linux) is not installed"
  local probe=mbxprobe$$ err
  if ! err=$(ip netns add "$probe" 2>&1); then
    tb_skip "cannot create a network namespace (ip netns add: $err)"
  fi
  if ! err=$({ ip -n "$probe" link add tbp0 type veth peer name tbp1 &&
    ip -n "$probe" link add tbpbr type bridge; } 2>&1); then
    ip netns delete "$probe" 2>/dev/null || true
    tb_skip "cannot create veth pairs or bridges in a namespace ($err)"
  fi
  ip netns delete "$probe"
}

tb_require_mpi() {
  command -v mpirun >/dev/null || tb_skip "mpirun is not installed (Debian: openmpi-bin)"
  command -v mpicc >/dev/null || tb_skip "mpicc is not installed (Debian: libopenmpi-dev)"
}

tb_require_hosts_json() {
  [ -f "$1" ] || tb_skip "no testbed: $1 is absent (testbed_up skipped or failed: needs root and network namespaces)"
}
