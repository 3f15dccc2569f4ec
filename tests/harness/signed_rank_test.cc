// The statistics of the gate (signed_rank.h) against R 4.2.2's published
// values: wilcox.test (exact signed-rank p-values, the normal approximation
// with tie and continuity corrections, conf.int = TRUE in both the one- and
// two-sample forms) and p.adjust(p, "holm"). The R script that printed every
// number below is tests/harness/reference/signed_rank.R
// (Rscript signed_rank.R); nothing here needs R at run time. Ties, which R
// leaves to the normal approximation, are checked against brute-force
// enumeration of every sign assignment.
#include "signed_rank.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace muxbench::harness {
namespace {

TEST(SignedRank, ExactMatchesR) {
  // wilcox.test(d, alternative = ..., exact = TRUE): V = 1.
  const std::vector<double> d = {-0.12, -0.05, -0.31, 0.02, -0.08, -0.22, -0.15};
  auto less = signed_rank(d, Alternative::kLess);
  EXPECT_TRUE(less.exact);
  EXPECT_DOUBLE_EQ(less.w_plus, 1);
  EXPECT_NEAR(less.p, 0.015625, 1e-12);
  EXPECT_NEAR(signed_rank(d, Alternative::kGreater).p, 0.9921875, 1e-12);
  EXPECT_NEAR(signed_rank(d, Alternative::kTwoSided).p, 0.03125, 1e-12);
  // Five pairs all one way: V = 15, p = 1/32, the smallest there is.
  auto five = signed_rank({0.03, 0.011, 0.052, 0.027, 0.04}, Alternative::kGreater);
  EXPECT_DOUBLE_EQ(five.w_plus, 15);
  EXPECT_NEAR(five.p, 0.03125, 1e-12);
  EXPECT_DOUBLE_EQ(five.p, signed_rank_min_p(5, Alternative::kGreater));
  EXPECT_DOUBLE_EQ(signed_rank_min_p(5, Alternative::kTwoSided), 0.0625);
  // Two-sided, n = 12: p-value = 0.04248046875.
  const std::vector<double> d12 = {0.8, -1.3, 2.1, 0.45, 1.7, -0.2, 0.95, 1.15, 3.2, -0.6, 1.4, 0.3};
  EXPECT_NEAR(signed_rank(d12, Alternative::kTwoSided).p, 0.04248046875, 1e-12);
}

TEST(SignedRank, NormalApproximationMatchesR) {
  // set.seed(1); round(rnorm(60, 0.1, 1), 3): one tie (0.72, -0.72);
  // wilcox.test(dl, alternative = "greater", exact = FALSE, correct = TRUE).
  const std::vector<double> dl = {
      -0.526, 0.284,  -0.736, 1.695,  0.43,   -0.72,  0.587,  0.838,  0.676,  -0.205,
      1.612,  0.49,   -0.521, -2.115, 1.225,  0.055,  0.084,  1.044,  0.921,  0.694,
      1.019,  0.882,  0.175,  -1.889, 0.72,   0.044,  -0.056, -1.371, -0.378, 0.518,
      1.459,  -0.003, 0.488,  0.046,  -1.277, -0.315, -0.294, 0.041,  1.2,    0.863,
      -0.065, -0.153, 0.797,  0.657,  -0.589, -0.607, 0.465,  0.869,  -0.012, 0.981,
      0.498,  -0.512, 0.441,  -1.029, 1.533,  2.08,   -0.267, -0.944, 0.67,   -0.035};
  auto r = signed_rank(dl, Alternative::kGreater);
  EXPECT_FALSE(r.exact);
  EXPECT_DOUBLE_EQ(r.w_plus, 1186.5);
  EXPECT_NEAR(r.p, 0.023021376092153146, 1e-9);
}

// Every assignment of signs to the observed |d|, counted directly.
double brute_force_p_greater(const std::vector<double>& d) {
  std::vector<double> a;
  for (double x : d) {
    if (x != 0) a.push_back(std::fabs(x));
  }
  auto w_plus = [&](unsigned mask) {
    double w = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!(mask >> i & 1u)) continue;
      double rank = 1;  // mid-rank of a[i] among all |d|
      int equal = 0;
      for (std::size_t j = 0; j < a.size(); ++j) {
        rank += a[j] < a[i];
        equal += a[j] == a[i];
      }
      w += rank + (equal - 1) / 2.0;
    }
    return w;
  };
  unsigned observed = 0;
  for (std::size_t i = 0, k = 0; i < d.size(); ++i) {
    if (d[i] == 0) continue;
    if (d[i] > 0) observed |= 1u << k;
    ++k;
  }
  const double w_obs = w_plus(observed);
  double all = 0, ge = 0;
  for (unsigned mask = 0; mask < (1u << a.size()); ++mask) {
    ++all;
    ge += w_plus(mask) >= w_obs - 1e-9;
  }
  return ge / all;
}

TEST(SignedRank, TiesAndZerosAgreeWithBruteForce) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 80; ++trial) {
    std::vector<double> d;
    const std::size_t n = 1 + rng() % 10;
    for (std::size_t i = 0; i < n; ++i) d.push_back(static_cast<double>(rng() % 7) - 3);
    SCOPED_TRACE("trial " + std::to_string(trial));
    auto r = signed_rank(d, Alternative::kGreater);
    if (r.n == 0) {
      EXPECT_DOUBLE_EQ(r.p, 1);
      continue;
    }
    EXPECT_NEAR(r.p, brute_force_p_greater(d), 1e-12);
    std::vector<double> neg;
    for (double x : d) neg.push_back(-x);
    EXPECT_NEAR(signed_rank(d, Alternative::kLess).p, signed_rank(neg, Alternative::kGreater).p, 1e-12);
  }
}

TEST(ConfidenceIntervals, SignedRankMatchesR) {
  // wilcox.test(d, conf.int = TRUE): -0.23 .. -0.03 at 95%.
  auto ci = signed_rank_ci({-0.12, -0.05, -0.31, 0.02, -0.08, -0.22, -0.15}, 0.95);
  ASSERT_TRUE(ci.valid);
  EXPECT_NEAR(ci.lo, -0.23, 1e-12);
  EXPECT_NEAR(ci.hi, -0.03, 1e-12);
  EXPECT_GE(ci.level, 0.95);
  // n = 12: 0.05 .. 1.625.
  auto ci12 = signed_rank_ci({0.8, -1.3, 2.1, 0.45, 1.7, -0.2, 0.95, 1.15, 3.2, -0.6, 1.4, 0.3}, 0.95);
  EXPECT_NEAR(ci12.lo, 0.05, 1e-12);
  EXPECT_NEAR(ci12.hi, 1.625, 1e-12);
  // Five pairs cannot reach 95%: the widest interval, min .. max, at 1 - 2/32.
  auto ci5 = signed_rank_ci({0.03, 0.011, 0.052, 0.027, 0.04}, 0.95);
  EXPECT_NEAR(ci5.lo, 0.011, 1e-12);
  EXPECT_NEAR(ci5.hi, 0.052, 1e-12);
  EXPECT_NEAR(ci5.level, 0.9375, 1e-12);
}

TEST(ConfidenceIntervals, ShiftMatchesR) {
  // wilcox.test(x, y, conf.int = TRUE) on R's permeability example.
  const std::vector<double> x = {0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46};
  const std::vector<double> y = {1.15, 0.88, 0.90, 0.74, 1.21};
  auto ci = shift_ci(x, y, 0.95);
  ASSERT_TRUE(ci.valid);
  EXPECT_NEAR(ci.lo, -0.15, 1e-12);
  EXPECT_NEAR(ci.hi, 0.76, 1e-12);
  EXPECT_GE(ci.level, 0.95);
  auto ci76 = shift_ci({19.1, 20.3, 18.7, 21.0, 19.9, 20.4, 22.2}, {23.5, 21.9, 24.0, 22.8, 25.1, 23.3}, 0.95);
  EXPECT_NEAR(ci76.lo, -4.8, 1e-9);
  EXPECT_NEAR(ci76.hi, -1.6, 1e-9);
  // 3 vs 3: R warns "requested conf.level not achievable" and gives -13 .. -7 at 90%.
  auto ci33 = shift_ci({90, 91, 89}, {100, 102, 98}, 0.95);
  EXPECT_NEAR(ci33.lo, -13, 1e-12);
  EXPECT_NEAR(ci33.hi, -7, 1e-12);
  EXPECT_NEAR(ci33.level, 0.9, 1e-12);
}

TEST(Holm, MatchesRsPAdjust) {
  auto a = holm_adjust({0.01, 0.04, 0.03, 0.005, 0.2, 0.04, 0.5});
  const std::vector<double> ra = {0.06, 0.16, 0.15, 0.035, 0.4, 0.16, 0.5};
  ASSERT_EQ(a.size(), ra.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], ra[i], 1e-12) << i;
  auto b = holm_adjust({0.0002, 0.009, 0.013, 0.021, 0.04, 0.051, 0.3, 0.77, 0.0011, 0.0049});
  const std::vector<double> rb = {0.002, 0.063, 0.078, 0.105, 0.16, 0.16, 0.6, 0.77, 0.0099, 0.0392};
  for (std::size_t i = 0; i < b.size(); ++i) EXPECT_NEAR(b[i], rb[i], 1e-12) << i;
  EXPECT_TRUE(holm_adjust({}).empty());
  EXPECT_DOUBLE_EQ(holm_adjust({0.3})[0], 0.3);
}

}  // namespace
}  // namespace muxbench::harness
