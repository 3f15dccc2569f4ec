// Running one cell, in named stages: start the server through its agent
// (agent.h; locally, or on the host file's server host through mpirun), wait
// for READY, run the load generator against it (one process, or K ranks
// under mpirun), stop the server, and turn what both sides saw into one
// record of the results file (cell_observation.h; docs/results.md).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "hosts.h"
#include "muxbench/timestamp.h"
#include "suite.h"

namespace muxbench::harness {

struct CellEnv {
  std::string harness_path;           // muxbench itself: runs the serve-cell agent
  std::string server_path;
  std::string loadgen_path;
  const HostFile* hosts = nullptr;    // null: everything on this machine
  std::string work_dir;               // scratch files of the current cell
  std::string server_cpus_text;       // as given; "" : not pinned
  std::string loadgen_cpus_text;
  const std::atomic<bool>* interrupted = nullptr;  // Ctrl-C: abandon the cell
  std::function<void(const std::string& phase)> on_phase;  // progress display
  std::function<void()> on_tick;                            // called every ~20 ms
};

// Bounds, in seconds.
inline constexpr double kReadyTimeoutS = 10;   // start-up to READY
inline constexpr double kStopGraceS = 2;       // SIGTERM to exit, then SIGKILL
inline constexpr double kLoadgenMarginS = 10;  // beyond warmup + duration + ramp
inline constexpr double kLaunchMarginS = 30;   // mpirun reaching other hosts

struct CellOutcome {
  json record;               // the cell as recorded; meaningless when interrupted
  bool interrupted = false;  // Ctrl-C arrived; the cell must not be recorded
  // mpirun never brought the load generator to the server: it ran past its
  // timeout and the server accepted nothing. A launch that hung, not a
  // measurement of the strategy; the runner runs such a cell once more.
  bool launch_hung = false;
};

CellOutcome run_cell(const CellPlan& plan, const CellEnv& env);

// The record of a cell that does not run.
json skipped_cell(const CellPlan& plan, const CellEnv& env);

// The load generator's command line for a cell (docs/results.md lists the
// mapping from workload parameters to flags).
// `target` is HOST:PORT ("[v6]:PORT").
std::vector<std::string> loadgen_argv(const CellPlan& plan, const std::string& loadgen_path,
                                      const std::string& target, const std::string& json_path,
                                      const std::string& cpus);

// The hard timeout for the load generator of a cell.
double loadgen_timeout_s(const CellPlan& plan);

using muxbench::iso_now;  // common/timestamp.h

}  // namespace muxbench::harness
