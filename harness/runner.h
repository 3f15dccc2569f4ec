// What `muxbench run` and `muxbench ab` share (run.cc): the suite flags, the
// checks before anything runs, the scratch directory, and the cell loop that
// runs a list of jobs into a results file. `run` gives it one job per
// planned cell; `ab` two, one per build, in ABBA order (ab.cc). There is one
// cell loop: interruption, pauses, progress and the incremental results
// file behave the same in both.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "catalog.h"
#include "cell.h"
#include "results.h"
#include "suite.h"

namespace muxbench::harness {

// The flags that choose and shape the suite (both commands take them).
struct SuiteFlags {
  std::string suite;
  std::string strategies, workloads, connections;
  int repeat = -1;  // -1 (and -1.0): not given
  double duration = -1, warmup = -1;
  std::string cpu_server, cpu_loadgen;
  std::vector<std::string> server_args;
  int loadgen_ranks = -1;
  bool unpinned = false;
  bool hosts = false;  // a host file is used: no default placement
};

// Registers those flags (--suite, --strategies, ..., --server-arg) on a subcommand.
void add_suite_flags(CLI::App& sub, SuiteFlags& f);

// The flags applied to a loaded suite; throws SuiteError naming the flag.
void apply_overrides(Suite& s, const SuiteFlags& f, const std::vector<StrategyInfo>& catalog);

// The environment a results file records for a run on this machine (the
// paths of the binaries, the loopback network path).
json local_run_environment(const std::string& server_path, const std::string& loadgen_path);

// A results file to continue (`run --resume`, `ab --resume`), read and
// checked; `ab` says which command's files are taken (an A/B file or a plain
// one). False (one line said) when refused.
bool load_resumable(const std::string& path, bool ab, json* doc);

// The suite of that file: the one recorded, which suite flags, when given,
// must reproduce. False (one line said) when refused.
bool resume_suite(const std::string& path, const json& doc, const SuiteFlags& flags,
                  const std::vector<StrategyInfo>& catalog, Suite* suite);

// The loaded file to continue: warns on stderr about what changed since
// (host, commit, build type, sanitizer, network path) and notes the
// resumption in the file.
ResultsFile resume_results(const std::string& path, const json& doc, const json& now);

// One cell to run: its plan (the id is the one recorded), the binaries it
// runs (env), and fields merged into its record (ab: "side").
struct RunJob {
  CellPlan plan;
  const CellEnv* env = nullptr;
  json extra = json::object();
};

// False (and one line said) when this build must not record results.
bool build_fit_for_results(bool allow_debug);

// Refuses (false, one line said) an existing --out without --force.
bool out_file_allowed(const std::string& out, bool force);

// A scratch directory in /tmp, removed with the object.
class ScratchDir {
 public:
  ScratchDir();  // throws std::runtime_error
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// SIGINT, SIGTERM and SIGHUP set the flag returned; the loop stops at the
// next cell boundary (or abandons the running cell).
const std::atomic<bool>* install_stop_signals();

// Runs every job not yet in `results`, recording each as it ends; prints
// progress on stderr. Returns false when interrupted (the file is written,
// unfinished); true when all ran (the file is marked finished). Throws
// std::runtime_error on I/O errors of the results file.
bool run_jobs(const std::vector<RunJob>& jobs, const Suite& suite, ResultsFile& results);

// Prints "muxbench: interrupted; ..." with how to continue, or nothing.
void print_interrupted(const ResultsFile& results, const std::string& how_to_continue);

}  // namespace muxbench::harness
