// muxbench compare: the Mann-Whitney U test against published and
// brute-force values, the verdict rules on synthetic runs, and the real
// binary on the fixture files of fixtures/compare/ (make_fixtures.py says
// what each holds): exit status, the rows it names, the JSON it writes.
#include "compare.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>

#include "harness_fixture.h"
#include "mann_whitney.h"

namespace muxbench::harness {
namespace {

using test::run_muxbench;
using test::RunResult;
using test::TempDir;

// --- Mann-Whitney U ---------------------------------------------------------------

// Reference values from R's wilcox.test and SciPy 1.10 (mannwhitneyu with
// method="exact" without ties; permutation_test over every split with ties;
// method="asymptotic", use_continuity=True for the normal approximation).
TEST(MannWhitney, ExactMatchesPublishedValues) {
  // R's ?wilcox.test example (Hollander & Wolfe, permeability constants):
  // W = 35, p-value = 0.1272 for alternative = "greater".
  const std::vector<double> x = {0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46};
  const std::vector<double> y = {1.15, 0.88, 0.90, 0.74, 1.21};
  auto g = mann_whitney(x, y, Alternative::kGreater);
  EXPECT_TRUE(g.exact);
  EXPECT_DOUBLE_EQ(g.u, 35);
  EXPECT_NEAR(g.p, 0.1272061272061272, 1e-12);
  EXPECT_NEAR(mann_whitney(x, y, Alternative::kLess).p, 0.8967698967698966, 1e-12);
  EXPECT_NEAR(mann_whitney(x, y, Alternative::kTwoSided).p, 0.2544122544122544, 1e-12);

  // Complete separation, 3 vs 3: 1 of C(6,3) = 20 rankings.
  auto s = mann_whitney({1, 2, 3}, {4, 5, 6}, Alternative::kLess);
  EXPECT_DOUBLE_EQ(s.u, 0);
  EXPECT_NEAR(s.p, 0.05, 1e-12);
  EXPECT_NEAR(mann_whitney({1, 2, 3}, {4, 5, 6}, Alternative::kTwoSided).p, 0.1, 1e-12);
  EXPECT_NEAR(mann_whitney({1, 2, 3}, {4, 5, 6}, Alternative::kGreater).p, 1.0, 1e-12);

  const std::vector<double> a = {19.1, 20.3, 18.7, 21.0, 19.9, 20.4, 22.2};
  const std::vector<double> b = {23.5, 21.9, 24.0, 22.8, 25.1, 23.3};
  auto ab = mann_whitney(a, b, Alternative::kLess);
  EXPECT_DOUBLE_EQ(ab.u, 1);
  EXPECT_NEAR(ab.p, 0.0011655011655011655, 1e-12);
  EXPECT_NEAR(mann_whitney(a, b, Alternative::kTwoSided).p, 0.002331002331002331, 1e-12);
}

TEST(MannWhitney, TiesUseTheExactConditionalDistribution) {
  const std::vector<double> x = {1, 2, 2, 3, 3, 3};
  const std::vector<double> y = {2, 3, 4, 4, 5};
  auto less = mann_whitney(x, y, Alternative::kLess);
  EXPECT_TRUE(less.exact);
  EXPECT_DOUBLE_EQ(less.u, 5.5);
  EXPECT_NEAR(less.p, 0.05627705627705628, 1e-12);
  EXPECT_NEAR(mann_whitney(x, y, Alternative::kGreater).p, 0.9696969696969697, 1e-12);
  EXPECT_NEAR(mann_whitney(x, y, Alternative::kTwoSided).p, 0.11255411255411256, 1e-12);
  // Everything tied: no evidence either way.
  EXPECT_DOUBLE_EQ(mann_whitney({7, 7, 7}, {7, 7, 7}, Alternative::kLess).p, 1.0);
  EXPECT_DOUBLE_EQ(mann_whitney({7, 7, 7}, {7, 7, 7}, Alternative::kTwoSided).p, 1.0);
}

TEST(MannWhitney, LargeSamplesUseTheNormalApproximation) {
  const std::vector<double> x = {10.7, 11.6, 10.7, 7.4,  11.8, 10.9, 8.9,  11.2, 10.7, 10.6,
                                 10.1, 11.1, 8.5,  9.7,  9.0,  11.2, 10.1, 9.4,  8.4,  9.5,
                                 10.0, 9.4,  12.6, 12.0, 4.6,  6.2,  9.7,  9.2,  10.4, 10.4};
  const std::vector<double> y = {15.2, 8.8,  10.2, 15.1, 12.3, 12.3, 10.0, 7.7,  11.3,
                                 11.2, 8.5,  9.6,  10.9, 9.1,  10.8, 11.2, 11.1, 10.0,
                                 12.2, 12.8, 11.6, 9.4,  12.5, 10.0, 12.8, 8.9,  12.8,
                                 11.0, 8.5,  10.4, 11.1, 11.5, 9.0,  8.8,  11.4};
  auto r = mann_whitney(x, y, Alternative::kLess);
  EXPECT_FALSE(r.exact);
  EXPECT_DOUBLE_EQ(r.u, 380.5);
  EXPECT_NEAR(r.p, 0.028981447209391564, 1e-9);
  EXPECT_NEAR(mann_whitney(x, y, Alternative::kTwoSided).p, 0.05796289441878313, 1e-9);
}

// Every way of splitting the pooled values into n1 and n2, counted directly.
double brute_force_p_greater(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> pooled = x;
  pooled.insert(pooled.end(), y.begin(), y.end());
  auto u_of = [&](const std::vector<bool>& in_x) {
    double u = 0;
    for (std::size_t i = 0; i < pooled.size(); ++i) {
      for (std::size_t j = 0; j < pooled.size(); ++j) {
        if (!in_x[i] || in_x[j]) continue;
        u += pooled[i] > pooled[j] ? 1 : pooled[i] == pooled[j] ? 0.5 : 0;
      }
    }
    return u;
  };
  std::vector<bool> observed(pooled.size(), false);
  std::fill(observed.begin(), observed.begin() + static_cast<long>(x.size()), true);
  const double u_obs = u_of(observed);
  std::vector<bool> mask(pooled.size(), false);
  std::fill(mask.begin(), mask.begin() + static_cast<long>(x.size()), true);
  std::sort(mask.begin(), mask.end());
  double all = 0, ge = 0;
  do {
    ++all;
    ge += u_of(mask) >= u_obs - 1e-9;
  } while (std::next_permutation(mask.begin(), mask.end()));
  return ge / all;
}

TEST(MannWhitney, AgreesWithBruteForceOnRandomTiedSamples) {
  std::mt19937 rng(42);
  for (int trial = 0; trial < 60; ++trial) {
    std::size_t n1 = 1 + rng() % 6, n2 = 1 + rng() % 6;
    std::vector<double> x, y;
    for (std::size_t i = 0; i < n1; ++i) x.push_back(static_cast<double>(rng() % 5));
    for (std::size_t i = 0; i < n2; ++i) y.push_back(static_cast<double>(rng() % 5));
    SCOPED_TRACE("trial " + std::to_string(trial));
    EXPECT_NEAR(mann_whitney(x, y, Alternative::kGreater).p, brute_force_p_greater(x, y), 1e-12);
    // The two one-sided tests mirror each other.
    EXPECT_NEAR(mann_whitney(x, y, Alternative::kLess).p,
                mann_whitney(y, x, Alternative::kGreater).p, 1e-12);
  }
}

TEST(MannWhitney, SmallestReachablePValue) {
  EXPECT_DOUBLE_EQ(mann_whitney_min_p(1, 1, Alternative::kLess), 0.5);
  EXPECT_DOUBLE_EQ(mann_whitney_min_p(1, 1, Alternative::kTwoSided), 1.0);
  EXPECT_NEAR(mann_whitney_min_p(2, 2, Alternative::kLess), 1.0 / 6, 1e-15);
  EXPECT_NEAR(mann_whitney_min_p(3, 3, Alternative::kGreater), 0.05, 1e-15);
  EXPECT_NEAR(mann_whitney_min_p(3, 3, Alternative::kTwoSided), 0.1, 1e-15);
  EXPECT_NEAR(mann_whitney_min_p(5, 5, Alternative::kLess), 1.0 / 252, 1e-15);
  EXPECT_NEAR(mann_whitney_min_p(4, 2, Alternative::kLess), 1.0 / 15, 1e-15);
  EXPECT_DOUBLE_EQ(mann_whitney_min_p(0, 3, Alternative::kLess), 1.0);
  // It is what the most extreme ranking actually gives.
  EXPECT_NEAR(mann_whitney({1, 2, 3, 4}, {5, 6}, Alternative::kLess).p,
              mann_whitney_min_p(4, 2, Alternative::kLess), 1e-15);
}

// --- verdict rules on synthetic runs ------------------------------------------------

struct Rep {
  std::string strategy = "epoll";
  int connections = 10;
  std::string status = "ok";
  double throughput = 0, p99 = 0;
  std::vector<std::string> server_args = {};
  bool saturated = false;
};

json make_doc(const std::vector<Rep>& reps, json env_patch = json::object()) {
  json d;
  d["schema_version"] = 1;
  d["tool"] = "muxbench";
  d["started"] = "2025-12-01T05:30:00Z";
  d["finished"] = "2025-12-01T05:40:00Z";
  d["environment"] = {{"cpu_model", "Xeon"},
                      {"cpu_count", 2},
                      {"kernel", "Linux 6.1.0-18-amd64 #1 SMP Debian 6.1.76-1"},
                      {"build_type", "RelWithDebInfo"},
                      {"sanitizer", "none"},
                      {"git_commit", "abc"},
                      {"host", "h"}};
  for (const auto& [k, v] : env_patch.items()) d["environment"][k] = v;
  d["suite"] = {{"name", "t"},
                {"placement", {{"server_cpus", nullptr}, {"loadgen_cpus", nullptr}}}};
  d["cells"] = json::array();
  std::map<std::string, int> rep_of;
  for (const auto& r : reps) {
    std::string id = r.strategy + "/pingpong/c" + std::to_string(r.connections);
    int rep = rep_of[id]++;
    json c;
    c["id"] = id + "/r" + std::to_string(rep);
    c["strategy"] = r.strategy;
    c["workload"] = "pingpong";
    c["connections"] = r.connections;
    c["active"] = r.connections;
    c["repetition"] = rep;
    c["params"] = {{"message_size_bytes", 64},    {"pipeline", 1},   {"rate_per_s", nullptr},
                   {"reconnect", false},          {"duration_s", 1}, {"warmup_s", 0.5},
                   {"server_args", r.server_args}};
    c["status"] = r.status;
    c["reason"] = r.status == "ok"             ? json(nullptr)
                  : r.status == "rate_not_met" ? json("rate not met: 800 of 2000 requests due")
                                               : json("crashed: signal 11");
    const bool measured = r.status == "ok" || r.status == "rate_not_met";
    c["metrics"] = measured ? json{{"requests_per_s", r.throughput},
                                   {"p99_ns", r.p99},
                                   {"client_saturated", r.saturated},
                                   {"rate_met", r.status == "ok"}}
                            : json(nullptr);
    d["cells"].push_back(c);
  }
  return d;
}

std::vector<Rep> series(const std::vector<double>& tput, const std::string& strategy = "epoll") {
  std::vector<Rep> v;
  for (double t : tput) v.push_back(Rep{strategy, 10, "ok", t, 1000});
  return v;
}

CompareOptions options(const std::string& metrics = "throughput,p99") {
  CompareOptions o;
  o.metrics = parse_compare_metrics(metrics);
  return o;
}

json run_compare(const json& a, const json& b, const CompareOptions& o = options()) {
  return compare_results(a, b, o, "base.json", "new.json", environment_differences(a, b), false);
}

const json& row(const json& rep, const std::string& id, const std::string& metric,
                const std::string& verdict = "") {
  for (const auto& r : rep["cells"]) {
    if (r["id"] == id && r["metric"] == metric && (verdict.empty() || r["verdict"] == verdict)) {
      return r;
    }
  }
  static const json none;
  ADD_FAILURE() << "no row " << id << " " << metric << " " << verdict << " in " << rep.dump(1);
  return none;
}

TEST(CompareRules, ThreeAgainstThreeOneSidedCanRegressOnlyOnCompleteSeparation) {
  json base = make_doc(series({100, 102, 98}));
  // -10 %, every new repetition below every base one: p = 1/20 = alpha, the
  // only test of the family.
  json rep = run_compare(base, make_doc(series({90, 91, 89})), options("throughput"));
  const json& r = row(rep, "epoll/pingpong/c10", "throughput");
  EXPECT_EQ(r["verdict"], "regressed");
  EXPECT_EQ(r["test"], "mann-whitney exact");
  EXPECT_NEAR(r["p_value"].get<double>(), 0.05, 1e-12);
  EXPECT_NEAR(r["change_pct"].get<double>(), -10, 1e-9);
  EXPECT_EQ(rep["exit_status"], 1);
  EXPECT_NEAR(r["p_adjusted"].get<double>(), 0.05, 1e-12);
  // The ratio of the medians, and its exact interval: 3 vs 3 reaches 90% at most.
  EXPECT_NEAR(r["ratio"].get<double>(), 0.9, 1e-12);
  EXPECT_NEAR(r["ratio_ci"][0].get<double>(), 89.0 / 102, 1e-12);
  EXPECT_NEAR(r["ratio_ci"][1].get<double>(), 91.0 / 98, 1e-12);
  EXPECT_NEAR(r["ci_level"].get<double>(), 0.9, 1e-12);
  // With p99 in the family too (2 tests), Holm doubles it: no longer significant.
  rep = run_compare(base, make_doc(series({90, 91, 89})));
  EXPECT_EQ(row(rep, "epoll/pingpong/c10", "throughput")["verdict"], "inconclusive");
  EXPECT_NEAR(row(rep, "epoll/pingpong/c10", "throughput")["p_adjusted"].get<double>(), 0.1, 1e-12);
  EXPECT_EQ(rep["tests"], 2);
  // ... unless the adjustment is off.
  CompareOptions raw = options();
  raw.adjust = false;
  EXPECT_EQ(row(run_compare(base, make_doc(series({90, 91, 89})), raw), "epoll/pingpong/c10",
                "throughput")["verdict"],
            "regressed");
  // The same median, but one new repetition above a base one: not significant.
  rep = run_compare(base, make_doc(series({90, 99, 89})), options("throughput"));
  EXPECT_EQ(row(rep, "epoll/pingpong/c10", "throughput")["verdict"], "inconclusive");
  EXPECT_EQ(rep["exit_status"], 0);
  // Two-sided, 3 vs 3 can never reach 0.05: the threshold alone decides, and says so.
  CompareOptions two = options();
  two.two_sided = true;
  rep = run_compare(base, make_doc(series({90, 99, 89})), two);
  const json& t = row(rep, "epoll/pingpong/c10", "throughput");
  EXPECT_EQ(t["test"], "threshold only");
  EXPECT_EQ(t["verdict"], "regressed");
  EXPECT_NE(
      t["test_note"].get<std::string>().find("most extreme ranking gives p = 0.100 > alpha 0.05"),
      std::string::npos)
      << t["test_note"];
}

// An A/B file (muxbench ab): both sides in one document, cells with `side`.
json make_ab_doc(const std::vector<Rep>& base, const std::vector<Rep>& next) {
  json d = make_doc(base);
  json n = make_doc(next);
  d["ab"] = {{"order", "ABBA"},
             {"base", {{"bin_dir", "/b"}, {"server_path", "/b/s"}, {"loadgen_path", "/b/l"},
                       {"git_commit", "1111"}}},
             {"new", {{"bin_dir", "/n"}, {"server_path", "/n/s"}, {"loadgen_path", "/n/l"},
                      {"git_commit", "2222"}}}};
  json cells = json::array();
  for (const auto& [doc, side] : {std::pair<json*, const char*>{&d, "base"}, {&n, "new"}}) {
    for (json c : (*doc)["cells"]) {
      c["id"] = c["id"].get<std::string>() + "/" + side;
      c["side"] = side;
      cells.push_back(c);
    }
  }
  d["cells"] = cells;
  return d;
}

// A machine drifting from 100 to 150 k/s over the run, new 10 % slower in
// every pair: the two samples overlap (Mann-Whitney sees nothing), the
// pairs do not (signed-rank: 6 of 6 one way, p = 1/64).
TEST(CompareRules, PairedRepetitionsCancelDrift) {
  const std::vector<double> drift = {100, 110, 120, 130, 140, 150};
  const std::vector<double> factor = {0.90, 0.91, 0.89, 0.90, 0.92, 0.88};
  std::vector<double> slower;
  for (std::size_t i = 0; i < drift.size(); ++i) slower.push_back(drift[i] * factor[i]);
  json two_files = run_compare(make_doc(series(drift)), make_doc(series(slower)), options("throughput"));
  EXPECT_EQ(row(two_files, "epoll/pingpong/c10", "throughput")["verdict"], "inconclusive");

  json ab = make_ab_doc(series(drift), series(slower));
  CompareOptions o = options();
  o.paired = true;
  json rep = compare_results(ab, ab, o, "ab.json (base)", "ab.json (new)", {}, false);
  EXPECT_EQ(rep["mode"], "paired");
  const json& r = row(rep, "epoll/pingpong/c10", "throughput");
  EXPECT_EQ(r["verdict"], "regressed") << r.dump(1);
  EXPECT_EQ(r["test"], "wilcoxon signed-rank exact");
  EXPECT_EQ(r["pairs"], 6);
  EXPECT_NEAR(r["p_value"].get<double>(), 1.0 / 64, 1e-12);
  // p99 is constant (no non-zero difference): p = 1; Holm over the 2 tests.
  EXPECT_NEAR(r["p_adjusted"].get<double>(), 2.0 / 64, 1e-12);
  EXPECT_NEAR(r["ratio"].get<double>(), 0.9, 1e-12);
  // 6 pairs: the widest Walsh interval, min .. max, at 1 - 2/64.
  EXPECT_NEAR(r["ratio_ci"][0].get<double>(), 0.88, 1e-12);
  EXPECT_NEAR(r["ratio_ci"][1].get<double>(), 0.92, 1e-12);
  EXPECT_NEAR(r["ci_level"].get<double>(), 1 - 2.0 / 64, 1e-12);
  EXPECT_EQ(row(rep, "epoll/pingpong/c10", "p99")["verdict"], "unchanged");
  EXPECT_EQ(rep["base_run"]["git_commit"], "1111");
  EXPECT_EQ(rep["new_run"]["bin_dir"], "/n");
  const std::string text = compare_text(rep, false);
  EXPECT_NE(text.find("Wilcoxon signed-rank test over the paired repetitions"), std::string::npos)
      << text;
  EXPECT_NE(text.find("0.900 [0.880, 0.920]"), std::string::npos) << text;

  // A repetition measured on one side only is left out of the pairs.
  std::vector<Rep> broken = series(slower);
  broken[0].status = "failed";
  rep = compare_results(make_ab_doc(series(drift), broken), make_ab_doc(series(drift), broken), o,
                        "a", "b", {}, false);
  EXPECT_EQ(row(rep, "epoll/pingpong/c10", "throughput")["pairs"], 5);
  EXPECT_NE(row(rep, "epoll/pingpong/c10", "throughput")["note"].get<std::string>().find(
                "1 repetition(s) measured on one side only, left out"),
            std::string::npos);
}

TEST(CompareRules, TooFewRepetitionsFallBackToTheThreshold) {
  json rep = run_compare(make_doc(series({100, 101})), make_doc(series({96, 97})));
  const json& r = row(rep, "epoll/pingpong/c10", "throughput");
  EXPECT_EQ(r["test"], "threshold only");
  EXPECT_EQ(r["verdict"], "unchanged");  // -3.5 %: within 5 %
  EXPECT_TRUE(r["p_value"].is_null());
  EXPECT_NE(r["test_note"].get<std::string>().find("2 vs 2 repetitions"), std::string::npos);
  rep = run_compare(make_doc(series({100})), make_doc(series({107})));
  EXPECT_EQ(row(rep, "epoll/pingpong/c10", "throughput")["verdict"], "improved");
  EXPECT_NE(row(rep, "epoll/pingpong/c10", "throughput")["test_note"].get<std::string>().find(
                "1 repetition a side"),
            std::string::npos);
}

TEST(CompareRules, DirectionThresholdsAndSignificanceWithinThreshold) {
  // p99 rising is a regression; throughput rising is an improvement.
  std::vector<Rep> a, b;
  for (double v : {1000.0, 1010.0, 990.0, 1005.0, 995.0})
    a.push_back(Rep{"epoll", 10, "ok", v, v * 10});
  for (double v : {1200.0, 1210.0, 1190.0, 1205.0, 1195.0})
    b.push_back(Rep{"epoll", 10, "ok", v, v * 10});
  json rep = run_compare(make_doc(a), make_doc(b));
  EXPECT_EQ(row(rep, "epoll/pingpong/c10", "throughput")["verdict"], "improved");
  EXPECT_EQ(row(rep, "epoll/pingpong/c10", "p99")["verdict"], "regressed");
  EXPECT_EQ(row(rep, "epoll/pingpong/c10", "p99")["direction"], "lower_is_better");
  // A per-metric threshold above the change: unchanged, with the significance noted.
  CompareOptions o = options();
  parse_thresholds("5%,p99=25%", &o);
  rep = run_compare(make_doc(a), make_doc(b), o);
  const json& p99 = row(rep, "epoll/pingpong/c10", "p99");
  EXPECT_EQ(p99["verdict"], "unchanged");
  EXPECT_EQ(p99["threshold_pct"], 25.0);
  EXPECT_NE(p99["note"].get<std::string>().find("but within the 25% threshold"), std::string::npos);
  EXPECT_EQ(rep["exit_status"], 0);
}

TEST(CompareRules, FailuresOnOneSideAreRegressionsOrImprovements) {
  std::vector<Rep> ok = series({100, 101, 99, 100, 102});
  std::vector<Rep> one_fails = ok;
  one_fails[2].status = "failed";
  json rep = run_compare(make_doc(ok), make_doc(one_fails));
  const json& st = row(rep, "epoll/pingpong/c10", "status");
  EXPECT_EQ(st["verdict"], "regressed");
  EXPECT_NE(st["note"].get<std::string>().find("1 of 5 repetitions (never in base): crashed"),
            std::string::npos)
      << st["note"];
  // The metrics are still compared over the ok repetitions.
  EXPECT_EQ(row(rep, "epoll/pingpong/c10", "throughput")["n_new"], 4);
  EXPECT_EQ(rep["exit_status"], 1);
  // The other way round: fixed.
  rep = run_compare(make_doc(one_fails), make_doc(ok));
  EXPECT_EQ(row(rep, "epoll/pingpong/c10", "status")["verdict"], "improved");
  EXPECT_EQ(rep["exit_status"], 0);
}

// Open loop: a cell that kept its schedule in base and misses it in new is a
// regression of its own (the status row), its numbers still compared.
TEST(CompareRules, AMissedRateIsARegressionWhenBaseMetIt) {
  std::vector<Rep> met = series({2000, 2000, 1999});
  std::vector<Rep> missed = met;
  for (auto& r : missed) {
    r.status = "rate_not_met";
    r.throughput = 1200;
  }
  json rep = run_compare(make_doc(met), make_doc(missed));
  const json& st = row(rep, "epoll/pingpong/c10", "status", "regressed");
  EXPECT_EQ(st["note"], "misses its rate in new in 3 of 3 repetitions (met in base): rate not met: "
                        "800 of 2000 requests due");
  EXPECT_EQ(st["new_status"]["rate_not_met"], 3);
  EXPECT_EQ(st["base_status"]["ok"], 3);
  EXPECT_EQ(row(rep, "epoll/pingpong/c10", "throughput")["n_new"], 3);
  EXPECT_EQ(rep["exit_status"], 1);
  const std::string text = compare_text(rep, false);
  EXPECT_NE(text.find("3 RATE NOT MET"), std::string::npos) << text;
  // The other way round: an improvement.
  rep = run_compare(make_doc(missed), make_doc(met));
  EXPECT_EQ(row(rep, "epoll/pingpong/c10", "status")["verdict"], "improved");
  EXPECT_EQ(rep["exit_status"], 0);
  // Missed on both sides: said, but no regression from it.
  rep = run_compare(make_doc(missed), make_doc(missed));
  EXPECT_EQ(row(rep, "epoll/pingpong/c10", "status")["verdict"], "unchanged");
  EXPECT_EQ(rep["exit_status"], 0);
  // One repetition of three missing it is enough.
  std::vector<Rep> one_missed = met;
  one_missed[1].status = "rate_not_met";
  rep = run_compare(make_doc(met), make_doc(one_missed));
  EXPECT_NE(row(rep, "epoll/pingpong/c10", "status", "regressed")["note"].get<std::string>().find(
                "in 1 of 3 repetitions"),
            std::string::npos);
}

TEST(CompareRules, ServerArgsAreRecordedButNotMatched) {
  std::vector<Rep> delayed = series({50, 51, 49});
  for (auto& r : delayed) r.server_args = {"--delay-us=200"};
  json rep =
      run_compare(make_doc(series({100, 101, 99})), make_doc(delayed), options("throughput"));
  EXPECT_EQ(rep["counts"]["matched_cells"], 1);
  EXPECT_EQ(row(rep, "epoll/pingpong/c10", "throughput")["verdict"], "regressed");
}

TEST(CompareRules, ZeroBaseSaturationAndNothingInCommon) {
  json rep = run_compare(make_doc(series({0, 0, 0})), make_doc(series({5, 6, 7})));
  const json& z = row(rep, "epoll/pingpong/c10", "throughput");
  EXPECT_EQ(z["verdict"], "inconclusive");
  EXPECT_TRUE(z["change_pct"].is_null());
  std::vector<Rep> sat = series({100, 101, 99});
  sat[0].saturated = true;
  rep = run_compare(make_doc(sat), make_doc(series({100, 101, 99})));
  EXPECT_NE(row(rep, "epoll/pingpong/c10", "throughput")["note"].get<std::string>().find(
                "client-bound) in base"),
            std::string::npos);
  EXPECT_THROW(
      run_compare(make_doc(series({1, 2, 3}, "epoll")), make_doc(series({1, 2, 3}, "poll"))),
      CompareInputError);
}

TEST(CompareRules, GeometricMeanPerStrategyAndOverall) {
  std::vector<Rep> a = series({100, 100, 100}), b = series({120, 120, 120});
  for (auto& r : series({100, 100, 100}, "poll")) a.push_back(r);
  for (auto& r : series({75, 75, 75}, "poll")) b.push_back(r);
  json rep = run_compare(make_doc(a), make_doc(b), options("throughput"));
  EXPECT_NEAR(
      rep["summary"]["strategies"]["epoll"]["throughput"]["geomean_change_pct"].get<double>(), 20,
      1e-9);
  EXPECT_NEAR(
      rep["summary"]["strategies"]["poll"]["throughput"]["geomean_change_pct"].get<double>(), -25,
      1e-9);
  // sqrt(1.2 * 0.75) = 0.9487
  EXPECT_NEAR(rep["summary"]["overall"]["throughput"]["geomean_change_pct"].get<double>(),
              (std::sqrt(1.2 * 0.75) - 1) * 100, 1e-9);
  EXPECT_EQ(rep["summary"]["overall"]["throughput"]["cells"], 2);
}

TEST(CompareOptionsParsing, MetricsAndThresholds) {
  auto m = parse_compare_metrics("throughput, p99_ns,cpu_per_request,p99");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_STREQ(m[1]->field, "p99_ns");
  EXPECT_EQ(parse_compare_metrics("all").size(), compare_metrics().size());
  EXPECT_THROW(parse_compare_metrics("throughput,latency"), CompareInputError);
  CompareOptions o;
  parse_thresholds("p99=15%,7.5", &o);
  EXPECT_DOUBLE_EQ(o.threshold_pct, 7.5);
  EXPECT_DOUBLE_EQ(o.threshold_for(*find_compare_metric("p99")), 15);
  EXPECT_DOUBLE_EQ(o.threshold_for(*find_compare_metric("throughput")), 7.5);
  for (const char* bad : {"", "x", "-1%", "5%%", "bogus=5", "p99=", "1000"}) {
    EXPECT_THROW(parse_thresholds(bad, &o), CompareInputError) << bad;
  }
  // Every metric maps to a field the harness writes (docs/results.md).
  for (const auto& metric : compare_metrics()) {
    EXPECT_EQ(find_compare_metric(metric.field), &metric);
  }
}

TEST(CompareEnvironment, MaterialDifferencesAndInformationalOnes) {
  json a = make_doc(series({1}));
  auto diffs = [&](json patch) {
    json b = make_doc(series({1}), patch);
    return environment_differences(a, b);
  };
  EXPECT_TRUE(diffs(json::object()).empty());
  auto k = diffs({{"kernel", "Linux 6.1.0-18-amd64 #1 SMP Debian 6.1.90-1"}});
  ASSERT_EQ(k.size(), 1u);
  EXPECT_FALSE(k[0].material);  // the same release, rebuilt
  k = diffs({{"kernel", "Linux 6.5.0-1-amd64 #1 SMP Debian 6.5.3-1"}});
  ASSERT_EQ(k.size(), 1u);
  EXPECT_TRUE(k[0].material);
  for (const char* key : {"cpu_model", "cpu_count", "build_type", "sanitizer"}) {
    auto d = diffs({{key, "other"}});
    ASSERT_EQ(d.size(), 1u) << key;
    EXPECT_TRUE(d[0].material) << key;
  }
  auto h = diffs({{"host", "other"}, {"git_commit", "def"}});
  ASSERT_EQ(h.size(), 1u);  // the commit is expected to differ
  EXPECT_EQ(h[0].key, "host");
  EXPECT_FALSE(h[0].material);
  json pinned = make_doc(series({1}));
  pinned["suite"]["placement"]["server_cpus"] = "0";
  auto p = environment_differences(a, pinned);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].key, "placement.server_cpus");
  EXPECT_TRUE(p[0].material);
}

TEST(CompareText, ColourOnlyWhenAsked) {
  json rep = run_compare(make_doc(series({100, 102, 98})), make_doc(series({90, 91, 89})),
                         options("throughput"));
  std::string plain = compare_text(rep, false);
  std::string coloured = compare_text(rep, true);
  EXPECT_EQ(plain.find('\033'), std::string::npos);
  EXPECT_NE(coloured.find("\033[1;31mREGRESSED"), std::string::npos);
  EXPECT_NE(plain.find("result: REGRESSION (exit 1)"), std::string::npos);
}

// `muxbench run --server-arg`: how the e2e test and the calibration inject a delay.
TEST(RunServerArg, AppendsToEveryStrategyOnceAndRefusesReservedFlags) {
  const std::vector<StrategyInfo> catalog = {{"epoll", "readiness", "", 0, false},
                                             {"threadpool", "blocking", "", 64, true}};
  Suite s = parse_suite(json::parse(R"J({"strategies": "all", "workloads": ["pingpong"],
      "connections": [1], "server_args": {"threadpool": ["--threads", "8"]}})J"),
                        catalog, "t");
  override_server_args(s, {"--delay-us=200"});
  EXPECT_EQ(s.server_args["epoll"], (std::vector<std::string>{"--delay-us=200"}));
  EXPECT_EQ(s.server_args["threadpool"],
            (std::vector<std::string>{"--threads", "8", "--delay-us=200"}));
  // Again (a resumed run's recorded suite): unchanged, so --resume matches.
  override_server_args(s, {"--delay-us=200"});
  EXPECT_EQ(s.server_args["epoll"].size(), 1u);
  auto cells = plan_cells(s, catalog, 0);
  ASSERT_EQ(cells.size(), 2u);
  EXPECT_EQ(cells[0].params.server_args, (std::vector<std::string>{"--delay-us=200"}));
  EXPECT_THROW(override_server_args(s, {"--port=1"}), SuiteError);
  EXPECT_THROW(override_server_args(s, {"--stats"}), SuiteError);
  RunResult r =
      run_muxbench({"run", "--suite", "smoke", "--server-arg=--strategy=poll", "--dry-run"});
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_NE(r.err.find("--server-arg: '--strategy=poll' is set by the harness"), std::string::npos)
      << r.err;
}

// --- the binary on the fixture files ------------------------------------------------

std::string fixture(const std::string& name) {
  return test::source_dir() + "/tests/harness/fixtures/compare/" + name;
}

struct Compared {
  RunResult run;
  nlohmann::json report;  // the --json output (null when none was written)
};

Compared compare_files(const std::string& base, const std::string& next,
                       std::vector<std::string> extra = {}) {
  TempDir dir;
  std::string out = dir.file("compare.json");
  std::vector<std::string> args = {"compare", fixture(base), fixture(next), "--json", out};
  args.insert(args.end(), extra.begin(), extra.end());
  Compared c;
  c.run = run_muxbench(args, std::chrono::seconds(30));
  if (std::filesystem::exists(out)) c.report = test::read_json(out);
  return c;
}

// (id, metric) of every row with this verdict.
std::set<std::pair<std::string, std::string>> rows_with(const nlohmann::json& rep,
                                                        const std::string& verdict) {
  std::set<std::pair<std::string, std::string>> s;
  for (const auto& r : rep["cells"]) {
    if (r["verdict"] == verdict)
      s.insert({r["id"].get<std::string>(), r["metric"].get<std::string>()});
  }
  return s;
}

using Rows = std::set<std::pair<std::string, std::string>>;

TEST(CompareFixtures, AreValidResultsFiles) {
  for (const char* f :
       {"base.json", "identical.json", "regression.json", "improvement.json", "noise.json",
        "missing.json", "other-cpu.json", "single-base.json", "single-new.json"}) {
    TempDir dir;  // the validator writes next to the file it checks
    std::filesystem::copy_file(fixture(f), dir.file(f));
    EXPECT_EQ(test::schema_errors(dir.file(f)), "") << f;
  }
}

TEST(CompareFixtures, IdenticalRunsPass) {
  Compared c = compare_files("base.json", "identical.json");
  ASSERT_EQ(c.run.exit_code(), 0) << c.run.out << c.run.err;
  EXPECT_EQ(c.report["counts"]["unchanged"], 16);  // 4 cells x 4 default metrics
  EXPECT_TRUE(rows_with(c.report, "regressed").empty());
  EXPECT_NEAR(c.report["summary"]["overall"]["throughput"]["geomean_change_pct"].get<double>(), 0,
              1e-9);
  EXPECT_NE(c.run.out.find("result: no regression (exit 0)"), std::string::npos);
  EXPECT_EQ(c.run.out.find('\033'), std::string::npos) << "colour on a pipe";
}

TEST(CompareFixtures, ClearRegressionFailsNamingTheCellAndMetric) {
  // 5 vs 5 repetitions: Holm over 8 tests (4 cells x 2 metrics) still lets
  // p = 0.004 through (0.004 x 8 <= 0.05); over the default 16 it would not.
  Compared c = compare_files("base.json", "regression.json", {"--metric", "throughput,p99"});
  ASSERT_EQ(c.run.exit_code(), 1) << c.run.out << c.run.err;
  EXPECT_EQ(rows_with(c.report, "regressed"),
            (Rows{{"epoll/pingpong/c10", "throughput"}, {"epoll/pingpong/c10", "p99"}}));
  EXPECT_TRUE(rows_with(c.report, "improved").empty());
  EXPECT_NE(c.run.out.find("  epoll/pingpong/c10 throughput: 100.0k/s -> 80.3k/s (-19.7%, ratio "
                           "0.803 ["),
            std::string::npos)
      << c.run.out;
  EXPECT_NE(c.run.out.find("], p = 0.004, adjusted 0.032, 5 vs 5 repetitions)"),
            std::string::npos)
      << c.run.out;
  EXPECT_NE(c.run.out.find("  epoll/pingpong/c10 p99: "), std::string::npos);
  EXPECT_EQ(c.report["exit_status"], 1);
  EXPECT_EQ(c.report["regressions"], 2);
  // What plots/muxbench_plots/inputs.py reads (docs/plots.md).
  for (const auto& r : c.report["cells"]) {
    for (const char* k : {"id", "strategy", "workload", "connections", "metric", "base", "new",
                          "change_pct", "verdict"}) {
      EXPECT_TRUE(r.contains(k)) << k;
    }
  }
}

TEST(CompareFixtures, TooManyTestsForTheRepetitionsIsSaid) {
  // The default 4 metrics x 4 cells = 16 tests: Holm's first step needs p <=
  // 0.003, and 5 vs 5 can give 0.004 at best: nothing fails, and the report says why.
  Compared c = compare_files("base.json", "regression.json");
  ASSERT_EQ(c.run.exit_code(), 0) << c.run.out << c.run.err;
  EXPECT_EQ(rows_with(c.report, "inconclusive"),
            (Rows{{"epoll/pingpong/c10", "throughput"}, {"epoll/pingpong/c10", "p99"}}));
  EXPECT_NE(c.run.out.find("warning: no row can be significant: Holm's first step over 16 tests "
                           "needs p <= 0.003"),
            std::string::npos)
      << c.run.out;
  EXPECT_EQ(compare_files("base.json", "regression.json", {"--adjust", "none"}).run.exit_code(), 1);
}

TEST(CompareFixtures, ClearImprovementPasses) {
  Compared c = compare_files("base.json", "improvement.json", {"--metric", "throughput,p50"});
  ASSERT_EQ(c.run.exit_code(), 0) << c.run.out << c.run.err;
  EXPECT_EQ(rows_with(c.report, "improved"),
            (Rows{{"epoll/pingpong/c10", "throughput"}, {"epoll/pingpong/c10", "p50"}}));
  // Reversed, the improvement is a regression.
  Compared back = compare_files("improvement.json", "base.json", {"--metric", "throughput,p50"});
  EXPECT_EQ(back.run.exit_code(), 1);
  EXPECT_EQ(rows_with(back.report, "regressed"),
            (Rows{{"epoll/pingpong/c10", "throughput"}, {"epoll/pingpong/c10", "p50"}}));
}

TEST(CompareFixtures, PureNoiseStaysQuiet) {
  Compared c = compare_files("base.json", "noise.json");
  ASSERT_EQ(c.run.exit_code(), 0) << c.run.out << c.run.err;
  EXPECT_TRUE(rows_with(c.report, "regressed").empty());
  EXPECT_TRUE(rows_with(c.report, "improved").empty());
  // A +16 % median from overlapping repetitions: beyond the threshold, not significant.
  EXPECT_EQ(rows_with(c.report, "inconclusive"), (Rows{{"thread/pingpong/c10", "p99"}}));
  // With every metric, still no regression.
  EXPECT_EQ(compare_files("base.json", "noise.json", {"--metric", "all"}).run.exit_code(), 0);
}

TEST(CompareFixtures, MissingAndFailingCellsAreListed) {
  Compared c = compare_files("base.json", "missing.json");
  ASSERT_EQ(c.run.exit_code(), 1) << c.run.out << c.run.err;
  EXPECT_EQ(rows_with(c.report, "regressed"), (Rows{{"poll/pingpong/c10", "status"}}));
  EXPECT_EQ(rows_with(c.report, "only_in_base"),
            (Rows{{"thread/pingpong/c10", "status"}, {"select/pingpong/c100", "status"}}));
  EXPECT_EQ(rows_with(c.report, "only_in_new"),
            (Rows{{"thread/pingpong/c10", "status"}, {"epoll/pingpong/c1000", "status"}}));
  EXPECT_NE(c.run.out.find("duration_s 0.5 in base, 1.0 in new"), std::string::npos) << c.run.out;
  EXPECT_NE(c.run.out.find("fails in new in 5 of 5 repetitions: refused connections"),
            std::string::npos);
  EXPECT_EQ(c.report["counts"]["matched_cells"], 2);
}

TEST(CompareFixtures, SingleRepetitionsUseTheThresholdAlone) {
  Compared c = compare_files("single-base.json", "single-new.json");
  ASSERT_EQ(c.run.exit_code(), 1) << c.run.out << c.run.err;
  EXPECT_EQ(rows_with(c.report, "regressed"), (Rows{{"epoll/pingpong/c10", "throughput"}}));
  for (const auto& r : c.report["cells"]) EXPECT_EQ(r["test"], "threshold only");
  EXPECT_NE(c.run.out.find("p \"thr\": 1 repetition a side"), std::string::npos) << c.run.out;
  // A threshold above the -10 % lets it pass.
  EXPECT_EQ(
      compare_files("single-base.json", "single-new.json", {"--threshold", "12%"}).run.exit_code(),
      0);
}

TEST(CompareFixtures, SchemaMismatchAndUnreadableFilesAreInputErrors) {
  Compared v2 = compare_files("base.json", "schema-v2.json");
  EXPECT_EQ(v2.run.exit_code(), 2);
  EXPECT_NE(v2.run.err.find("schema-v2.json: schema_version: 2 is not 1"), std::string::npos)
      << v2.run.err;
  EXPECT_TRUE(v2.report.is_null()) << "no report on an input error";
  Compared gone = compare_files("base.json", "does-not-exist.json");
  EXPECT_EQ(gone.run.exit_code(), 2);
  EXPECT_NE(gone.run.err.find("cannot open"), std::string::npos);
  Compared script = compare_files("base.json", "make_fixtures.py");
  EXPECT_EQ(script.run.exit_code(), 2);
  EXPECT_NE(script.run.err.find("not valid JSON"), std::string::npos);
  // Usage errors.
  EXPECT_EQ(compare_files("base.json", "base.json", {"--metric", "speed"}).run.exit_code(), 2);
  EXPECT_EQ(compare_files("base.json", "base.json", {"--alpha", "1.5"}).run.exit_code(), 2);
  EXPECT_EQ(run_muxbench({"compare", fixture("base.json")}).exit_code(), 2);
}

TEST(CompareFixtures, EnvironmentMismatchIsRefusedUnlessAllowed) {
  Compared c = compare_files("base.json", "other-cpu.json");
  EXPECT_EQ(c.run.exit_code(), 2);
  EXPECT_NE(c.run.err.find("! cpu_model: Intel(R) Xeon(R) Processor (base) vs AMD EPYC 7B13 (new)"),
            std::string::npos)
      << c.run.err;
  EXPECT_NE(c.run.err.find("--allow-env-mismatch"), std::string::npos);
  Compared allowed = compare_files("base.json", "other-cpu.json", {"--allow-env-mismatch"});
  EXPECT_EQ(allowed.run.exit_code(), 0) << allowed.run.err;
  EXPECT_TRUE(allowed.report["environment"]["material"].get<bool>());
  EXPECT_NE(allowed.run.out.find("! cpu_count: 2 (base) vs 8 (new)"), std::string::npos);
}

TEST(CompareFixtures, HelpDocumentsExitStatusAndMetrics) {
  RunResult r = run_muxbench({"compare", "--help"});
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_NE(r.out.find("Exit status: 0 no regression; 1 at least one regression"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("server_cpu_us_per_request"), std::string::npos);
}

}  // namespace
}  // namespace muxbench::harness
