// The Mann-Whitney U test (Wilcoxon rank-sum), as `muxbench compare` uses it
// to tell a real change between two sets of repetitions from noise.
//
// U of x is the number of pairs (x_i, y_j) with x_i > y_j, ties counting one
// half; it ranges from 0 to n1·n2. Small samples (n1 + n2 <= kExactMaxTotal,
// which covers every CI run of 3 to 10 repetitions a side) get the exact
// permutation distribution of U. Ties are exact too: the distribution is the
// one of the sum of the observed mid-ranks over every way of splitting them
// into groups of n1 and n2, not the no-ties table (which is what most
// libraries fall back to). Larger samples use the normal approximation with
// the tie correction of the variance and a continuity correction of 1/2.
#pragma once

#include <cstddef>
#include <vector>

namespace muxbench::harness {

// The alternative hypothesis, for x against y.
enum class Alternative {
  kGreater,   // x tends to be larger than y: p = P(U >= u)
  kLess,      // x tends to be smaller than y: p = P(U <= u)
  kTwoSided,  // either: p = min(1, 2 · min(P(U >= u), P(U <= u)))
};

struct MannWhitneyResult {
  double u = 0;        // U of x
  double p = 1;        // the p-value for the alternative asked
  bool exact = false;  // exact distribution (else the normal approximation)
};

// Exact distribution up to this many values in total.
inline constexpr std::size_t kExactMaxTotal = 50;

// Both samples must be non-empty; p is 1 otherwise.
MannWhitneyResult mann_whitney(const std::vector<double>& x, const std::vector<double>& y,
                               Alternative alt);

// The smallest p-value any data of these sizes can give (the most extreme
// ranking, without ties): 1 / C(n1 + n2, n1) one-sided, twice that
// two-sided. When it exceeds alpha, the test cannot ever find a difference
// with so few values, and a caller must not pretend it tried.
double mann_whitney_min_p(std::size_t n1, std::size_t n2, Alternative alt);

}  // namespace muxbench::harness
