// The load generator's report: one JSON document (schema in docs/results.md,
// "Load generator output") built from the merged per-thread results, and a
// short human summary printed from that same document.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loadgen.h"

namespace muxbench::loadgen {

inline constexpr int kSchemaVersion = 1;

// Above this fraction of the measurement spent on a CPU (or waiting for one),
// a worker thread was the bottleneck rather than the server.
inline constexpr double kSaturatedBusyFraction = 0.9;

// What the main thread knows about the run as a whole.
struct RunInfo {
  std::string started_at;  // ISO-8601 UTC
  std::vector<std::string> argv;
  Nanos ramp_ns = 0;
  Nanos warmup_ns = 0;
  Nanos measure_ns = 0;
  Nanos drain_ns = 0;
  Nanos close_ns = 0;
  bool ok = true;
  std::string failure_reason;
  bool interrupted = false;
  std::vector<std::string> warnings;
  long nofile_soft = 0;
  long nofile_hard = 0;
  int source_addresses = 1;  // 1: the kernel's choice
  std::vector<std::string> source_address_list;  // when spread: first and last
  int port_range_lo = 0;
  int port_range_hi = 0;
  double process_cpu_user_s = 0;
  double process_cpu_sys_s = 0;
  long max_rss_kb = 0;
};

// Everything one rank (one muxbench-loadgen process) knows after its run;
// rank 0 gets every rank's under mpirun (wire.h), standalone there is one.
struct RankResult {
  int rank = 0;
  std::string host;
  long pid = 0;
  int connections = 0;  // this rank's share
  int active = 0;
  double rate = 0;      // requests/s; 0: closed loop
  int exit_code = 0;
  std::int64_t start_realtime_ns = 0;  // CLOCK_REALTIME when its warm-up began; 0: never
  RunInfo run;
  std::vector<WorkerResult> workers;
};

// The <LATENCY> object: count, min/mean/stdev/percentiles/max in ns (null when
// empty) and the non-empty buckets.
nlohmann::json latency_json(const Histogram& h);

// The report of the whole run from every rank's results (one when
// standalone): counters summed, histograms and time series merged exactly,
// plus the `ranks` array, `start_skew_ns` and `mpi` (whether it was used).
nlohmann::json build_report(const Config& cfg, const std::vector<RankResult>& ranks,
                            bool mpi_used);

// A few lines for people, from the report.
void print_summary(std::FILE* out, const nlohmann::json& report);

}  // namespace muxbench::loadgen
