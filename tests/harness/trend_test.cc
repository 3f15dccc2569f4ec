// muxbench trend's change points (change_points.h): the t-test against
// SciPy 1.10, a series with one step gives exactly that change point, a
// flat noisy one none, two steps both; and the command on results files
// written here (ordered by `started`, exit 1 when the newest starts a
// regression).
#include "change_points.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "harness_fixture.h"

namespace muxbench::harness {
namespace {

TEST(ChangePoints, StudentTMatchesSciPy) {
  // scipy.stats.ttest_ind(a, b, equal_var=True).pvalue
  EXPECT_NEAR(student_t_p({10.1, 9.8, 10.3, 10.0, 9.9}, {11.2, 11.0, 11.5, 10.9}),
              0.0001433781153066214, 1e-12);
  // One point against five (pooled variance of the five, df 4):
  // 2 * scipy.stats.t.sf(10 / sqrt(0.625 * 1.2), 4).
  EXPECT_NEAR(student_t_p({100, 101, 99, 100.5, 99.5}, {90}), 0.0003212663284598599, 1e-12);
  EXPECT_DOUBLE_EQ(student_t_p({1}, {2}), 1);
}

TEST(ChangePoints, OneStepGivesExactlyThatPoint) {
  std::mt19937 rng(11);
  std::normal_distribution<double> noise(0, 1.0);
  std::vector<double> x;
  for (int i = 0; i < 30; ++i) x.push_back((i < 18 ? 100 : 88) + noise(rng));
  auto cps = find_change_points(x);
  ASSERT_EQ(cps.size(), 1u);
  EXPECT_EQ(cps[0].index, 18u);
  EXPECT_NEAR(cps[0].change_pct, -12, 1.5);
  EXPECT_LE(cps[0].p, 0.001);
}

TEST(ChangePoints, FlatNoisySeriesGivesNone) {
  // numpy.random.default_rng(3): 100 + normal(0, 1.5), 30 values, rounded.
  const std::vector<double> x = {103.06, 96.17, 100.63, 99.15, 99.32, 99.68, 96.97, 99.65,
                                 98.7,   104.98, 100.34, 99.47, 99.58, 99.0, 98.42, 99.41,
                                 100.72, 99.64, 101.44, 99.7,  100.04, 102.32, 100.82, 99.24,
                                 99.73,  100.81, 102.9, 99.6,  99.63,  101.5};
  EXPECT_TRUE(find_change_points(x).empty());
  for (unsigned seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> noise(0, 2.0);
    std::vector<double> y;
    for (int i = 0; i < 25; ++i) y.push_back(100 + noise(rng));
    EXPECT_TRUE(find_change_points(y).empty()) << "seed " << seed;
  }
}

TEST(ChangePoints, TwoStepsAndTheNewestPoint) {
  std::vector<double> x;
  for (int level : {100, 120, 90}) {
    for (double d : {0.0, 0.5, -0.5, 0.2, -0.2, 0.4, -0.4, 0.1}) x.push_back(level + d);
  }
  auto cps = find_change_points(x);
  ASSERT_EQ(cps.size(), 2u);
  EXPECT_EQ(cps[0].index, 8u);
  EXPECT_EQ(cps[1].index, 16u);
  EXPECT_NEAR(cps[0].change_pct, 20, 0.5);   // against its neighbours, not the whole series
  EXPECT_NEAR(cps[1].change_pct, -25, 0.5);
  // A last point far off its level is a change point of its own.
  std::vector<double> y = {100, 101, 99, 100.5, 99.5, 100.2, 99.8, 100.1, 80};
  auto last = find_change_points(y);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].index, 8u);
}

// --- the command ----------------------------------------------------------------

test::json results_doc(const std::string& started, const std::string& commit, double throughput) {
  test::json d = test::read_json(test::source_dir() + "/tests/harness/fixtures/compare/single-base.json");
  d["started"] = started;
  d["environment"]["git_commit"] = commit;
  for (auto& c : d["cells"]) {
    if (c["metrics"].is_object()) c["metrics"]["requests_per_s"] = throughput;
  }
  return d;
}

TEST(TrendCommand, NewestFileStartingARegressionExitsOne) {
  test::TempDir dir;
  std::vector<std::string> files;
  const std::vector<double> level = {100, 101, 99, 100.5, 99.5, 100.2, 99.8, 100.1, 80};
  for (std::size_t i = 0; i < level.size(); ++i) {
    // Written newest first: trend orders by `started`, not by argument.
    const std::size_t k = level.size() - 1 - i;
    char started[64];
    std::snprintf(started, sizeof started, "2025-12-%02zuT00:00:00Z", k + 1);
    const std::string f = dir.file("r" + std::to_string(k) + ".json");
    std::ofstream(f) << results_doc(started, "c0mmit" + std::to_string(k), level[k]).dump();
    files.push_back(f);
  }
  std::vector<std::string> args = {"trend", "--metric", "throughput", "--json", dir.file("t.json")};
  args.insert(args.end(), files.begin(), files.end());
  test::RunResult r = test::run_muxbench(args);
  EXPECT_EQ(r.exit_code(), 1) << r.out << r.err;
  EXPECT_NE(r.out.find("from file 9 (commit c0mmit8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("REGRESSION"), std::string::npos);
  test::json t = test::read_json(dir.file("t.json"));
  EXPECT_EQ(t["newest_starts_regression"].get<int>(), static_cast<int>(t["series"].size()));
  EXPECT_EQ(t["files"][0]["git_commit"], "c0mmit0");
  // Without the newest file: no change point, exit 0.
  args.erase(std::find(args.begin(), args.end(), files[0]));
  r = test::run_muxbench(args);
  EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
  EXPECT_NE(r.out.find("no change point"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace muxbench::harness
