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

#include <array>
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

// The load generator's JSON report (docs/loadgen.md; its schema is
// docs/results.schema.json's loadgen_report): the keys that the writer,
// loadgen/report.cc, and the reader, harness/cell_observation.cc, share.
// (The report has more, for people and charts; those live in report.cc.)
namespace report {
inline constexpr const char* kStatus = "status";  // "ok" or "failed"
inline constexpr const char* kStatusOk = "ok";
inline constexpr const char* kStatusFailed = "failed";
inline constexpr const char* kFailureReason = "failure_reason";
inline constexpr const char* kConfig = "config";  // {timeout_s, ...}
inline constexpr const char* kTimeoutS = "timeout_s";
inline constexpr const char* kPhases = "phases";  // {ramp_ns, warmup_ns, measure_ns, drain_ns}
inline constexpr const char* kRampNs = "ramp_ns";
inline constexpr const char* kWarmupNs = "warmup_ns";
inline constexpr const char* kMeasureNs = "measure_ns";
inline constexpr const char* kDrainNs = "drain_ns";
inline constexpr const char* kConnect = "connect";  // {attempted, established, failed}
inline constexpr const char* kAttempted = "attempted";
inline constexpr const char* kEstablished = "established";
inline constexpr const char* kFailed = "failed";
inline constexpr const char* kRequests = "requests";  // {sent, completed, completed_in_window, censored}
inline constexpr const char* kSent = "sent";
inline constexpr const char* kCompleted = "completed";
inline constexpr const char* kCompletedInWindow = "completed_in_window";
inline constexpr const char* kCensored = "censored";  // also in rate
inline constexpr const char* kThroughput = "throughput";  // {requests_per_s, bytes_per_s}
inline constexpr const char* kRequestsPerS = "requests_per_s";
inline constexpr const char* kBytesPerS = "bytes_per_s";
inline constexpr const char* kLatency = "latency";  // corrected (open loop); both: the keys below
inline constexpr const char* kLatencyUncorrected = "latency_uncorrected";
inline constexpr const char* kCount = "count";
inline constexpr const char* kHistogram = "histogram";  // {buckets: [[value_ns, count]...]}
inline constexpr const char* kBuckets = "buckets";
inline constexpr const char* kP50Ns = "p50_ns";
inline constexpr const char* kP90Ns = "p90_ns";
inline constexpr const char* kP99Ns = "p99_ns";
inline constexpr const char* kP999Ns = "p999_ns";
inline constexpr const char* kMaxNs = "max_ns";
inline constexpr const char* kMeanNs = "mean_ns";
inline constexpr std::array<const char*, 6> kLatencyFields = {kP50Ns,  kP90Ns, kP99Ns,
                                                              kP999Ns, kMaxNs, kMeanNs};
inline constexpr const char* kVerification = "verification";  // {verified_replies, mismatched_replies}
inline constexpr const char* kVerifiedReplies = "verified_replies";
inline constexpr const char* kMismatchedReplies = "mismatched_replies";
inline constexpr const char* kClient = "client";  // {busy_fraction, client_saturated}
inline constexpr const char* kBusyFraction = "busy_fraction";
inline constexpr const char* kClientSaturated = "client_saturated";
inline constexpr const char* kRate = "rate";  // open loop only: {target_per_s, achieved_per_s, due, missed, unsent, censored}
inline constexpr const char* kTargetPerS = "target_per_s";
inline constexpr const char* kAchievedPerS = "achieved_per_s";
inline constexpr const char* kDue = "due";
inline constexpr const char* kMissed = "missed";
inline constexpr const char* kUnsent = "unsent";
inline constexpr const char* kErrors = "errors";                 // {<kind>: count, total}
inline constexpr const char* kErrorsByPhase = "errors_by_phase";  // {<phase>: {<kind>: count, total}}
inline constexpr const char* kTotal = "total";
// The error kinds, in the order of loadgen's Err enum (loadgen/loadgen.h).
inline constexpr std::array<const char*, 10> kErrorKinds = {
    "connect_refused", "connect_timeout", "connect_other", "reset",      "unexpected_eof",
    "mismatch",        "short_reply",     "request_timeout", "addr_not_available", "other"};
}  // namespace report

}  // namespace muxbench::wire
