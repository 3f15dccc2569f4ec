// The ephemeral port range (net.ipv4.ip_local_port_range) and the number of
// source addresses it calls for: pure functions, unit-tested with odd
// sysctl values (tests/unit/port_range_test.cc).
//
// Why it matters: one source address has (hi - lo + 1) ports towards one
// target, and a closed connection keeps its port for 60 s (TIME_WAIT); past
// that the load generator spreads its sockets over several loopback source
// addresses (docs/loadgen.md, "--reconnect and source addresses"). The
// arithmetic once divided by half the range, which is 0 for a single-port
// range: any value the sysctl can hold must give a usable range and, when it
// is odd, one clear sentence, never a signal.
#pragma once

#include <string>
#include <string_view>

namespace muxbench::loadgen {

// The kernel's default range, used when the sysctl cannot be read or parsed.
inline constexpr int kDefaultPortLo = 32768;
inline constexpr int kDefaultPortHi = 60999;

// The most source addresses one rank binds to: its /16 of 127.0.0.0/8
// (127.R.0.1 .. 127.R.255.254).
inline constexpr int kMaxSourceAddresses = 65534;

struct PortRange {
  int lo = kDefaultPortLo;
  int hi = kDefaultPortHi;
  // Empty when the text was a valid range; otherwise one sentence saying
  // what was wrong and what is used instead (for stderr and the report).
  std::string problem;

  int count() const { return hi - lo + 1; }  // at least 1
};

// The text of /proc/sys/net/ipv4/ip_local_port_range ("32768\t60999\n").
// Valid: two integers in 1..65535, lo <= hi (lo == hi is one port). Reversed
// bounds are swapped; anything else (empty, garbage, out of range, a third
// field) falls back to the kernel's default. `problem` says which.
PortRange parse_port_range(std::string_view text);

// Reads and parses `path` (the sysctl's file unless a test gives another);
// an unreadable file falls back to the default with a `problem`.
PortRange read_port_range(const std::string& path);

// Source addresses for `connections` connections to one target over a range
// of `ports` ports (>= 1; less is taken as 1): one (the kernel's choice)
// unless the connections would take more than 3/4 of the range, then enough
// for each address to stay half full; at least 64 with --reconnect (TIME_WAIT
// holds a port 60 s per closed connection). Capped at kMaxSourceAddresses.
int source_addresses_needed(int connections, int ports, bool reconnect);

}  // namespace muxbench::loadgen
