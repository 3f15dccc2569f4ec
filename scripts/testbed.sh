#!/usr/bin/env bash
# A multi-host testbed on one machine, made of Linux network namespaces, for
# running muxbench's server and load generators on "separate hosts" launched
# by Open MPI's mpirun. See docs/distributed.md ("The testbed").
#
#   scripts/testbed.sh up [--prefix P] [--hosts N] [--dir DIR]
#                         [--netem-delay D] [--netem-rate R]
#                         [--server-cpus LIST] [--loadgen-cpus LIST]
#   scripts/testbed.sh down   [--prefix P] [--dir DIR]
#   scripts/testbed.sh status [--prefix P] [--dir DIR]
#
# Namespaces: P-sw (the bridge P-br0), P-ctl (192.0.2.1, where mpirun runs),
# P-h1..P-hN (192.0.2.11, .12, ...). The root namespace is never touched: no
# interface, bridge, route, firewall rule or sysctl is created or changed there.
#
# status exits 0 when the testbed is up and complete, 3 when it is down,
# 1 when it is partial. Must run as root.
set -euo pipefail
PATH=$PATH:/usr/sbin:/sbin

readonly NET=192.0.2          # TEST-NET-1; every address of the testbed is in 192.0.2.0/24
readonly CTL_ADDR=$NET.1
readonly HOST_BASE=10         # host i has $NET.$((HOST_BASE + i))
readonly MTU=1500
readonly STATE_ROOT=/run/muxbench-testbed   # P.dir: where the testbed of prefix P wrote its files
readonly MARKER=.muxbench-testbed           # in DIR: "prefix=P"; down removes only such a DIR

usage() {
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

die() { echo "testbed: $*" >&2; exit 1; }
log() { echo "testbed: $*"; }

[ $# -ge 1 ] || usage
CMD=$1
shift
case $CMD in up | down | status) ;; -h | --help | help) usage ;; *) echo "testbed: unknown command '$CMD'" >&2; usage ;; esac

PREFIX=mbx
NHOSTS=3
DIR=""
DELAY=""
RATE=""
SERVER_CPUS=""
LOADGEN_CPUS=""
while [ $# -gt 0 ]; do
  opt=$1
  case $opt in
    --prefix | --hosts | --dir | --netem-delay | --netem-rate | --server-cpus | --loadgen-cpus)
      [ $# -ge 2 ] || die "$opt needs a value"
      val=$2
      shift 2
      ;;
    --*=*) val=${opt#*=}; opt=${opt%%=*}; shift ;;
    -h | --help) usage ;;
    *) die "unknown argument '$opt'" ;;
  esac
  case $opt in
    --prefix) PREFIX=$val ;;
    --hosts) NHOSTS=$val ;;
    --dir) DIR=$val ;;
    --netem-delay) DELAY=$val ;;
    --netem-rate) RATE=$val ;;
    --server-cpus) SERVER_CPUS=$val ;;
    --loadgen-cpus) LOADGEN_CPUS=$val ;;
    *) die "unknown option '$opt'" ;;
  esac
done

# The bridge is called P-br0 and interface names have at most 15 characters.
[[ $PREFIX =~ ^[a-z][a-z0-9]{0,9}$ ]] ||
  die "--prefix must be a lower-case letter then up to 9 letters or digits (got '$PREFIX')"
if ! [[ $NHOSTS =~ ^[0-9]+$ ]] || [ "$NHOSTS" -lt 1 ] || [ "$NHOSTS" -gt 200 ]; then
  die "--hosts must be 1..200 (got '$NHOSTS')"
fi
for v in "$DELAY" "$RATE"; do
  [[ -z $v || $v =~ ^[0-9]+(\.[0-9]+)?[a-zA-Z]*$ ]] || die "bad netem value '$v' (e.g. 50us, 1ms, 1gbit)"
done
for v in "$SERVER_CPUS" "$LOADGEN_CPUS"; do
  [[ -z $v || $v =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] || die "bad cpu list '$v' (e.g. 0 or 1-3,5)"
done

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces)"
IP=$(command -v ip) || die "ip (iproute2) not found"
UNSHARE=$(command -v unshare) || die "unshare (util-linux) not found"
HOSTNAME_BIN=$(command -v hostname) || die "hostname not found"

SW=$PREFIX-sw
CTL=$PREFIX-ctl
BR=$PREFIX-br0
STATE=$STATE_ROOT/$PREFIX.dir

host_ns() { echo "$PREFIX-h$1"; }
host_addr() { echo "$NET.$((HOST_BASE + $1))"; }

# The namespaces of this prefix that exist now, one per line.
our_namespaces() {
  "$IP" netns list 2>/dev/null | awk '{print $1}' | grep -E "^${PREFIX}-(sw|ctl|h[0-9]+)$" || true
}

# Where this prefix's files are: --dir, else what `up` recorded, else the default.
resolve_dir() {
  if [ -z "$DIR" ] && [ -f "$STATE" ]; then DIR=$(cat "$STATE"); fi
  if [ -z "$DIR" ]; then DIR=/tmp/muxbench-testbed-$PREFIX; fi
}

# PIDs in namespace $1, without this script and its parent (in case `down`
# is run from inside a testbed namespace).
ns_pids() {
  "$IP" netns pids "$1" 2>/dev/null | grep -vxE "$$|$PPID" || true
}

# Kills what runs in our namespaces (TERM, then KILL), deletes them, removes DIR.
teardown() {
  local namespaces ns pids all i
  namespaces=$(our_namespaces)
  if [ -n "$namespaces" ]; then
    all=""
    for ns in $namespaces; do
      pids=$(ns_pids "$ns")
      if [ -n "$pids" ]; then
        log "stopping in $ns: $(echo "$pids" | tr '\n' ' ')"
        # shellcheck disable=SC2086
        kill -TERM $pids 2>/dev/null || true
        all="$all $pids"
      fi
    done
    if [ -n "$all" ]; then
      for i in $(seq 30); do   # up to 3 s for a clean exit
        pids=""
        for ns in $namespaces; do pids="$pids$(ns_pids "$ns")"; done
        [ -z "$pids" ] && break
        sleep 0.1
      done
      for ns in $namespaces; do
        pids=$(ns_pids "$ns")
        if [ -n "$pids" ]; then
          log "killing in $ns: $(echo "$pids" | tr '\n' ' ')"
          # shellcheck disable=SC2086
          kill -KILL $pids 2>/dev/null || true
        fi
      done
      for i in $(seq 20); do
        pids=""
        for ns in $namespaces; do pids="$pids$(ns_pids "$ns")"; done
        [ -z "$pids" ] && break
        sleep 0.1
      done
      [ -z "$pids" ] || log "warning: processes still left: $pids"
    fi
    for ns in $namespaces; do
      "$IP" netns delete "$ns" 2>/dev/null || log "warning: could not delete namespace $ns"
    done
    log "deleted namespaces: $(echo "$namespaces" | tr '\n' ' ')"
    # Open MPI session directories of our hosts (named after their hostnames),
    # left when a job was killed rather than stopped.
    for ns in $namespaces; do
      rm -rf -- "${TMPDIR:-/tmp}/ompi.$ns."[0-9]*
    done
  fi
  if [ -d "$DIR" ]; then
    if [ -f "$DIR/$MARKER" ] && [ "$(cat "$DIR/$MARKER")" = "prefix=$PREFIX" ]; then
      rm -rf -- "$DIR"
      log "removed $DIR"
    else
      log "left $DIR alone: it is not a testbed directory of prefix $PREFIX"
    fi
  fi
  rm -f "$STATE"
}

# up and down run under a lock (on the directory $STATE_ROOT itself, so no
# lock file is left behind) so that they cannot interleave.
with_lock() {
  mkdir -p "$STATE_ROOT"
  exec 9<"$STATE_ROOT"
  if command -v flock >/dev/null; then
    flock -w 60 9 || die "another testbed.sh holds the lock on $STATE_ROOT"
  fi
}

json_str() { printf '"%s"' "$1"; }   # values are validated: no quotes or backslashes

# shellcheck disable=SC2016  # the generated scripts expand their own variables
write_files() {
  local i role cpus slots sep netem mca_json env_json
  local agent=$DIR/rsh-agent wrapper=$DIR/mpirun
  # MCA parameters for mpirun. The wrapper sets them as OMPI_MCA_* variables
  # (lowest precedence, so `--mca k v` on the command line overrides them
  # instead of being merged with them).
  MCA_KEYS=(plm_rsh_agent plm_rsh_no_tree_spawn oob_tcp_if_include btl_tcp_if_include btl pml hwloc_base_binding_policy)
  MCA_VALS=("$agent" 1 "$NET.0/24" "$NET.0/24" "self,vader,tcp" ob1 none)

  echo "prefix=$PREFIX" >"$DIR/$MARKER"

  {
    echo "#!/bin/sh"
    echo "# Generated by scripts/testbed.sh for testbed '$PREFIX': Open MPI's plm_rsh_agent."
    echo "# Called as: rsh-agent [ssh-like options] HOST command...; runs the command (a"
    echo "# shell command line, as ssh would) inside network namespace HOST, with its own"
    echo "# UTS namespace whose hostname is HOST."
    echo 'while [ $# -gt 0 ]; do'
    echo '  case $1 in'
    echo '    -[bcDEeFIiJLlmOoPpRSWw]) shift 2 ;;'
    echo '    -*) shift ;;'
    echo '    *) break ;;'
    echo '  esac'
    echo 'done'
    echo 'if [ $# -lt 1 ]; then echo "rsh-agent: no host" >&2; exit 255; fi'
    echo 'host=$1'
    echo 'shift'
    echo 'case $host in'
    echo "  $CTL_ADDR) host=$CTL ;;"
    for i in $(seq "$NHOSTS"); do
      echo "  $(host_addr "$i")) host=$(host_ns "$i") ;;"
    done
    echo "  $CTL) ;;"
    for i in $(seq "$NHOSTS"); do echo "  $(host_ns "$i")) ;;"; done
    echo "  *) echo \"rsh-agent: '\$host' is not a host of testbed $PREFIX\" >&2; exit 255 ;;"
    echo 'esac'
    echo "exec $IP netns exec \"\$host\" $UNSHARE --uts /bin/sh -c '$HOSTNAME_BIN \"\$0\" && exec /bin/sh -c \"\$*\"' \"\$host\" \"\$@\""
  } >"$agent"
  chmod 755 "$agent"

  {
    echo "#!/bin/sh"
    echo "# Generated by scripts/testbed.sh for testbed '$PREFIX': mpirun inside namespace"
    echo "# $CTL (hostname $CTL), with the testbed's MCA parameters; arguments pass through."
    echo "export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
    for i in "${!MCA_KEYS[@]}"; do
      echo "export OMPI_MCA_${MCA_KEYS[$i]}='${MCA_VALS[$i]}'"
    done
    echo "exec $IP netns exec $CTL $UNSHARE --uts /bin/sh -c '$HOSTNAME_BIN $CTL && exec mpirun \"\$@\"' mpirun \"\$@\""
  } >"$wrapper"
  chmod 755 "$wrapper"

  # An Open MPI hostfile with the same slots as hosts.json (for convenience).
  {
    for i in $(seq "$NHOSTS"); do
      if [ "$i" -eq 1 ]; then slots=1; else slots=4; fi
      echo "$(host_ns "$i") slots=$slots"
    done
  } >"$DIR/hostfile"

  if [ -n "$DELAY$RATE" ]; then
    netem="{\"delay\": $( [ -n "$DELAY" ] && json_str "$DELAY" || echo null), \"rate\": $( [ -n "$RATE" ] && json_str "$RATE" || echo null)}"
  else
    netem=null
  fi
  mca_json=""
  sep=""
  for i in "${!MCA_KEYS[@]}"; do
    mca_json="$mca_json$sep$(json_str "${MCA_KEYS[$i]}"): $(json_str "${MCA_VALS[$i]}")"
    sep=", "
  done
  env_json='"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"'
  {
    echo "{"
    echo "  \"name\": \"testbed-$PREFIX\","
    echo "  \"launcher\": {"
    echo "    \"mpirun\": [$(json_str "$wrapper")],"
    echo "    \"mca\": {$mca_json},"
    echo "    \"env\": {$env_json}"
    echo "  },"
    echo "  \"hosts\": ["
    for i in $(seq "$NHOSTS"); do
      if [ "$i" -eq 1 ]; then role=server cpus=$SERVER_CPUS slots=1; else role=loadgen cpus=$LOADGEN_CPUS slots=4; fi
      sep=","
      [ "$i" -eq "$NHOSTS" ] && sep=""
      echo "    {\"name\": \"$(host_ns "$i")\", \"address\": \"$(host_addr "$i")\", \"cpus\": \"$cpus\", \"slots\": $slots, \"role\": \"$role\"}$sep"
    done
    echo "  ],"
    echo "  \"network\": {\"kind\": \"testbed\", \"bridge\": \"$BR in namespace $SW\", \"mtu\": $MTU, \"netem\": $netem}"
    echo "}"
  } >"$DIR/hosts.json.tmp"
  mv "$DIR/hosts.json.tmp" "$DIR/hosts.json"
}

# One node (controller or host): namespace, veth pair to the bridge, address,
# loopback, per-namespace sysctls.
add_node() {  # ns, port name in $SW, address
  local ns=$1 port=$2 addr=$3
  "$IP" netns add "$ns"
  "$IP" -n "$SW" link add "$port" mtu "$MTU" type veth peer name veth0 netns "$ns"
  "$IP" -n "$SW" link set "$port" master "$BR" up
  "$IP" -n "$ns" link set lo up
  "$IP" -n "$ns" link set veth0 mtu "$MTU" up
  "$IP" -n "$ns" addr add "$addr/24" dev veth0
  # Per-namespace settings only (/proc/sys/net belongs to the namespace).
  "$IP" netns exec "$ns" sysctl -q -w \
    net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
    net.ipv4.ip_local_port_range="1024 65535" net.core.somaxconn=4096 \
    net.ipv4.tcp_max_syn_backlog=4096 net.ipv4.tcp_tw_reuse=1 >/dev/null
}

on_up_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    log "up failed (status $rc): tearing down what was made"
    teardown
  fi
}

cmd_up() {
  local i ns cpus_n
  cpus_n=$(nproc)
  if [ -z "$SERVER_CPUS" ]; then SERVER_CPUS=0; fi
  if [ -z "$LOADGEN_CPUS" ]; then
    if [ "$cpus_n" -ge 2 ]; then LOADGEN_CPUS=1; else LOADGEN_CPUS=0; fi
  fi
  [ -n "$DIR" ] || DIR=/tmp/muxbench-testbed-$PREFIX
  DIR=$(realpath -m -- "$DIR")
  [[ $DIR =~ ^/[A-Za-z0-9._/+-]+$ ]] || die "--dir must be a path of letters, digits and ._/+- (got '$DIR')"
  [ "$DIR" != / ] || die "--dir cannot be /"
  if [ -n "$DELAY$RATE" ]; then command -v tc >/dev/null || die "netem needs tc (iproute2)"; fi

  with_lock
  # Idempotent: whatever exists of this prefix (complete or half made) goes first.
  local old_dir=$DIR
  if [ -n "$(our_namespaces)" ] || [ -f "$STATE" ]; then
    log "a testbed '$PREFIX' exists: taking it down first"
    DIR=""
    resolve_dir
    teardown
    DIR=$old_dir
  fi
  if [ -e "$DIR" ] && [ ! -f "$DIR/$MARKER" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
    die "$DIR exists, is not empty and is not a testbed directory; choose another --dir"
  fi
  if [ -f "$DIR/$MARKER" ] && [ "$(cat "$DIR/$MARKER")" != "prefix=$PREFIX" ]; then
    die "$DIR belongs to another testbed ($(cat "$DIR/$MARKER"))"
  fi

  trap on_up_exit EXIT
  trap 'exit 130' INT TERM HUP
  mkdir -p "$DIR"
  echo "prefix=$PREFIX" >"$DIR/$MARKER"
  echo "$DIR" >"$STATE"

  # The switch: a bridge in its own namespace.
  "$IP" netns add "$SW"
  "$IP" -n "$SW" link set lo up
  "$IP" netns exec "$SW" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null
  "$IP" -n "$SW" link add "$BR" mtu "$MTU" type bridge forward_delay 0 stp_state 0
  "$IP" -n "$SW" link set "$BR" up

  add_node "$CTL" ctl "$CTL_ADDR"
  for i in $(seq "$NHOSTS"); do
    ns=$(host_ns "$i")
    add_node "$ns" "h$i" "$(host_addr "$i")"
    if [ -n "$DELAY$RATE" ]; then
      # shellcheck disable=SC2046
      tc -n "$ns" qdisc add dev veth0 root netem $([ -n "$DELAY" ] && echo delay "$DELAY") $([ -n "$RATE" ] && echo rate "$RATE") ||
        die "could not add netem to veth0 in $ns (is sch_netem available in this kernel?)"
    fi
  done

  write_files
  trap - EXIT INT TERM HUP
  log "up: prefix $PREFIX, $NHOSTS hosts, dir $DIR"
  log "  controller $CTL $CTL_ADDR; hosts $(host_ns 1)..$(host_ns "$NHOSTS") $(host_addr 1)..$(host_addr "$NHOSTS")"
  if [ -n "$DELAY$RATE" ]; then
    log "  netem on each host's veth0:${DELAY:+ delay $DELAY}${RATE:+ rate $RATE}"
  else
    log "  netem: none"
  fi
  log "  $DIR/hosts.json, $DIR/mpirun, $DIR/rsh-agent, $DIR/hostfile"
}

cmd_down() {
  resolve_dir
  with_lock
  teardown
  log "down: prefix $PREFIX"
}

cmd_status() {
  resolve_dir
  local namespaces ns expected=() missing=0 n i pids
  namespaces=$(our_namespaces)
  n=""
  if [ -f "$DIR/hosts.json" ]; then
    n=$(grep -c '"role":' "$DIR/hosts.json" || true)
  fi
  if [ -z "$n" ] || [ "$n" -eq 0 ]; then
    n=$(echo "$namespaces" | grep -cE -- "-h[0-9]+$" || true)
  fi
  expected=("$SW" "$CTL")
  for i in $(seq "$n"); do expected+=("$(host_ns "$i")"); done

  echo "testbed $PREFIX (dir $DIR)"
  for ns in "${expected[@]}"; do
    if ! echo "$namespaces" | grep -qx -- "$ns"; then
      echo "  $ns: missing"
      missing=$((missing + 1))
      continue
    fi
    if [ "$ns" = "$SW" ]; then
      echo "  $ns: bridge $("$IP" -n "$ns" -br link show type bridge 2>/dev/null | awk '{print $1, $2}' | tr '\n' ' ')" \
        "ports $("$IP" -n "$ns" -o link show master "$BR" 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | tr '\n' ' ')"
    else
      echo "  $ns: $("$IP" -n "$ns" -4 -br addr show dev veth0 2>/dev/null | awk '{print $2, $3}')"
      local q
      q=$(tc -n "$ns" qdisc show dev veth0 2>/dev/null | grep netem || true)
      [ -z "$q" ] || echo "      netem: $q"
    fi
    pids=$("$IP" netns pids "$ns" 2>/dev/null || true)
    if [ -n "$pids" ]; then
      echo "      processes:"
      # shellcheck disable=SC2086
      ps -o pid=,args= -p "$(echo $pids | tr ' ' ,)" 2>/dev/null | sed 's/^/        /' | cut -c1-160
    fi
  done
  # Namespaces beyond the expected set (a bigger earlier testbed, half made).
  for ns in $namespaces; do
    printf '%s\n' "${expected[@]}" | grep -qx -- "$ns" || echo "  $ns: extra"
  done
  if [ -f "$DIR/hosts.json" ]; then echo "  hosts.json: $DIR/hosts.json"; else echo "  hosts.json: absent"; fi

  if [ -z "$namespaces" ] && [ ! -f "$DIR/hosts.json" ]; then
    echo "status: down"
    return 3
  fi
  if [ "$missing" -eq 0 ] && [ -f "$DIR/hosts.json" ] && [ -x "$DIR/mpirun" ] && [ -x "$DIR/rsh-agent" ]; then
    echo "status: up"
    return 0
  fi
  echo "status: partial"
  return 1
}

case $CMD in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
esac
