// Suites: which strategies, workloads and connection counts to run, and how.
//
// A suite is a JSON file (docs/results.md, "Suite files"); the built-in ones
// live in harness/suites/*.json and are compiled into the binary. A suite is
// validated completely before anything runs: every error names the field, the
// bad value and what is allowed, e.g.
//   suite.workloads[2]: 'pingpnog' is not a workload; allowed: pingpong, idle, churn, bulk, rate
// Unknown keys are errors too.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catalog.h"

namespace muxbench::harness {

using json = nlohmann::ordered_json;

// A validation error; what() is the complete one-line message.
class SuiteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Per-workload settings; unset fields fall back to the suite's, then to the
// workload's defaults (catalog.cc).
struct WorkloadParams {
  std::vector<int> connections;             // empty: the suite's list
  std::optional<int> active;                // idle: default 100; others: all
  std::optional<int> message_size_bytes;
  std::optional<int> pipeline;
  std::optional<double> rate_per_s;
  std::optional<double> duration_s;
  std::optional<double> warmup_s;
};

// A cell matching a rule is recorded as skipped with the rule's reason, in
// which {strategy}, {workload}, {connections} and {active} are substituted.
struct SkipRule {
  std::vector<std::string> strategies;  // empty: any
  std::vector<std::string> families;    // empty: any
  std::vector<std::string> workloads;   // empty: any
  std::optional<int> connections_above;
  std::optional<int> active_above;
  std::string reason;
};

struct Placement {
  std::string server_cpus;   // "" : not pinned
  std::string loadgen_cpus;
};

struct Suite {
  std::string name;
  std::string description;
  std::vector<std::string> strategies;  // resolved ("all" expanded)
  bool all_strategies = false;          // the file said "all"
  std::vector<std::string> workloads;
  std::vector<int> connections;
  double duration_s = 5;
  double warmup_s = 1;
  int repeat = 1;
  double pause_s = 0.5;
  std::optional<int> loadgen_threads;
  int loadgen_ranks = 1;                // load-generator processes (mpirun ranks) per cell
  Placement placement;
  std::map<std::string, WorkloadParams> workload_params;
  std::map<std::string, std::vector<std::string>> server_args;
  // --threads values: every strategy that takes --threads runs once per value
  // (cells "<strategy>/<workload>/c<N>/t<T>/r<R>"); empty: its own default.
  std::vector<int> server_threads;
  std::vector<SkipRule> skip;
  std::string source;  // "builtin:smoke" or the file path; not part of identity
};

// Parses and validates a suite. `where` prefixes errors (a file name).
Suite parse_suite(const json& j, const std::vector<StrategyInfo>& catalog,
                  const std::string& fallback_name);

// Loads `name_or_file`: a built-in suite name or a path to a JSON file.
Suite load_suite(const std::string& name_or_file, const std::vector<StrategyInfo>& catalog);

// The suite as recorded in a results file ("exactly what ran").
json suite_to_json(const Suite& s);

// Built-in suites: name -> JSON text.
const std::map<std::string, std::string>& builtin_suites();

// Flag overrides (`muxbench run --strategies ... --connections ...`). Each
// validates its value and throws SuiteError naming the flag.
void override_strategies(Suite& s, const std::string& list, const std::vector<StrategyInfo>& catalog);
void override_workloads(Suite& s, const std::string& list);
void override_connections(Suite& s, const std::string& list);
void override_repeat(Suite& s, int repeat);
void override_duration(Suite& s, double seconds);
void override_warmup(Suite& s, double seconds);
void override_loadgen_ranks(Suite& s, int ranks);

// On a machine with at least 2 CPUs, a suite that pins nothing gets the
// server on CPU 0 and the load generator on the others, so that the two never
// compete for a CPU (docs/results.md). With server_threads, the server gets
// CPUs 0..T-1 (T: the largest count) when more than T CPUs exist, and nothing
// is pinned otherwise. `--unpinned` skips this.
void default_placement(Suite& s, long cpus);
void override_placement(Suite& s, const std::string& server_cpus, const std::string& loadgen_cpus);
// Appends `args` to every strategy's extra server flags, after the suite's
// own (`--server-arg=--delay-us=200`), unless they already end that list (a
// resumed run's recorded suite); the reserved ones are refused.
void override_server_args(Suite& s, const std::vector<std::string>& args);

// One planned cell.
struct CellParams {
  int message_size_bytes = 64;
  int pipeline = 1;
  std::optional<double> rate_per_s;  // open loop when set
  bool reconnect = false;
  double duration_s = 5;
  double warmup_s = 1;
  std::optional<int> loadgen_threads;
  int loadgen_ranks = 1;
  std::vector<std::string> server_args;
  std::optional<int> server_threads;  // --threads given to the server (suite.server_threads)
};

struct CellPlan {
  std::string id;  // "epoll/pingpong/c100/r0", "epoll-reuseport/pingpong/c100/t2/r0"
  std::string strategy;
  std::string family;
  std::string workload;
  int connections = 0;
  int active = 0;
  int repetition = 0;
  CellParams params;
  std::optional<std::string> skip_reason;
};

// Every cell of the suite, in run order: workload, connections, repetition,
// strategy, so that repetitions interleave across strategies (A B C A B C).
// `nofile_hard` turns counts the descriptor limit cannot hold into skips.
std::vector<CellPlan> plan_cells(const Suite& s, const std::vector<StrategyInfo>& catalog,
                                 long nofile_hard);

// Rough wall time of a cell (for progress and --dry-run), in seconds.
double estimate_cell_seconds(const CellPlan& c, const Suite& s);

}  // namespace muxbench::harness
