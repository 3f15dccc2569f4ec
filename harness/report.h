// Human-readable views of a results document: the tables `muxbench show`
// prints and `muxbench run` prints at the end, and one-line headlines.
#pragma once

#include <string>
#include <vector>

#include "suite.h"

namespace muxbench::harness {

// What the tables show in each (strategy, connections) cell.
enum class TableMetric {
  kRequests,   // requests/s and p99 (the default)
  kLatency,    // p50 / p99 / p99.9
  kCpu,        // server CPU µs per request
  kMemory,     // server memory per connection, and peak RSS
  kBandwidth,  // bytes per second
};
// Parses "requests", "latency", "cpu", "memory", "bandwidth".
bool parse_table_metric(const std::string& name, TableMetric* out);
inline constexpr const char* kTableMetricNames = "requests, latency, cpu, memory, bandwidth";

// One table per workload (strategies down, connection counts across; the
// median over repetitions), then the cells that missed their rate and the
// failed cells with their reasons, and the skip reasons. Failures are marked
// FAILED, missed rates RATE NOT MET (next to their numbers), skips "skip",
// missing cells "-".
std::string summary_tables(const json& doc, TableMetric metric = TableMetric::kRequests);

// The header of `muxbench show`: where, when, what build, how many cells.
std::string document_header(const json& doc, const std::string& path);

// The status of an open-loop cell that ran cleanly but missed its schedule
// (cell_observation.h, cell_verdict): shown as "RATE NOT MET" everywhere.
inline constexpr const char* kRateNotMet = "rate_not_met";

// What a table row, a chart line and a compare group call a cell's server:
// the strategy, with "/t<N>" when the suite gave it --threads N
// (suite.server_threads), e.g. "epoll-reuseport/t2".
std::string series_name(const json& cell);

// "45.1k req/s, p99 120µs" for an ok cell; "RATE NOT MET (57.4 % ...): 455
// req/s, ..." for a cell that missed its rate; the status and reason
// otherwise.
std::string headline(const json& cell);

// True for cells whose metrics stand: ok, and rate_not_met.
bool is_measured(const json& cell);

std::string format_rate(double per_s);     // 812, 45.1k, 1.23M
std::string format_ns(double ns);          // 850ns, 120µs, 1.2ms, 2.1s
std::string format_bytes(double bytes);    // 512B, 12.3KiB, 4.5MiB
std::string format_duration(double s);     // 42s, 3m05s, 1h02m

}  // namespace muxbench::harness
