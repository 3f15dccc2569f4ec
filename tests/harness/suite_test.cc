// Suite validation and planning (linked against the harness library), and
// the quick command-line checks of the real binary: nothing here runs a cell.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>

#include "catalog.h"
#include "harness_fixture.h"
#include "report.h"
#include "suite.h"

namespace muxbench::harness {
namespace {

using test::RunResult;
using test::TempDir;
using test::run_muxbench;

const std::vector<StrategyInfo> kCatalog = {
    {"iterative", "blocking", "", 0, false},
    {"select", "readiness", "", 0, false},
    {"epoll", "readiness", "", 0, false},
};

// The message parse_suite throws for this JSON text ("" if it is valid).
std::string error_of(const std::string& text) {
  try {
    parse_suite(json::parse(text), kCatalog, "t");
  } catch (const SuiteError& e) {
    return e.what();
  }
  return "";
}

TEST(SuiteValidation, NamesTheFieldTheValueAndWhatIsAllowed) {
  EXPECT_EQ(error_of(R"J({"strategies": "all", "workloads": ["pingpong", "idle", "pingpnog"],
                         "connections": [1]})J"),
            "suite.workloads[2]: 'pingpnog' is not a workload; allowed: " + workload_names());
  EXPECT_EQ(error_of(R"J({"strategies": ["epoll", "epol"], "workloads": ["pingpong"],
                         "connections": [1]})J"),
            "suite.strategies[1]: 'epol' is not a strategy of this build; allowed: iterative, "
            "select, epoll");
  EXPECT_EQ(error_of(R"J({"strategies": "some", "workloads": ["pingpong"], "connections": [1]})J"),
            "suite.strategies: 'some' is not \"all\" or a list; allowed: \"all\" or a list of: "
            "iterative, select, epoll");
  EXPECT_EQ(error_of(R"J({"strategies": "all", "workloads": ["pingpong"], "connections": [1, 0]})J"),
            "suite.connections[1]: 0 is out of range; allowed: an integer from 1 to 100000");
  EXPECT_EQ(error_of(R"J({"strategies": "all", "workloads": ["pingpong"], "connections": [10, 10]})J"),
            "suite.connections[1]: 10 appears twice; allowed: each count once");
  EXPECT_EQ(error_of(R"J({"strategies": "all", "workloads": ["pingpong"], "connections": [1],
                         "duration_s": "2"})J"),
            "suite.duration_s: '2' is not a number; allowed: a number of seconds from 0.1 to 3600");
  EXPECT_EQ(error_of(R"J({"strategies": "all", "workloads": ["pingpong"], "connections": [1],
                         "repeat": 2.5})J"),
            "suite.repeat: 2.5 is not an integer; allowed: an integer from 1 to 1000");
}

TEST(SuiteValidation, UnknownKeysAreErrorsAtEveryLevel) {
  EXPECT_EQ(error_of(R"J({"strategies": "all", "workloads": ["pingpong"], "connections": [1],
                         "duraton_s": 2})J")
                .rfind("suite.duraton_s: unknown key; allowed keys: name, description", 0),
            0u);
  EXPECT_EQ(error_of(R"J({"strategies": "all", "workloads": ["idle"], "connections": [1],
                         "workload_params": {"idle": {"actve": 5}}})J")
                .rfind("suite.workload_params.idle.actve: unknown key; allowed keys: connections, active", 0),
            0u);
  EXPECT_EQ(error_of(R"J({"strategies": "all", "workloads": ["idle"], "connections": [1],
                         "placement": {"server_cpu": "0"}})J"),
            "suite.placement.server_cpu: unknown key; allowed keys: server_cpus, loadgen_cpus");
  EXPECT_EQ(error_of(R"J({"strategies": "all", "workloads": ["idle"], "connections": [1],
                         "skip": [{"strategies": ["select"], "reasn": "x"}]})J")
                .rfind("suite.skip[0].reasn: unknown key", 0),
            0u);
}

TEST(SuiteValidation, NestedValues) {
  EXPECT_EQ(error_of(R"J({"strategies": "all", "workloads": ["pingpong"], "connections": [1],
                         "workload_params": {"pingpong": {"rate_per_s": 100}}})J"),
            "suite.workload_params.pingpong.rate_per_s: 100 is not allowed here; allowed: "
            "'rate_per_s' applies only to the open-loop workloads: rate");
  EXPECT_EQ(error_of(R"J({"strategies": "all", "workloads": ["pingpong"], "connections": [1],
                         "workload_params": {"pingpnog": {}}})J"),
            "suite.workload_params.pingpnog: 'pingpnog' is not a workload; allowed: " +
                workload_names());
  EXPECT_EQ(error_of(R"J({"strategies": "all", "workloads": ["bulk"], "connections": [1],
                         "workload_params": {"bulk": {"message_size_bytes": 100000}}})J"),
            "suite.workload_params.bulk.message_size_bytes: 100000 is out of range; allowed: an "
            "integer from 2 to 16384 (bytes per line, '\\n' included)");
  EXPECT_EQ(error_of(R"J({"strategies": "all", "workloads": ["pingpong"], "connections": [1],
                         "skip": [{"strategies": ["select"]}]})J")
                .rfind("suite.skip[0].reason: missing", 0),
            0u);
  EXPECT_EQ(error_of(R"J({"strategies": "all", "workloads": ["pingpong"], "connections": [1],
                         "server_args": {"epoll": ["--port", "1"]}})J"),
            "suite.server_args.epoll[0]: '--port' is set by the harness; allowed: any other server "
            "option, e.g. --threads, --backend");
  EXPECT_EQ(error_of(R"J({"strategies": "all", "workloads": ["pingpong"], "connections": [1],
                         "placement": {"server_cpus": "9999"}})J"),
            "suite.placement.server_cpus: '9999' names CPU 9999; this machine has CPUs 0-" +
                std::to_string(::sysconf(_SC_NPROCESSORS_CONF) - 1));
  EXPECT_EQ(error_of(R"J({"strategies": "all", "workloads": ["pingpong", "idle"],
                         "workload_params": {"pingpong": {"connections": [1]}}})J"),
            "suite.connections: missing; allowed: a list of connection counts, required unless "
            "workload_params.idle.connections is given");
  EXPECT_EQ(error_of(R"J([1, 2])J"),
            "suite: [1,2] is not an object; allowed: a JSON object (docs/results.md, \"Suite files\")");
}

TEST(SuitePlan, InterleavesRepetitionsAndAppliesSkipRules) {
  Suite s = parse_suite(json::parse(R"J({
      "strategies": "all", "workloads": ["pingpong", "idle"], "repeat": 2,
      "workload_params": {"pingpong": {"connections": [1, 2000]}, "idle": {"connections": [50], "active": 100}},
      "skip": [{"strategies": ["select"], "connections_above": 1000, "reason": "{strategy}: {connections} connections exceed FD_SETSIZE (1024)"},
               {"strategies": ["iterative"], "active_above": 1, "reason": "{strategy}: one at a time (by design)"}]})J"),
                        kCatalog, "t");
  auto cells = plan_cells(s, kCatalog, 0);
  ASSERT_EQ(cells.size(), 2u * 2 * 3 + 1u * 2 * 3);
  // A B C A B C: repetitions interleave across strategies.
  std::vector<std::string> first;
  for (int i = 0; i < 6; ++i) first.push_back(cells[i].id);
  EXPECT_EQ(first, (std::vector<std::string>{"iterative/pingpong/c1/r0", "select/pingpong/c1/r0",
                                             "epoll/pingpong/c1/r0", "iterative/pingpong/c1/r1",
                                             "select/pingpong/c1/r1", "epoll/pingpong/c1/r1"}));
  EXPECT_FALSE(cells[0].skip_reason);  // iterative, 1 active
  EXPECT_EQ(cells[6].id, "iterative/pingpong/c2000/r0");
  EXPECT_EQ(cells[6].skip_reason.value_or(""), "iterative: one at a time (by design)");
  EXPECT_EQ(cells[7].skip_reason.value_or(""), "select: 2000 connections exceed FD_SETSIZE (1024)");
  EXPECT_FALSE(cells[8].skip_reason);
  // idle: active is capped at the connection count.
  EXPECT_EQ(cells[12].workload, "idle");
  EXPECT_EQ(cells[12].active, 50);
  // The descriptor limit turns counts it cannot hold into skips.
  auto limited = plan_cells(s, kCatalog, 1024);
  EXPECT_NE(limited[8].skip_reason.value_or("").find("hard limit"), std::string::npos);
}

TEST(SuitePlan, FlagOverridesAreValidatedAndNameTheFlag) {
  Suite s = parse_suite(json::parse(R"J({"strategies": "all", "workloads": ["pingpong"],
                                        "workload_params": {"pingpong": {"connections": [5], "duration_s": 9}}})J"),
                        kCatalog, "t");
  override_connections(s, "1,10");
  override_duration(s, 0.5);
  auto cells = plan_cells(s, kCatalog, 0);
  ASSERT_EQ(cells.size(), 6u);
  EXPECT_EQ(cells[0].connections, 1);
  EXPECT_EQ(cells[0].params.duration_s, 0.5);
  auto err = [&](auto&& f) {
    try {
      f();
    } catch (const SuiteError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(err([&] { override_strategies(s, "epoll,epol", kCatalog); }),
            "--strategies[1]: 'epol' is not a strategy of this build; allowed: iterative, select, epoll");
  EXPECT_EQ(err([&] { override_workloads(s, "pingpong,pingpnog"); }),
            "--workloads[1]: 'pingpnog' is not a workload; allowed: " + workload_names());
  EXPECT_EQ(err([&] { override_connections(s, "1,x"); }),
            "--connections[1]: 'x' is not an integer; allowed: an integer from 1 to 100000");
  EXPECT_EQ(err([&] { override_repeat(s, 0); }),
            "--repeat: 0 is out of range; allowed: an integer from 1 to 1000");
}

TEST(SuitePlan, RecordedSuiteParsesBackToItself) {
  Suite s = parse_suite(json::parse(R"J({"name": "x", "strategies": ["epoll"], "workloads": ["rate", "idle"],
                                        "connections": [3], "placement": {"server_cpus": "0"},
                                        "workload_params": {"rate": {"rate_per_s": 50}},
                                        "server_args": {"epoll": ["--delay-us", "5"]},
                                        "skip": [{"families": ["blocking"], "reason": "no"}]})J"),
                        kCatalog, "t");
  json once = suite_to_json(s);
  json twice = suite_to_json(parse_suite(once, kCatalog, "t"));
  EXPECT_EQ(once, twice);
}

// server_threads: strategies that take --threads run once per count (ids
// with /t<N>, params.server_threads, --threads on the server's command
// line); the others once, as before.
const std::vector<StrategyInfo> kThreadedCatalog = {
    {"epoll", "readiness", "", 0, false},
    {"epoll-reuseport", "readiness", "", 2, true},
    {"libevent-handoff", "libevent", "", 2, true},
};

TEST(SuitePlan, ServerThreadsRunEachThreadedStrategyOncePerCount) {
  Suite s = parse_suite(json::parse(R"J({"strategies": "all", "workloads": ["pingpong"],
                                        "connections": [10], "server_threads": [1, 2]})J"),
                        kThreadedCatalog, "t");
  auto cells = plan_cells(s, kThreadedCatalog, 0);
  std::vector<std::string> ids;
  for (const auto& c : cells) ids.push_back(c.id);
  EXPECT_EQ(ids, (std::vector<std::string>{
                     "epoll/pingpong/c10/r0", "epoll-reuseport/pingpong/c10/t1/r0",
                     "epoll-reuseport/pingpong/c10/t2/r0", "libevent-handoff/pingpong/c10/t1/r0",
                     "libevent-handoff/pingpong/c10/t2/r0"}));
  EXPECT_FALSE(cells[0].params.server_threads);
  EXPECT_EQ(cells[2].params.server_threads.value_or(0), 2);
  EXPECT_EQ(cells[4].family, "libevent");
  // Recorded and parsed back unchanged (--resume).
  json once = suite_to_json(s);
  EXPECT_EQ(once["server_threads"], json::parse("[1, 2]"));
  EXPECT_EQ(suite_to_json(parse_suite(once, kThreadedCatalog, "t")), once);
  // Without server_threads the recorded suite has no such key (older files).
  Suite plain = parse_suite(json::parse(R"J({"strategies": "all", "workloads": ["pingpong"],
                                            "connections": [10]})J"),
                            kThreadedCatalog, "t");
  EXPECT_FALSE(suite_to_json(plain).contains("server_threads"));
}

TEST(SuitePlan, ServerThreadsErrorsNameTheField) {
  auto err = [](const std::string& text) {
    try {
      parse_suite(json::parse(text), kThreadedCatalog, "t");
    } catch (const SuiteError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(err(R"J({"strategies": ["epoll"], "workloads": ["pingpong"], "connections": [1],
                    "server_threads": [2]})J"),
            "suite.server_threads: [2] applies to no strategy of this suite; allowed: a suite with "
            "a strategy that takes --threads (muxbench-server --list-json: takes_threads)");
  EXPECT_EQ(err(R"J({"strategies": "all", "workloads": ["pingpong"], "connections": [1],
                    "server_threads": [1, 0]})J"),
            "suite.server_threads[1]: 0 is out of range; allowed: an integer from 1 to 4096");
  EXPECT_EQ(err(R"J({"strategies": "all", "workloads": ["pingpong"], "connections": [1],
                    "server_threads": [2, 2]})J"),
            "suite.server_threads[1]: 2 appears twice; allowed: each count once");
  EXPECT_EQ(err(R"J({"strategies": "all", "workloads": ["pingpong"], "connections": [1],
                    "server_threads": [2], "server_args": {"epoll-reuseport": ["--threads", "4"]}})J"),
            "suite.server_args.epoll-reuseport: [\"--threads\",\"4\"] sets --threads, which "
            "suite.server_threads sets for every strategy that takes it; allowed: one of the two");
  Suite s = parse_suite(json::parse(R"J({"strategies": "all", "workloads": ["pingpong"],
                                        "connections": [1], "server_threads": [2]})J"),
                        kThreadedCatalog, "t");
  try {
    override_server_args(s, {"--threads=8"});
    ADD_FAILURE() << "--server-arg=--threads=8 accepted with server_threads";
  } catch (const SuiteError& e) {
    EXPECT_EQ(std::string(e.what()),
              "--server-arg: '--threads=8' clashes with the suite's server_threads; allowed: any "
              "other server option, e.g. --server-arg=--delay-us=200");
  }
}

// The default placement pins the server to as many CPUs as its largest
// thread count when the load generator still gets a CPU, else pins nothing.
TEST(SuitePlan, DefaultPlacementLeavesRoomForServerThreads) {
  Suite s = parse_suite(json::parse(R"J({"strategies": "all", "workloads": ["pingpong"],
                                        "connections": [1], "server_threads": [1, 2]})J"),
                        kThreadedCatalog, "t");
  Suite two = s;
  default_placement(two, 2);
  EXPECT_EQ(two.placement.server_cpus, "");
  EXPECT_EQ(two.placement.loadgen_cpus, "");
  Suite eight = s;
  default_placement(eight, 8);
  EXPECT_EQ(eight.placement.server_cpus, "0-1");
  EXPECT_EQ(eight.placement.loadgen_cpus, "2-7");
  Suite three = s;
  default_placement(three, 3);
  EXPECT_EQ(three.placement.loadgen_cpus, "2");
  Suite plain = parse_suite(json::parse(R"J({"strategies": "all", "workloads": ["pingpong"],
                                            "connections": [1]})J"),
                            kThreadedCatalog, "t");
  default_placement(plain, 2);
  EXPECT_EQ(plain.placement.server_cpus, "0");
  EXPECT_EQ(plain.placement.loadgen_cpus, "1");
}

TEST(Report, SeriesNameAddsTheServerThreads) {
  EXPECT_EQ(series_name(json::parse(R"J({"strategy": "epoll", "params": {}})J")), "epoll");
  EXPECT_EQ(series_name(json::parse(
                R"J({"strategy": "epoll-exclusive", "params": {"server_threads": 2}})J")),
            "epoll-exclusive/t2");
}

TEST(Report, Formats) {
  EXPECT_EQ(format_rate(812), "812");
  EXPECT_EQ(format_rate(45123), "45.1k");
  EXPECT_EQ(format_rate(1234567), "1.23M");
  EXPECT_EQ(format_ns(850), "850ns");
  EXPECT_EQ(format_ns(120000), "120µs");
  EXPECT_EQ(format_ns(1200000), "1.20ms");
  EXPECT_EQ(format_bytes(12595), "12.3KiB");
  EXPECT_EQ(format_duration(185), "3m05s");
}

// --- the real binary, no cell run --------------------------------------------

TEST(HarnessCli, BuiltInSuitesValidateAgainstThisServer) {
  std::string err;
  auto catalog = load_strategies(test::bin_dir() + "/muxbench-server", &err);
  ASSERT_TRUE(catalog) << err;
  for (const auto& [name, text] : builtin_suites()) {
    SCOPED_TRACE(name);
    EXPECT_NO_THROW(load_suite(name, *catalog));
  }
  for (const char* name : {"smoke", "default", "c10k", "cores", "ci"}) {
    EXPECT_TRUE(builtin_suites().count(name)) << name;
  }
}

// The gate's suite: every family of this build's strategies, once; and base
// plus new within 8 minutes by ab's own estimate.
TEST(HarnessCli, CiSuiteCoversEveryFamilyAndFitsEightMinutesAB) {
  std::string err;
  auto catalog = load_strategies(test::bin_dir() + "/muxbench-server", &err);
  ASSERT_TRUE(catalog) << err;
  Suite ci = load_suite("ci", *catalog);
  std::set<std::string> families, covered;
  for (const auto& s : *catalog) families.insert(s.family);
  for (const auto& name : ci.strategies) {
    for (const auto& s : *catalog) {
      if (s.name == name) covered.insert(s.family);
    }
  }
  EXPECT_EQ(covered, families);
  const std::string bin = test::bin_dir();
  RunResult r = run_muxbench({"ab", "--base-bin", bin, "--new-bin", bin, "--dry-run"});
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  auto pos = r.out.find("estimated ");
  ASSERT_NE(pos, std::string::npos) << r.out;
  std::string est = r.out.substr(pos + 10);
  int minutes = est.find('m') != std::string::npos ? std::atoi(est.c_str()) : 0;
  EXPECT_LT(minutes, 8) << "ci suite, base and new: " << est;
  EXPECT_NE(r.out.find("suite ci (builtin:ci), A/B"), std::string::npos) << r.out;
}

// ab's plan: every cell on both sides, base first on even repetitions and
// new first on odd ones (ABBA), side-only server flags on their side.
TEST(HarnessCli, AbPlansBothSidesInAbbaOrder) {
  const std::string bin = test::bin_dir();
  RunResult r = run_muxbench({"ab", "--base-bin", bin, "--new-bin", bin, "--suite", "smoke",
                              "--strategies", "epoll,poll", "--workloads", "pingpong",
                              "--connections", "1", "--repeat", "3", "--dry-run"});
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  std::vector<std::string> ids;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string id;
    words >> id;
    if (id.find('/') != std::string::npos) ids.push_back(id);
  }
  const std::vector<std::string> want = {
      "epoll/pingpong/c1/r0/base", "epoll/pingpong/c1/r0/new",  "poll/pingpong/c1/r0/base",
      "poll/pingpong/c1/r0/new",   "epoll/pingpong/c1/r1/new",  "epoll/pingpong/c1/r1/base",
      "poll/pingpong/c1/r1/new",   "poll/pingpong/c1/r1/base",  "epoll/pingpong/c1/r2/base",
      "epoll/pingpong/c1/r2/new",  "poll/pingpong/c1/r2/base",  "poll/pingpong/c1/r2/new"};
  EXPECT_EQ(ids, want) << r.out;
  r = run_muxbench({"ab", "--base-bin", "/nonexistent", "--new-bin", bin, "--dry-run"});
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_NE(r.err.find("--base-bin /nonexistent: /nonexistent/muxbench-server is not there"),
            std::string::npos)
      << r.err;
}

TEST(HarnessCli, BadSuiteFileIsRejectedBeforeAnythingRuns) {
  TempDir dir;
  std::string suite = dir.write("bad.json", R"J({"strategies": "all",
      "workloads": ["pingpong", "idle", "pingpnog"], "connections": [1]})J");
  std::string out = dir.file("out.json");
  RunResult r = run_muxbench({"run", "--suite", suite, "--out", out, "--allow-debug-build"});
  EXPECT_EQ(r.exit_code(), 2) << r.err;
  EXPECT_NE(r.err.find("suite.workloads[2]: 'pingpnog' is not a workload; allowed: " +
                       workload_names()),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(out)) << "a results file was written for an invalid suite";

  std::string unknown = dir.write("unknown.json", R"J({"strategies": "all", "workloads": ["pingpong"],
      "connections": [1], "repeats": 3})J");
  r = run_muxbench({"run", "--suite", unknown, "--out", out, "--allow-debug-build"});
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_NE(r.err.find("suite.repeats: unknown key; allowed keys:"), std::string::npos) << r.err;

  std::string broken = dir.write("broken.json", "{ \"strategies\": ");
  r = run_muxbench({"run", "--suite", broken, "--out", out, "--allow-debug-build"});
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_NE(r.err.find("not valid JSON"), std::string::npos) << r.err;

  r = run_muxbench({"run", "--suite", "nosuchsuite", "--allow-debug-build"});
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_NE(r.err.find("'nosuchsuite' is neither a built-in suite nor a readable file; allowed: c10k, "
                       "ci, cores, default, distributed, network, smoke"),
            std::string::npos)
      << r.err;

  r = run_muxbench({"run", "--suite", "smoke", "--strategies", "epoll,nosuch", "--allow-debug-build"});
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_NE(r.err.find("--strategies[1]: 'nosuch' is not a strategy of this build"), std::string::npos)
      << r.err;
}

TEST(HarnessCli, DryRunListsTheCellsAndTheDefaultSuiteFitsItsBudget) {
  RunResult r = run_muxbench({"run", "--suite", "default", "--dry-run"});
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  // "208 cells: 190 to run, 18 skipped; estimated 11m45s"
  auto pos = r.out.find("estimated ");
  ASSERT_NE(pos, std::string::npos) << r.out;
  std::string est = r.out.substr(pos + 10);
  int minutes = est.find('m') != std::string::npos ? std::atoi(est.c_str()) : 0;
  EXPECT_LT(minutes, 15) << "the default suite's own estimate exceeds 15 minutes: " << est;
  EXPECT_NE(r.out.find("select/pingpong/c10000/r0"), std::string::npos);
  EXPECT_NE(r.out.find("skip: select: 10000 connections exceed FD_SETSIZE (1024)"), std::string::npos);
}

TEST(HarnessCli, ListShowsStrategiesWorkloadsAndSuites) {
  RunResult r = run_muxbench({"list"});
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  for (const char* s : {"epoll", "smoke", "default", "c10k", "cores"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
  }
  for (const auto& w : workloads()) EXPECT_NE(r.out.find(w.name), std::string::npos) << w.name;
  r = run_muxbench({"list", "--json"});
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_GE(j["strategies"].size(), 1u);
  ASSERT_EQ(j["workloads"].size(), workloads().size());
  EXPECT_EQ(j["workloads"][0]["name"], workloads()[0].name);
  EXPECT_GE(j["families"].size(), 1u);
  EXPECT_EQ(j["families"][0]["name"], j["strategies"][0]["family"]);
}

TEST(HarnessCli, RefusesDebugAndSanitizerBuildsUnlessAsked) {
  bool unfit = std::string(MUXBENCH_SANITIZER) != "none" ||
               std::string(MUXBENCH_BUILD_TYPE).empty() ||
               std::string(MUXBENCH_BUILD_TYPE) == "Debug";
  TempDir dir;
  RunResult r = run_muxbench({"run", "--suite", "smoke", "--strategies", "epoll", "--workloads",
                              "pingpong", "--connections", "1", "--duration", "0.2", "--warmup", "0",
                              "--out", dir.file("r.json")});
  if (unfit) {
    EXPECT_EQ(r.exit_code(), 2);
    EXPECT_NE(r.err.find("refusing to record results"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.file("r.json")));
  } else {
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.err.find("refusing"), std::string::npos);
  }
}

// `run --out FILE` never overwrites an existing file unless --force: a
// finished run, an interrupted one (which --resume continues) or any other
// file. Nothing runs and the file is left as it was.
TEST(HarnessCli, AnExistingOutIsRefusedUnlessForced) {
  TempDir dir;
  const std::vector<std::string> one_cell = {"run", "--suite", "smoke", "--strategies", "epoll",
                                             "--workloads", "pingpong", "--connections", "1",
                                             "--duration", "0.2", "--warmup", "0",
                                             "--allow-debug-build", "--out"};
  auto run_into = [&](const std::string& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = one_cell;
    args.push_back(out);
    args.insert(args.end(), extra.begin(), extra.end());
    return run_muxbench(args, std::chrono::seconds(60));
  };
  auto text_of = [](const std::string& path) {
    std::ifstream f(path);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  };
  std::ifstream fixture(test::source_dir() + "/tests/harness/fixtures/results/valid.json");
  json finished = json::parse(fixture);
  const std::string done = dir.write("done.json", finished.dump(1));
  RunResult r = run_into(done);
  EXPECT_EQ(r.exit_code(), 2) << r.err;
  EXPECT_EQ(r.err, "muxbench: --out " + done + ": a finished results file is there (4 cells); "
                   "pass --force to overwrite it, or choose another --out\n");
  EXPECT_EQ(text_of(done), finished.dump(1)) << "the finished file was touched";

  json interrupted = finished;
  interrupted["finished"] = nullptr;
  const std::string partial = dir.write("partial.json", interrupted.dump(1));
  r = run_into(partial);
  EXPECT_EQ(r.exit_code(), 2) << r.err;
  EXPECT_EQ(r.err, "muxbench: --out " + partial + ": an unfinished results file is there (4 "
                   "cells); continue it with --resume " + partial +
                   ", or pass --force to overwrite it\n");

  const std::string notes = dir.write("notes.txt", "my notes\n");
  r = run_into(notes);
  EXPECT_EQ(r.exit_code(), 2) << r.err;
  EXPECT_NE(r.err.find("--out " + notes + ": the file exists (not a readable results file); pass "
                       "--force to overwrite it"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(text_of(notes), "my notes\n");

  // --dry-run writes nothing, so there is nothing to refuse.
  EXPECT_EQ(run_into(done, {"--dry-run"}).exit_code(), 0);
  // --force overwrites (one short cell).
  r = run_into(done, {"--force"});
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  json now = json::parse(text_of(done));
  ASSERT_EQ(now["cells"].size(), 1u);
  EXPECT_EQ(now["cells"][0]["id"], "epoll/pingpong/c1/r0");
}

// Numbers no double holds (1e400), and broken JSON, in a suite or a host file:
// exit 2, one line naming the file, the key and where it is.
TEST(HarnessCli, BadNumbersInSuiteAndHostFilesNameTheFileAndTheKey) {
  TempDir dir;
  std::string suite = dir.write("huge.json", R"J({"strategies": ["epoll"], "workloads": ["rate"],
    "connections": [1],
    "workload_params": {"rate": {"rate_per_s": 1e400}}})J");
  RunResult r = run_muxbench({"run", "--suite", suite, "--dry-run"});
  EXPECT_EQ(r.exit_code(), 2) << r.err;
  EXPECT_EQ(r.err, "muxbench: " + suite +
                       ": suite.workload_params.rate.rate_per_s: 1e400 is out of range; allowed: a "
                       "finite number (at most about 1.8e308); line 3, column 48\n");
  std::string list = dir.write("list.json", R"J({"strategies": ["epoll"], "workloads": ["pingpong"],
    "connections": [1, -1e999]})J");
  r = run_muxbench({"run", "--suite", list, "--dry-run"});
  EXPECT_EQ(r.exit_code(), 2) << r.err;
  EXPECT_NE(r.err.find(list + ": suite.connections[1]: -1e999 is out of range"), std::string::npos)
      << r.err;
  std::string broken = dir.write("broken.json", R"J({"strategies": ["epoll"], "workloads": [)J");
  r = run_muxbench({"run", "--suite", broken, "--dry-run"});
  EXPECT_EQ(r.exit_code(), 2) << r.err;
  EXPECT_NE(r.err.find(broken + ": not valid JSON at line 1, column 41 (in suite.workloads[0])"),
            std::string::npos)
      << r.err;

  std::string hosts = dir.write("hosts.json", R"J({"launcher": {"mpirun": ["mpirun"]},
    "hosts": [{"name": "a", "address": "192.0.2.11", "role": "server"},
              {"name": "b", "address": "192.0.2.12", "role": "loadgen", "slots": 1e400}]})J");
  r = run_muxbench({"run", "--suite", "smoke", "--hosts", hosts, "--dry-run"});
  EXPECT_EQ(r.exit_code(), 2) << r.err;
  EXPECT_NE(r.err.find(hosts + ": hosts[1].slots: 1e400 is out of range"), std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// A bad host file stops `run` before anything runs: one line naming the file
// and the field, exit 2.
TEST(HostFileCli, BadHostFileIsOneLineAndExitTwo) {
  TempDir dir;
  const std::string path = dir.path() + "/hosts.json";
  std::ofstream(path) << R"J({"launcher": {"mpirun": ["mpirun"]},
    "hosts": [{"name": "a", "address": "192.0.2.11", "role": "server"},
              {"name": "b", "address": "192.0.2.12", "role": "loadgen", "slots": "many"}]})J";
  RunResult r = run_muxbench({"run", "--suite", "smoke", "--hosts", path, "--out", dir.path() + "/r.json"});
  EXPECT_EQ(r.exit_code(), 2) << r.err;
  EXPECT_EQ(r.err, "muxbench: " + path +
                       ": hosts[1].slots: 'many' is not an integer; allowed: an integer from 1 to 4096\n");
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/r.json"));
  RunResult missing = run_muxbench({"run", "--hosts", dir.path() + "/nope.json"});
  EXPECT_EQ(missing.exit_code(), 2);
  EXPECT_NE(missing.err.find("nope.json: cannot read the hosts file"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace muxbench::harness
