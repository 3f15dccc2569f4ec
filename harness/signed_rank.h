// The statistics of `muxbench compare` beyond Mann-Whitney (mann_whitney.h):
// the Wilcoxon signed-rank test for paired repetitions (A/B runs), the
// confidence intervals that go with both rank tests, and Holm's adjustment
// for testing every cell and metric at once.
//
// Why these: benchmark numbers are skewed and have outliers, so the tests
// are rank tests, exact for the sample sizes CI runs have; the intervals are
// the order statistics the same rank distributions give (R's wilcox.test
// with conf.int = TRUE), so an interval excludes "no change" exactly when
// the two-sided test at the same level is significant; and a gate that
// fails the job on any one of 20-60 rows must bound the chance that any row
// at all is a false alarm (family-wise), not each row's.
#pragma once

#include <cstddef>
#include <vector>

#include "mann_whitney.h"

namespace muxbench::harness {

struct SignedRankResult {
  double w_plus = 0;   // sum of the ranks of |d| over the positive d
  double p = 1;        // for the alternative asked
  std::size_t n = 0;   // the non-zero differences (zeros are dropped, Wilcoxon's method)
  bool exact = false;  // exact distribution (else the normal approximation)
};

// The Wilcoxon signed-rank test of d against 0: kGreater, d tends to be
// positive: p = P(W+ >= w); kLess: p = P(W+ <= w). Exact up to
// kExactMaxTotal non-zero differences, ties in |d| included (the
// distribution of the observed mid-ranks under every sign assignment);
// beyond, the normal approximation with tie and continuity corrections.
SignedRankResult signed_rank(const std::vector<double>& d, Alternative alt);

// The smallest p any n non-zero differences can give: 2^-n one-sided.
double signed_rank_min_p(std::size_t n, Alternative alt);

// A two-sided confidence interval and the level it actually has: with few
// values the exact distributions are coarse, and 95% cannot be reached (5
// pairs: at most 93.75%); the interval is then the widest one, and `level`
// says what it is worth.
struct ConfidenceInterval {
  double lo = 0, hi = 0;
  double level = 0;  // achieved confidence, e.g. 0.9375
  bool valid = false;
};

// For the centre (pseudo-median) of d: the order statistics of the Walsh
// averages (d_i + d_j) / 2, i <= j, at the exact signed-rank quantiles (R's
// wilcox.test(d, conf.int = TRUE) without ties; with ties the level is
// approximate). Normal quantiles above kExactMaxTotal values.
ConfidenceInterval signed_rank_ci(const std::vector<double>& d, double confidence);

// For the shift x - y between two samples: the order statistics of the
// n1·n2 differences x_i - y_j at the exact Mann-Whitney quantiles (R's
// wilcox.test(x, y, conf.int = TRUE) without ties).
ConfidenceInterval shift_ci(const std::vector<double>& x, const std::vector<double>& y,
                            double confidence);

// Holm's step-down adjustment (R's p.adjust(p, "holm")): sorted ascending,
// the i-th smallest (1-based) of m becomes max over j <= i of
// min(1, (m - j + 1) · p_(j)). Rejecting where the adjusted p <= alpha keeps
// the chance of any false rejection <= alpha, whatever the dependence
// between the tests. Same order as the input.
std::vector<double> holm_adjust(const std::vector<double>& p);

}  // namespace muxbench::harness
