// muxbench compare end to end (label `slow`): the same tiny suite run three
// times against the real server, once with a fixed delay injected per reply
// (`--server-arg=--delay-us=200`). The gate must fail on the delayed run,
// naming the cell and the metric, and pass on two plain runs.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness_fixture.h"

namespace muxbench::test {
namespace {

using namespace std::chrono_literals;

// epoll, pingpong, 4 connections, 4 repetitions of 0.5 s: about 6 s a run.
// 4 vs 4 repetitions give p = 1/70 at best: enough for Holm over 1 or 2 tests.
const std::vector<std::string> kTinySuite = {
    "run",      "--suite",       "smoke", "--strategies",       "epoll", "--workloads",
    "pingpong", "--connections", "4",     "--repeat",           "4",     "--duration",
    "0.5",      "--warmup",      "0.2",   "--allow-debug-build"};

std::string tiny_run(const TempDir& dir, const std::string& name,
                     const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = kTinySuite;
  args.push_back("--out");
  args.push_back(dir.file(name));
  args.insert(args.end(), extra.begin(), extra.end());
  RunResult r = run_muxbench(args, 120s);
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  return dir.file(name);
}

TEST(CompareEndToEnd, InjectedDelayIsCaughtAndPlainRunsPass) {
  TempDir dir;
  const std::string a = tiny_run(dir, "plain-a.json");
  const std::string b = tiny_run(dir, "plain-b.json");
  const std::string d = tiny_run(dir, "delayed.json", {"--server-arg=--delay-us=200"});
  if (HasFailure()) return;

  // The delay is recorded with the cells, and does not stop them matching.
  json delayed = read_json(d);
  ASSERT_EQ(delayed["cells"].size(), 4u);
  for (const auto& c : delayed["cells"]) {
    EXPECT_EQ(c["status"], "ok") << c["id"] << ": " << c["reason"];
    EXPECT_EQ(c["params"]["server_args"], json::array({"--delay-us=200"}));
  }
  EXPECT_EQ(schema_errors(d), "");

  // 200 µs per reply against a loopback round trip of tens of µs: throughput
  // falls by far more than half. Caught at the default threshold and alpha ...
  RunResult slow =
      run_muxbench({"compare", a, d, "--metric", "throughput", "--json", dir.file("slow.json")});
  EXPECT_EQ(slow.exit_code(), 1) << slow.out << slow.err;
  EXPECT_NE(slow.out.find("  epoll/pingpong/c4 throughput: "), std::string::npos) << slow.out;
  EXPECT_NE(slow.out.find("result: REGRESSION (exit 1)"), std::string::npos);
  json rep = read_json(dir.file("slow.json"));
  EXPECT_EQ(rep["alpha"], 0.05);  // docs/ci.md: the default for two files
  bool throughput_regressed = false;
  for (const auto& r : rep["cells"]) {
    if (r["id"] == "epoll/pingpong/c4" && r["metric"] == "throughput") {
      throughput_regressed = r["verdict"] == "regressed";
      EXPECT_EQ(r["test"], "mann-whitney exact");
      EXPECT_NEAR(r["p_value"].get<double>(), 1.0 / 70, 1e-9);  // 4 vs 4, fully separated
      EXPECT_NEAR(r["p_adjusted"].get<double>(), 1.0 / 70, 1e-9);  // the only test
      EXPECT_LT(r["change_pct"].get<double>(), -50);
    }
  }
  EXPECT_TRUE(throughput_regressed) << rep.dump(1);

  // ... and at a loose threshold. The plain runs pass at that threshold: on
  // a shared 2-core machine two plain runs can differ by more than the
  // default 5 %, which is what the calibration (scripts/compare-calibrate.sh)
  // measures; this test checks the gate, not the machine's noise.
  const std::vector<std::string> loose = {"--threshold", "50%", "--metric", "throughput,p50"};
  std::vector<std::string> args = {"compare", a, d};
  args.insert(args.end(), loose.begin(), loose.end());
  RunResult caught = run_muxbench(args);
  EXPECT_EQ(caught.exit_code(), 1) << caught.out;
  EXPECT_NE(caught.out.find("  epoll/pingpong/c4 throughput: "), std::string::npos) << caught.out;
  EXPECT_NE(caught.out.find("  epoll/pingpong/c4 p50: "), std::string::npos) << caught.out;

  args = {"compare", a, b};
  args.insert(args.end(), loose.begin(), loose.end());
  RunResult quiet = run_muxbench(args);
  EXPECT_EQ(quiet.exit_code(), 0) << quiet.out << quiet.err;
  EXPECT_NE(quiet.out.find("result: no regression (exit 0)"), std::string::npos);
}

}  // namespace
}  // namespace muxbench::test
