// The names on the wire between muxbench's processes, in one place for the
// writer and the readers of each contract. The harness never links a
// server's or the load generator's code (it talks to them as processes), so
// what they say to each other is named here, in the common library both
// sides build on:
//
//   1. the READY line a server prints once it serves (docs/protocol.md);
//   2. muxbench-server --list-json, each strategy's registry entry;
//   3. muxbench-server --stats FILE, the counters on exit.
//
// The load generator's --json report (4) and the results file (5) are
// described in full by docs/results.schema.json ($defs/loadgen_report and
// the top level), and a test validates a real report against it.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace muxbench::wire {

// --- 1. The READY line ---------------------------------------------------
//   READY strategy=<name> port=<port> pid=<pid>[ <key>=<value>...]
// The optional pairs after pid= are settings in effect that change what is
// measured (e.g. taskrun=defer), also listed under "options" in --stats.
inline constexpr std::string_view kReady = "READY";
namespace ready {
inline constexpr const char* kStrategy = "strategy";
inline constexpr const char* kPort = "port";
inline constexpr const char* kPid = "pid";
}  // namespace ready

// The line a server prints (without the trailing newline or the options).
inline std::string ready_line(std::string_view strategy, unsigned port, long pid) {
  return std::string(kReady) + " " + ready::kStrategy + "=" + std::string(strategy) + " " +
         ready::kPort + "=" + std::to_string(port) + " " + ready::kPid + "=" + std::to_string(pid);
}

// The value of `key` in a READY line ("" if absent), or nullopt when the line
// is not a READY line.
inline std::optional<std::string> ready_value(std::string_view line, std::string_view key) {
  if (line.substr(0, kReady.size() + 1) != std::string(kReady) + " ") return std::nullopt;
  const std::string needle = " " + std::string(key) + "=";
  const auto pos = line.find(needle);
  if (pos == std::string_view::npos) return std::string();
  const auto start = pos + needle.size();
  const auto end = line.find(' ', start);
  return std::string(line.substr(start, end == std::string_view::npos ? end : end - start));
}

// The port of a READY line; 0 when the line is not one or names no port.
inline int ready_port(std::string_view line) {
  auto v = ready_value(line, ready::kPort);
  return v && !v->empty() ? std::atoi(v->c_str()) : 0;
}

// --- 2. muxbench-server --list-json: an array, one entry per strategy -----
namespace list {
inline constexpr const char* kName = "name";
inline constexpr const char* kFamily = "family";
inline constexpr const char* kSummary = "summary";
inline constexpr const char* kDefaultThreads = "default_threads";  // resolved: CPUs for "one per CPU"
inline constexpr const char* kTakesThreads = "takes_threads";
inline constexpr const char* kThreads = "threads";       // "loops", "pool" or null
inline constexpr const char* kLimits = "limits";         // names: kLimitNames in servers/strategy.h
inline constexpr const char* kBackends = "backends";     // [{name, limits}]
inline constexpr const char* kOptions = "options";       // strategy-only options it takes
inline constexpr const char* kModes = "modes";           // [{name, args}]
inline constexpr const char* kLibrary = "library";       // null: system calls only
inline constexpr const char* kLibraryVersion = "library_version";
}  // namespace list

// --- 3. muxbench-server --stats FILE: one object, written on exit ---------
namespace stats {
inline constexpr const char* kSchemaVersion = "schema_version";
inline constexpr const char* kStrategy = "strategy";
inline constexpr const char* kPid = "pid";
inline constexpr const char* kThreads = "threads";
inline constexpr const char* kBackend = "backend";
inline constexpr const char* kOptions = "options";      // the READY line's key=value pairs
inline constexpr const char* kMechanism = "mechanism";  // strategy-specific counters (io_uring: bundles, zero-copy sends)
inline constexpr const char* kComplete = "complete";    // false: the strategy overran its stop deadline
inline constexpr const char* kCounters = "counters";    // null when not complete
inline constexpr const char* kPerThread = "per_thread"; // counters per thread, plus:
inline constexpr const char* kThread = "thread";
inline constexpr const char* kRole = "role";            // "loop" or "acceptor"
// Inside counters (and each per_thread entry):
inline constexpr const char* kAccepted = "accepted";
inline constexpr const char* kClosed = "closed";
inline constexpr const char* kRejected = "rejected";    // {fd_setsize, fd_exhausted}
inline constexpr const char* kFdSetsize = "fd_setsize";
inline constexpr const char* kFdExhausted = "fd_exhausted";
inline constexpr const char* kBytesIn = "bytes_in";
inline constexpr const char* kBytesOut = "bytes_out";
inline constexpr const char* kLines = "lines";
inline constexpr const char* kErrors = "errors";        // {reset, io, accept}
inline constexpr const char* kReset = "reset";
inline constexpr const char* kIo = "io";
inline constexpr const char* kAccept = "accept";
}  // namespace stats

}  // namespace muxbench::wire
