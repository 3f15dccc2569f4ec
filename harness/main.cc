// muxbench: runs suites of (strategy, workload, connections) cells against
// muxbench-server with muxbench-loadgen, records one JSON results file per
// run, and shows it.
//
//   muxbench list
//   muxbench run --suite smoke
//   muxbench run --suite default --strategies epoll,poll --connections 10,1000
//   muxbench show results/20251201-053000-vm-smoke.json
#include <string>
#include <vector>

#include "commands.h"

int main(int argc, char** argv) {
  using namespace muxbench::harness;
  set_command_line(argc, argv);
  CLI::App app{"muxbench: runs benchmark suites against muxbench-server and records the results"};
  app.require_subcommand(1);
  struct Command {
    const char* name;
    const char* help;
    CommandMain (*setup)(CLI::App&);
  };
  // The subcommands, in the order --help lists them.
  const Command commands[] = {
      {"list", "List strategies (from muxbench-server), workloads and built-in suites", setup_list},
      {"run", "Run a suite and record a results file", setup_run},
      {"show", "Print a results file as summary tables", setup_show},
      {"compare", "Compare two results files, or one A/B file; exit 1 on a regression (the CI gate)", setup_compare},
      {"ab", "Run a suite with two builds interleaved (ABBA) into one file, then compare it paired", setup_ab},
      {"trend", "Find change points over results files of successive commits; exit 1 when the newest starts a regression", setup_trend},
      {"export", "Write a results file as github-action-benchmark JSON, Bencher BMF or HdrHistogram .hgrm", setup_export},
      {"serve-cell", "Run one cell's server and report it as JSON lines (used by run, locally or through mpirun)", setup_serve_cell},
      {"host-info", "Print this host's environment and benchmark interface as JSON (used by run --hosts)", setup_host_info},
  };
  std::vector<std::pair<CLI::App*, CommandMain>> mains;
  for (const Command& c : commands) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    mains.emplace_back(sub, c.setup(*sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help or the error
    return rc == 0 ? kExitOk : kExitUsage;
  }
  for (auto& [sub, run] : mains) {
    if (sub->parsed()) return run();
  }
  return kExitUsage;
}
