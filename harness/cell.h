// Running one cell: start the server, wait for READY, run the load generator
// against it while sampling the server from /proc, stop the server, and turn
// all of it into one record of the results file (docs/results.md).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "muxbench/timestamp.h"
#include "suite.h"

namespace muxbench::harness {

struct CellEnv {
  std::string server_path;
  std::string loadgen_path;
  std::string work_dir;               // scratch files of the current cell
  std::vector<int> server_cpus;       // empty: not pinned
  std::vector<int> loadgen_cpus;
  std::string server_cpus_text;       // as given, for the record
  std::string loadgen_cpus_text;
  const std::atomic<bool>* interrupted = nullptr;  // Ctrl-C: abandon the cell
  std::function<void(const std::string& phase)> on_phase;  // progress display
  std::function<void()> on_tick;                            // called every ~20 ms
};

// Bounds, in seconds.
inline constexpr double kReadyTimeoutS = 10;   // start-up to READY
inline constexpr double kStopGraceS = 2;       // SIGTERM to exit, then SIGKILL
inline constexpr double kLoadgenMarginS = 10;  // beyond warmup + duration + ramp

struct CellOutcome {
  json record;               // the cell as recorded; meaningless when interrupted
  bool interrupted = false;  // Ctrl-C arrived; the cell must not be recorded
};

CellOutcome run_cell(const CellPlan& plan, const CellEnv& env);

// The record of a cell that does not run.
json skipped_cell(const CellPlan& plan, const CellEnv& env);

// The load generator's command line for a cell (docs/results.md lists the
// mapping from workload parameters to flags).
std::vector<std::string> loadgen_argv(const CellPlan& plan, const std::string& loadgen_path,
                                      int port, const std::string& json_path,
                                      const std::string& cpus);

// The hard timeout for the load generator of a cell.
double loadgen_timeout_s(const CellPlan& plan);

using muxbench::iso_now;  // common/timestamp.h

}  // namespace muxbench::harness
