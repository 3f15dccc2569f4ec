// End-to-end runs of the real binaries (label `slow`): the smoke suite, an
// interrupted run resumed, strategies that hang or crash, a load generator
// that hangs or writes garbage. After every run, no process it started may
// be left.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "harness_fixture.h"

namespace muxbench::test {
namespace {

using namespace std::chrono_literals;

// Debug and sanitizer builds run the tests too; the harness would refuse to
// record results from them.
const std::string kAllow = "--allow-debug-build";

std::set<std::string> as_set(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

const json* find_cell(const json& doc, const std::string& id) {
  for (const auto& c : doc["cells"]) {
    if (c["id"] == id) return &c;
  }
  return nullptr;
}

TEST(HarnessRun, SmokeSuiteEndToEnd) {
  TempDir dir;
  std::string out = dir.file("smoke.json");
  auto t0 = std::chrono::steady_clock::now();
  RunResult r = run_muxbench({"run", "--suite", "smoke", "--out", out, kAllow}, 300s);
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  json doc = read_json(out);
  EXPECT_EQ(schema_errors(out), "");
  EXPECT_TRUE(doc["finished"].is_string());
  // Every planned cell is recorded, once.
  auto planned = planned_ids({"--suite", "smoke"});
  ASSERT_FALSE(planned.empty());
  EXPECT_EQ(recorded_ids(doc), planned);
  // Every strategy of this build took part, and none failed.
  std::set<std::string> strategies;
  for (const auto& c : doc["cells"]) {
    strategies.insert(c["strategy"].get<std::string>());
    EXPECT_NE(c["status"], "failed") << c["id"] << ": " << c["reason"];
    if (c["status"] == "ok") {
      EXPECT_GT(c["metrics"]["requests_per_s"].get<double>(), 0) << c["id"];
      EXPECT_GT(c["metrics"]["server_rss_peak_bytes"].get<double>(), 0) << c["id"];
      EXPECT_GE(c["metrics"]["server_processes_max"].get<int>(), 1) << c["id"];
      EXPECT_TRUE(c["server"]["stats"].is_object()) << c["id"];
      EXPECT_EQ(c["server"]["exit"], "exited 0") << c["id"];
    }
  }
  EXPECT_EQ(strategies, as_set(doc["suite"]["strategies"].get<std::vector<std::string>>()));
  EXPECT_EQ(survivors(doc), "");
  // The end-of-run summary and `muxbench show` print the same tables.
  RunResult show = run_muxbench({"show", out});
  ASSERT_EQ(show.exit_code(), 0) << show.err;
  for (const char* w : {"pingpong:", "idle:", "churn:", "bulk:", "rate:"}) {
    EXPECT_NE(show.out.find(w), std::string::npos) << w;
    EXPECT_NE(r.out.find(w), std::string::npos) << w;
  }
  auto tables = show.out.substr(show.out.find("\npingpong:"));
  EXPECT_NE(r.out.find(tables.substr(0, tables.find("\nresults:"))), std::string::npos);
  if (std::string(MUXBENCH_SANITIZER) == "none" && std::string(MUXBENCH_BUILD_TYPE) != "Debug") {
    EXPECT_LT(elapsed, 90) << "the smoke suite must stay under 90 s on a 2-core machine";
  }
  std::printf("smoke suite: %zu cells in %.1f s\n", doc["cells"].size(), elapsed);
}

TEST(HarnessRun, InterruptedRunResumesToTheSameCells) {
  TempDir dir;
  std::string out = dir.file("r.json");
  const std::vector<std::string> suite = {"--suite", "smoke", "--strategies", "epoll,thread",
                                          "--workloads", "pingpong,churn", "--duration", "0.3",
                                          "--warmup", "0.1"};
  std::vector<std::string> argv = {bin_dir() + "/muxbench", "run", "--out", out, kAllow};
  argv.insert(argv.end(), suite.begin(), suite.end());
  {
    Process p(argv);
    // Interrupt once two cells are recorded (mid-way through the third).
    ASSERT_TRUE(wait_for_cells(out, 2, 60s)) << "no cell recorded in time";
    std::this_thread::sleep_for(300ms);
    // The interrupted cell's processes (its serve-cell agent, server and
    // load generator) are recorded nowhere: note them now.
    const std::vector<pid_t> cell_processes = descendants(p.pid());
    EXPECT_GE(cell_processes.size(), 2u) << "the third cell was not running when interrupted";
    p.signal(SIGINT);
    int st = p.wait(20s);
    ASSERT_NE(st, -1) << "muxbench did not stop on SIGINT";
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 130) << p.stderr_text();
    EXPECT_NE(p.stderr_text().find("muxbench run --resume " + out), std::string::npos);
    for (pid_t pid : cell_processes) {
      EXPECT_FALSE(alive(pid)) << "process " << pid << " of the interrupted cell survived SIGINT";
    }
  }
  json partial = read_json(out);
  EXPECT_EQ(schema_errors(out), "");
  EXPECT_TRUE(partial["finished"].is_null());
  EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
  EXPECT_EQ(survivors(partial), "");
  auto planned = planned_ids(suite);
  ASSERT_EQ(planned.size(), 6u);
  auto before = recorded_ids(partial);
  EXPECT_GE(before.size(), 2u);
  EXPECT_LT(before.size(), planned.size());

  // A different suite is refused; the recorded one continues.
  RunResult bad = run_muxbench({"run", "--resume", out, "--repeat", "2", kAllow});
  EXPECT_EQ(bad.exit_code(), 2);
  EXPECT_NE(bad.err.find("repeat: 1 in the results file, 2 now"), std::string::npos) << bad.err;

  RunResult r = run_muxbench({"run", "--resume", out, kAllow}, 120s);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  json done = read_json(out);
  EXPECT_EQ(schema_errors(out), "");
  EXPECT_EQ(recorded_ids(done), planned);  // the same cells, each once, in plan order
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(done["cells"][i], partial["cells"][i]) << "a recorded cell changed on resume";
  }
  EXPECT_TRUE(done["finished"].is_string());
  EXPECT_EQ(done["resumed"].size(), 1u);
  EXPECT_EQ(survivors(done), "");
}

TEST(HarnessRun, HangingAndCrashingStrategiesAreRecordedAndTheSweepGoesOn) {
  TempDir dir;
  // iterative with 4 busy connections serves one and leaves three hanging;
  // epoll and fork are told to crash after 200 lines (fork's children are
  // orphaned: they must not survive the cell); thread runs normally after.
  std::string suite = dir.write("s.json", R"({
      "name": "faults", "strategies": ["iterative", "epoll", "fork", "thread"],
      "workloads": ["pingpong"], "connections": [4], "duration_s": 0.5, "warmup_s": 0.1,
      "pause_s": 0.1, "server_args": {"epoll": ["--crash-after", "200"],
                                      "fork": ["--crash-after", "200"]}})");
  std::string out = dir.file("r.json");
  RunResult r = run_muxbench({"run", "--suite", suite, "--out", out, kAllow}, 120s);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  json doc = read_json(out);
  EXPECT_EQ(schema_errors(out), "");
  ASSERT_EQ(doc["cells"].size(), 4u);
  const json* hung = find_cell(doc, "iterative/pingpong/c4/r0");
  const json* crashed = find_cell(doc, "epoll/pingpong/c4/r0");
  const json* fine = find_cell(doc, "thread/pingpong/c4/r0");
  ASSERT_TRUE(hung && crashed && fine);
  EXPECT_EQ((*hung)["status"], "failed");
  EXPECT_EQ((*hung)["reason"].get<std::string>().rfind("hung: ", 0), 0u) << (*hung)["reason"];
  EXPECT_EQ((*crashed)["status"], "failed");
  EXPECT_EQ((*crashed)["reason"].get<std::string>().rfind("crashed: ", 0), 0u) << (*crashed)["reason"];
  EXPECT_EQ((*crashed)["server"]["exit"].get<std::string>().rfind("signal 9", 0), 0u);
  EXPECT_NE((*crashed)["server"]["stderr_tail"].get<std::string>().find("--crash-after"),
            std::string::npos);
  const json* forked = find_cell(doc, "fork/pingpong/c4/r0");
  ASSERT_TRUE(forked);
  EXPECT_EQ((*forked)["status"], "failed");
  EXPECT_EQ((*forked)["reason"].get<std::string>().rfind("crashed: ", 0), 0u) << (*forked)["reason"];
  EXPECT_EQ((*fine)["status"], "ok") << (*fine)["reason"];
  EXPECT_EQ(survivors(doc), "");
  // The summary marks them.
  EXPECT_NE(r.out.find("FAILED"), std::string::npos);
  EXPECT_NE(r.out.find("epoll/pingpong/c4/r0: crashed"), std::string::npos) << r.out;
}

TEST(HarnessRun, ForkedChildrenOfAServerDoNotOutliveTheCell) {
  TempDir dir;
  // fork with --delay-us: children are busy in their sleep when the cell ends.
  std::string suite = dir.write("s.json", R"({
      "name": "fork", "strategies": ["fork"], "workloads": ["idle"], "connections": [40],
      "duration_s": 0.3, "warmup_s": 0.1, "workload_params": {"idle": {"active": 4}},
      "server_args": {"fork": ["--delay-us", "20000"]}})");
  std::string out = dir.file("r.json");
  RunResult r = run_muxbench({"run", "--suite", suite, "--out", out, kAllow}, 120s);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  json doc = read_json(out);
  ASSERT_EQ(doc["cells"].size(), 1u);
  const json& c = doc["cells"][0];
  EXPECT_EQ(c["status"], "ok") << c["reason"];
  EXPECT_GE(c["metrics"]["server_processes_max"].get<int>(), 41);  // the server and 40 children
  EXPECT_EQ(survivors(doc), "");
}

class FakeLoadgen : public ::testing::Test {
 protected:
  // A bin dir with the real server and the fake load generator.
  void SetUp() override {
    std::filesystem::create_symlink(bin_dir() + "/muxbench-server", dir_.file("muxbench-server"));
    std::filesystem::create_symlink(source_dir() + "/tests/harness/fake_loadgen.py",
                                    dir_.file("muxbench-loadgen"));
  }
  void TearDown() override { ::unsetenv("FAKE_LOADGEN_MODE"); }

  json run(const std::string& mode) {
    ::setenv("FAKE_LOADGEN_MODE", mode.c_str(), 1);
    std::string out = dir_.file(mode + ".json");
    RunResult r = run_muxbench({"run", "--suite", "smoke", "--strategies", "epoll", "--workloads",
                                "pingpong", "--connections", "2", "--duration", "0.3", "--warmup",
                                "0", "--bin-dir", dir_.path(), "--out", out, kAllow},
                               120s);
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(schema_errors(out), "");
    return read_json(out);
  }

  TempDir dir_;
};

TEST_F(FakeLoadgen, AHangingLoadGeneratorIsKilledAtItsTimeout) {
  auto t0 = std::chrono::steady_clock::now();
  json doc = run("hang");
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(doc["cells"].size(), 1u);
  const json& c = doc["cells"][0];
  EXPECT_EQ(c["status"], "failed");
  EXPECT_EQ(c["reason"].get<std::string>().rfind("timed out: ", 0), 0u) << c["reason"];
  EXPECT_FALSE(c.contains("launch_retry")) << "a local run is never retried";
  EXPECT_LT(elapsed, 30);
  EXPECT_EQ(survivors(doc), "");
}

TEST_F(FakeLoadgen, UnreadableOrFailedReportsFailTheCell) {
  json garbage = run("garbage");
  EXPECT_EQ(garbage["cells"][0]["status"], "failed");
  EXPECT_NE(garbage["cells"][0]["reason"].get<std::string>().find("unreadable JSON"), std::string::npos)
      << garbage["cells"][0]["reason"];
  json failed = run("failed");
  EXPECT_EQ(failed["cells"][0]["status"], "failed");
  EXPECT_NE(failed["cells"][0]["reason"].get<std::string>().find("fake failure"), std::string::npos)
      << failed["cells"][0]["reason"];
}

// A distributed run whose launch hangs (mpirun never brings the load
// generator to the server: past its timeout, nothing accepted) runs that
// cell once more and keeps the first attempt in launch_retry; a second hang
// is recorded as the failure it is, and the sweep goes on. fake_mpirun.py
// stands in for mpirun (every host is this machine); the fake load
// generator hangs on its 1st, 3rd and 4th run.
TEST_F(FakeLoadgen, AHungLaunchIsRunOnceMoreAndTheFirstAttemptKept) {
  const std::string hosts = dir_.write("hosts.json", R"J({"launcher": {"mpirun": [")J" + source_dir() +
                                                         R"J(/tests/harness/fake_mpirun.py"]},
    "hosts": [{"name": "s", "address": "127.0.0.1", "role": "server"},
              {"name": "l", "address": "127.0.0.1", "role": "loadgen"}]})J");
  ::setenv("FAKE_LOADGEN_MODE", "hang,ok,hang,hang,ok", 1);
  ::setenv("FAKE_LOADGEN_STATE", dir_.file("runs").c_str(), 1);
  const std::string out = dir_.file("r.json");
  RunResult r = run_muxbench({"run", "--suite", "smoke", "--strategies", "epoll", "--workloads",
                              "pingpong", "--connections", "2,3", "--duration", "0.3", "--warmup",
                              "0", "--bin-dir", dir_.path(), "--hosts", hosts, "--out", out, kAllow},
                             300s);
  ::unsetenv("FAKE_LOADGEN_STATE");
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(schema_errors(out), "");
  json doc = read_json(out);
  ASSERT_EQ(doc["cells"].size(), 2u);
  const json& retried = doc["cells"][0];
  const json& failed = doc["cells"][1];
  EXPECT_EQ(retried["status"], "ok") << retried["reason"];
  EXPECT_EQ(failed["status"], "failed");
  for (const json* c : {&retried, &failed}) {
    ASSERT_TRUE(c->contains("launch_retry")) << (*c)["id"];
    const std::string first = (*c)["launch_retry"]["reason"].get<std::string>();
    EXPECT_EQ(first.rfind("timed out: ", 0), 0u) << first;
    EXPECT_NE(first.find("the load generator never reached it"), std::string::npos) << first;
    EXPECT_GT((*c)["launch_retry"]["elapsed_s"].get<double>(), 30);
  }
  EXPECT_NE(failed["reason"].get<std::string>().find("never reached it"), std::string::npos)
      << failed["reason"];
  EXPECT_NE(r.err.find("epoll/pingpong/c2/r0: the launch hung (timed out: "), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("running the cell once more"), std::string::npos) << r.err;
  EXPECT_EQ(survivors(doc), "");
}

// A report that is JSON but not what the contract says (not an object, a
// status that is not one, a field of the wrong type) fails that cell, naming
// the field; the sweep goes on to the next cell.
TEST_F(FakeLoadgen, AnInvalidReportFailsItsCellOnlyNamingTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {"not-object", "an invalid report: report: [] is not an object"},
      {"bad-status", "an invalid report: report.status: 1 is not a status; allowed: ok, failed"},
      {"bad-field", "an invalid report: report.client.client_saturated: 'yes' is not true or false"}};
  for (const auto& [mode, reason] : cases) {
    ::setenv("FAKE_LOADGEN_MODE", (std::string(mode) + ",ok").c_str(), 1);
    ::setenv("FAKE_LOADGEN_STATE", dir_.file(std::string(mode) + ".runs").c_str(), 1);
    std::string out = dir_.file(std::string(mode) + ".json");
    RunResult r = run_muxbench({"run", "--suite", "smoke", "--strategies", "epoll", "--workloads",
                                "pingpong", "--connections", "2,3", "--duration", "0.3", "--warmup",
                                "0", "--bin-dir", dir_.path(), "--out", out, kAllow},
                               120s);
    ::unsetenv("FAKE_LOADGEN_STATE");
    ASSERT_EQ(r.exit_code(), 0) << mode << ": " << r.err;
    EXPECT_EQ(schema_errors(out), "") << mode;
    json doc = read_json(out);
    ASSERT_EQ(doc["cells"].size(), 2u) << mode;
    const json& bad = doc["cells"][0];
    EXPECT_EQ(bad["status"], "failed") << mode;
    EXPECT_EQ(bad["reason"].get<std::string>().rfind("load generator failed: exited 0, ", 0), 0u)
        << bad["reason"];
    EXPECT_NE(bad["reason"].get<std::string>().find(reason), std::string::npos) << bad["reason"];
    EXPECT_TRUE(bad["loadgen"].is_null()) << mode << ": an invalid report is not recorded";
    EXPECT_EQ(doc["cells"][1]["status"], "ok") << mode << ": " << doc["cells"][1]["reason"];
    EXPECT_TRUE(doc["finished"].is_string()) << mode;
    EXPECT_EQ(survivors(doc), "");
  }
}

TEST(HarnessRun, PlacementPinsAndIsRecorded) {
  if (::sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "needs 2 CPUs";
  TempDir dir;
  std::string out = dir.file("r.json");
  RunResult r = run_muxbench({"run", "--suite", "smoke", "--strategies", "epoll", "--workloads",
                              "pingpong", "--connections", "1", "--duration", "0.2", "--warmup", "0",
                              "--cpu-server", "0", "--cpu-loadgen", "1", "--out", out, kAllow});
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  json doc = read_json(out);
  const json& c = doc["cells"][0];
  EXPECT_EQ(c["status"], "ok") << c["reason"];
  EXPECT_EQ(c["placement"]["server_cpus"], "0");
  EXPECT_EQ(c["placement"]["loadgen_cpus"], "1");
  EXPECT_EQ(doc["suite"]["placement"]["server_cpus"], "0");
  EXPECT_EQ(c["loadgen"]["config"]["cpus"], "1");
}

// Without a placement, on 2+ CPUs, the server gets CPU 0 and the load
// generator the others, and the results say so.
TEST(HarnessRun, DefaultPlacementPinsAndIsRecorded) {
  if (::sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "needs 2 CPUs";
  TempDir dir;
  RunResult r = run_muxbench({"run", "--suite", "smoke", "--strategies", "epoll", "--workloads",
                              "pingpong", "--connections", "1", "--duration", "0.2", "--warmup", "0",
                              "--out", dir.file("r.json"), kAllow});
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  json doc = read_json(dir.file("r.json"));
  EXPECT_EQ(doc["suite"]["placement"]["server_cpus"], "0");
  EXPECT_NE(doc["suite"]["placement"]["loadgen_cpus"], nullptr);
  EXPECT_EQ(doc["cells"][0]["placement"]["server_cpus"], "0");
  RunResult u = run_muxbench({"run", "--suite", "smoke", "--strategies", "epoll", "--workloads",
                              "pingpong", "--connections", "1", "--duration", "0.2", "--warmup", "0",
                              "--unpinned", "--out", dir.file("u.json"), kAllow});
  ASSERT_EQ(u.exit_code(), 0) << u.err;
  EXPECT_EQ(read_json(dir.file("u.json"))["suite"]["placement"]["server_cpus"], nullptr);
}

// Which side limited a cell: a server slowed by --delay-us (a spin below
// 200 µs per line, 32 connections always waiting, so that a client slowed
// by a loaded machine still leaves it a queue) is the bound side; a
// server that spins by design (busypoll) is too; the load generator is not.
TEST(HarnessRun, ASlowedServerIsServerBound) {
  if (::sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "needs 2 CPUs";
  TempDir dir;
  RunResult r = run_muxbench({"run", "--suite", "smoke", "--strategies", "epoll", "--workloads",
                              "pingpong", "--connections", "32", "--duration", "1", "--warmup", "0.3",
                              "--server-arg=--delay-us=190", "--out", dir.file("r.json"), kAllow});
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  const json c = read_json(dir.file("r.json"))["cells"][0];
  ASSERT_EQ(c["status"], "ok") << c["reason"];
  const json& m = c["metrics"];
  EXPECT_TRUE(m["bound"] == "server-bound" || m["bound"] == "both") << m.dump();
  EXPECT_GT(m["server_busy_fraction"].get<double>(), m["client_busy_fraction"].get<double>()) << m.dump();
  EXPECT_NE(r.out.find("which side limited the ok cells"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace muxbench::test
