// muxbench-loadgen under `mpirun --oversubscribe -np N` on this one host,
// against a muxbench-server on 127.0.0.1: the flags split over the ranks, one
// exact report from rank 0 (histograms merged bucket for bucket, checked
// against every raw latency value of every rank), the interleaved open-loop
// schedule, the start skew, a rank killed mid-run, and the same report
// fields for -np 1 as for a standalone run. Skipped, with the reason, when
// the load generator was built without MPI or mpirun is missing.
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "loadgen_fixture.h"
#include "muxbench/histogram.h"

namespace muxbench::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

#define SKIP_WITHOUT_MPI()                                                              \
  do {                                                                                  \
    const std::string why = mpi_missing();                                              \
    if (!why.empty()) GTEST_SKIP() << why;                                              \
  } while (0)

// Why these tests cannot run here, or "".
std::string mpi_missing() {
  if (!MUXBENCH_LOADGEN_MPI) return "muxbench-loadgen was built without MPI (MUXBENCH_MPI)";
  if (::access(MUXBENCH_MPIRUN, X_OK) != 0) {
    return std::string("mpirun not found (") + MUXBENCH_MPIRUN + "): install openmpi-bin";
  }
  return "";
}

// A directory under /tmp, removed with its files when the test ends.
class TempDir {
 public:
  explicit TempDir(const std::string& stem) {
    std::string t = "/tmp/muxbench-mpi-test-" + stem + "-XXXXXX";
    path_ = ::mkdtemp(t.data()) != nullptr ? t : "";
  }
  ~TempDir() {
    if (!path_.empty()) (void)!std::system(("rm -rf '" + path_ + "'").c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The mpirun command line for N ranks of muxbench-loadgen against port.
std::vector<std::string> mpi_argv(int ranks, std::uint16_t port, std::vector<std::string> args) {
  // As root, Open MPI wants both of these (tests run as root in CI).
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  std::vector<std::string> argv = {MUXBENCH_MPIRUN, "--oversubscribe", "-np",
                                   std::to_string(ranks)};
  for (const std::string& a : loadgen_argv(port, {"--quiet"})) argv.push_back(a);
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

LoadgenRun run_mpi(int ranks, std::uint16_t port, std::vector<std::string> args) {
  Process p(mpi_argv(ranks, port, std::move(args)));
  return collect(p, 60s);
}

std::vector<std::uint64_t> read_values(const std::string& path) {
  std::vector<std::uint64_t> v;
  std::ifstream f(path);
  std::uint64_t x = 0;
  while (f >> x) v.push_back(x);
  return v;
}

std::uint64_t u64(const json& j) { return j.get<std::uint64_t>(); }

// Every key path of a JSON document ("a.b[].c"), values ignored; the
// elements of an array share one path.
void key_paths(const json& j, const std::string& at, std::set<std::string>* out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      out->insert(at + "." + k);
      key_paths(v, at + "." + k, out);
    }
  } else if (j.is_array()) {
    for (const auto& v : j) key_paths(v, at + "[]", out);
  }
}

// True while pid is a live process (not gone, not a zombie).
bool alive(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(f, stat)) return false;
  auto rp = stat.rfind(')');
  return rp != std::string::npos && rp + 2 < stat.size() && stat[rp + 2] != 'Z';
}

TEST(LoadgenMpi, HistogramsMergeExactlyOverThreeRanks) {
  SKIP_WITHOUT_MPI();
  Server server("epoll");
  ASSERT_TRUE(server.ok());
  TempDir dump("merge");
  ASSERT_FALSE(dump.path().empty());
  auto run = run_mpi(3, server.port(),
                     {"--connections", "6", "--warmup", "0.2", "--duration", "1",
                      "--interval", "0.5", "--dump-latencies", dump.path()});
  ASSERT_REPORT(run);
  const json& r = run.report;
  EXPECT_EQ(run.exit_code, 0) << run.stderr_text;
  EXPECT_EQ(r["status"], "ok") << r["failure_reason"];
  EXPECT_EQ(r["mpi"]["used"], true);
  EXPECT_EQ(r["mpi"]["ranks"], 3);
  ASSERT_EQ(r["ranks"].size(), 3u);

  // Every raw value of every rank into one histogram: the report must be it.
  Histogram expect;
  std::uint64_t ranks_completed = 0;
  for (int k = 0; k < 3; ++k) {
    const auto values = read_values(dump.path() + "/latency-rank" + std::to_string(k) + ".txt");
    EXPECT_EQ(values.size(), u64(r["ranks"][k]["completed"])) << "rank " << k;
    EXPECT_GT(values.size(), 0u) << "rank " << k;
    for (std::uint64_t v : values) expect.record(v);
    ranks_completed += u64(r["ranks"][k]["completed"]);
  }
  const json& lat = r["latency"];
  EXPECT_EQ(u64(r["requests"]["completed"]), ranks_completed);
  EXPECT_EQ(u64(lat["count"]), expect.count());
  EXPECT_EQ(u64(lat["count"]), ranks_completed);
  EXPECT_EQ(u64(lat["min_ns"]), expect.min());
  EXPECT_EQ(u64(lat["max_ns"]), expect.max());
  EXPECT_EQ(lat["mean_ns"].get<double>(), expect.mean());
  EXPECT_EQ(u64(lat["p50_ns"]), expect.percentile(50));
  EXPECT_EQ(u64(lat["p90_ns"]), expect.percentile(90));
  EXPECT_EQ(u64(lat["p99_ns"]), expect.percentile(99));
  EXPECT_EQ(u64(lat["p999_ns"]), expect.percentile(99.9));
  EXPECT_EQ(u64(lat["p9999_ns"]), expect.percentile(99.99));
  json buckets = json::array();
  expect.for_each_bucket([&](std::size_t i, std::uint64_t n) {
    buckets.push_back({Histogram::bucket_highest(i), n});
  });
  EXPECT_EQ(lat["histogram"]["buckets"], buckets);
  EXPECT_EQ(r["verification"]["verified_replies"], ranks_completed);
  EXPECT_EQ(r["errors"]["total"], 0);

  // Counters add up; the time series too (per interval index).
  std::uint64_t window = 0;
  for (const json& k : r["ranks"]) window += u64(k["completed_in_window"]);
  EXPECT_EQ(u64(r["requests"]["completed_in_window"]), window);
  std::uint64_t series = 0;
  for (const json& e : r["timeseries"]) {
    if (e["phase"] == "measure") series += u64(e["requests"]);
  }
  EXPECT_EQ(series, window);
  EXPECT_EQ(r["client"]["per_thread"].size(), 3u);
}

TEST(LoadgenMpi, FlagsAreTotalsSplitOverTheRanks) {
  SKIP_WITHOUT_MPI();
  Server server("epoll");
  ASSERT_TRUE(server.ok());
  auto run = run_mpi(3, server.port(),
                     {"--connections", "10", "--active", "7", "--rate", "600", "--warmup", "0",
                      "--duration", "0.5"});
  ASSERT_REPORT(run);
  const json& r = run.report;
  EXPECT_EQ(run.exit_code, 0) << run.stderr_text;
  EXPECT_EQ(r["config"]["connections"], 10);
  EXPECT_EQ(r["config"]["active"], 7);
  EXPECT_EQ(r["config"]["rate_per_s"], 600.0);
  EXPECT_EQ(r["connections"]["total"], 10);
  ASSERT_EQ(r["ranks"].size(), 3u);
  const std::vector<int> conns = {4, 3, 3}, active = {3, 2, 2};
  double rate = 0;
  std::set<long> pids;
  for (int k = 0; k < 3; ++k) {
    const json& e = r["ranks"][k];
    EXPECT_EQ(e["rank"], k);
    EXPECT_EQ(e["connections"], conns[k]) << e;
    EXPECT_EQ(e["active"], active[k]) << e;
    // The rate is split evenly (R/N each, interleaved at 1/R): nothing lost.
    EXPECT_DOUBLE_EQ(e["rate_per_s"].get<double>(), 200.0) << e;
    rate += e["rate_per_s"].get<double>();
    EXPECT_FALSE(e["host"].get<std::string>().empty());
    pids.insert(e["pid"].get<long>());
  }
  EXPECT_DOUBLE_EQ(rate, 600.0);
  EXPECT_EQ(pids.size(), 3u);
  EXPECT_EQ(r["connect"]["established"], 10);
}

TEST(LoadgenMpi, OpenLoopRateIsMetAndTheStartSkewIsSmall) {
  SKIP_WITHOUT_MPI();
  Server server("epoll");
  ASSERT_TRUE(server.ok());
  const double rate = 3000;
  auto run = run_mpi(3, server.port(),
                     {"--connections", "6", "--rate", "3000", "--warmup", "0.2", "--duration",
                      "2"});
  ASSERT_REPORT(run);
  const json& r = run.report;
  EXPECT_EQ(run.exit_code, 0) << run.stderr_text;
  EXPECT_EQ(r["status"], "ok");
  EXPECT_NEAR(r["rate"]["achieved_per_s"].get<double>(), rate, rate * 0.02) << r["rate"];
  // Every due request has a latency (censored ones included), and the
  // ranks' schedule counters add up to the job's.
  EXPECT_EQ(u64(r["rate"]["due"]), 6000u);
  EXPECT_EQ(u64(r["latency"]["count"]), u64(r["rate"]["due"]));
  EXPECT_EQ(u64(r["latency"]["count"]),
            u64(r["requests"]["completed"]) + u64(r["requests"]["censored"]));
  EXPECT_EQ(u64(r["latency"]["count"]), bucket_total(r["latency"]));
  EXPECT_EQ(u64(r["requests"]["completed"]), u64(r["requests"]["sent"]));
  // The ranks interleave: each sent its third (2 %: a rank that fell behind
  // on this busy 2-core box leaves a few due requests unsent at the end).
  std::uint64_t due = 0, missed = 0, censored = 0;
  for (const json& e : r["ranks"]) {
    EXPECT_NEAR(e["completed"].get<double>(), rate * 2 / 3, rate * 2 / 3 * 0.02) << e;
    EXPECT_EQ(u64(e["due"]), 2000u) << e;
    due += u64(e["due"]);
    missed += u64(e["missed"]);
    censored += u64(e["censored"]);
  }
  EXPECT_EQ(due, u64(r["rate"]["due"]));
  EXPECT_EQ(missed, u64(r["rate"]["missed"]));
  EXPECT_EQ(censored, u64(r["rate"]["censored"]));
  ASSERT_FALSE(r["start_skew_ns"].is_null());
  // Typically well under 1 ms; a rank woken late on a loaded runner can add
  // a few. What must hold is that the ranks start together on the scale of
  // the warm-up, not within one scheduler's luck.
  EXPECT_LT(u64(r["start_skew_ns"]), 50'000'000u);
}

// Open MPI ends the job when a rank dies: mpirun exits non-zero, the others
// get SIGTERM, and rank 0 (if it gets the chance) says so in its report.
TEST(LoadgenMpi, ADeadRankFailsTheRunAndLeavesNoProcess) {
  SKIP_WITHOUT_MPI();
  Server server("epoll");
  ASSERT_TRUE(server.ok());
  TempDir dump("dead");
  ASSERT_FALSE(dump.path().empty());
  Process p(mpi_argv(3, server.port(),
                     {"--connections", "6", "--warmup", "0.2", "--duration", "20",
                      "--dump-latencies", dump.path()}));
  std::vector<pid_t> pids(3, 0);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline &&
         std::count(pids.begin(), pids.end(), 0) > 0) {
    for (int k = 0; k < 3; ++k) {
      std::ifstream f(dump.path() + "/pid-rank" + std::to_string(k) + ".txt");
      pid_t pid = 0;
      if (f >> pid) pids[k] = pid;
    }
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(std::count(pids.begin(), pids.end(), 0), 0) << "the ranks did not start";
  std::this_thread::sleep_for(1500ms);  // into the measurement
  ASSERT_EQ(::kill(pids[1], SIGKILL), 0);
  auto run = collect(p, 30s);
  EXPECT_NE(run.exit_code, 0) << run.stderr_text;
  if (!run.report.is_null()) {
    EXPECT_EQ(run.report["status"], "failed");
    EXPECT_FALSE(run.report["failure_reason"].is_null());
  }
  // Nothing of this mpirun is left: no rank, and nothing in its group.
  std::this_thread::sleep_for(500ms);
  for (pid_t pid : pids) EXPECT_FALSE(alive(pid)) << "rank pid " << pid << " still running";
  for (pid_t pid : group_members(p.pid())) {
    EXPECT_FALSE(alive(pid)) << "pid " << pid << " of mpirun's process group still running";
  }
}

TEST(LoadgenMpi, OneRankReportHasTheFieldsOfAStandaloneRun) {
  SKIP_WITHOUT_MPI();
  Server server("epoll");
  ASSERT_TRUE(server.ok());
  const std::vector<std::string> args = {"--connections", "2", "--rate", "200", "--warmup",
                                         "0.1", "--duration", "0.4", "--interval", "0.2"};
  auto mpi = run_mpi(1, server.port(), args);
  std::vector<std::string> standalone_args = args;
  standalone_args.push_back("--quiet");
  auto alone = run_loadgen(server.port(), standalone_args);
  ASSERT_REPORT(mpi);
  ASSERT_REPORT(alone);
  EXPECT_EQ(mpi.exit_code, 0) << mpi.stderr_text;
  EXPECT_EQ(alone.exit_code, 0) << alone.stderr_text;
  EXPECT_EQ(mpi.report["mpi"]["used"], true);
  EXPECT_EQ(alone.report["mpi"]["used"], false);
  std::set<std::string> a, b;
  key_paths(mpi.report, "", &a);
  key_paths(alone.report, "", &b);
  EXPECT_EQ(a, b);
  EXPECT_EQ(mpi.report["ranks"].size(), 1u);
  EXPECT_EQ(alone.report["ranks"].size(), 1u);
}

}  // namespace
}  // namespace muxbench::test
