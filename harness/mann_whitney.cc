#include "mann_whitney.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>
#include <utility>

namespace muxbench::harness {
namespace {

// Mid-ranks of the pooled values, doubled so that they are integers (a tie
// over positions i..j, 1-based, has mid-rank (i + j) / 2).
struct Ranked {
  std::vector<long> doubled_rank;  // by pooled index: x first, then y
  std::vector<std::size_t> tie_sizes;
};

Ranked rank(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<std::pair<double, std::size_t>> pooled;
  for (std::size_t i = 0; i < x.size(); ++i) pooled.emplace_back(x[i], i);
  for (std::size_t i = 0; i < y.size(); ++i) pooled.emplace_back(y[i], x.size() + i);
  std::sort(pooled.begin(), pooled.end());
  Ranked r;
  r.doubled_rank.resize(pooled.size());
  for (std::size_t i = 0; i < pooled.size();) {
    std::size_t j = i;
    while (j + 1 < pooled.size() && pooled[j + 1].first == pooled[i].first) ++j;
    long doubled = static_cast<long>(i + 1 + j + 1);
    for (std::size_t k = i; k <= j; ++k) r.doubled_rank[pooled[k].second] = doubled;
    r.tie_sizes.push_back(j - i + 1);
    i = j + 1;
  }
  return r;
}

// P(S >= s_obs) and P(S <= s_obs) for S the sum of n1 of the doubled ranks
// drawn without replacement, every subset equally likely: a count of subsets
// by size and sum, one rank at a time. Counts are doubles: C(50, 25) is still
// exact in one, and beyond that only the last bits of a probability move.
std::pair<double, double> exact_tails(const std::vector<long>& doubled, std::size_t n1,
                                      long s_obs) {
  long total = std::accumulate(doubled.begin(), doubled.end(), 0L);
  std::vector<std::vector<double>> count(n1 + 1, std::vector<double>(total + 1, 0.0));
  count[0][0] = 1;
  std::size_t seen = 0;
  for (long r : doubled) {
    ++seen;
    for (std::size_t k = std::min(seen, n1); k >= 1; --k) {
      const auto& from = count[k - 1];
      auto& to = count[k];
      for (long s = total - r; s >= 0; --s) {
        if (from[s] != 0) to[s + r] += from[s];
      }
    }
  }
  double all = 0, ge = 0, le = 0;
  for (long s = 0; s <= total; ++s) {
    double c = count[n1][s];
    all += c;
    if (s >= s_obs) ge += c;
    if (s <= s_obs) le += c;
  }
  return {ge / all, le / all};
}

double normal_upper_tail(double z) {
  return 0.5 * std::erfc(z / std::sqrt(2.0));
}

}  // namespace

MannWhitneyResult mann_whitney(const std::vector<double>& x, const std::vector<double>& y,
                               Alternative alt) {
  MannWhitneyResult res;
  if (x.empty() || y.empty()) return res;
  const std::size_t n1 = x.size(), n2 = y.size(), n = n1 + n2;
  Ranked r = rank(x, y);
  long s_obs = 0;  // doubled rank sum of x
  for (std::size_t i = 0; i < n1; ++i) s_obs += r.doubled_rank[i];
  const double n1d = static_cast<double>(n1), n2d = static_cast<double>(n2);
  res.u = static_cast<double>(s_obs) / 2.0 - n1d * (n1d + 1) / 2.0;

  double p_ge, p_le;  // P(U >= u), P(U <= u)
  if (n <= kExactMaxTotal) {
    res.exact = true;
    std::tie(p_ge, p_le) = exact_tails(r.doubled_rank, n1, s_obs);
  } else {
    const double nd = static_cast<double>(n);
    double ties = 0;
    for (std::size_t t : r.tie_sizes) {
      double td = static_cast<double>(t);
      ties += td * td * td - td;
    }
    const double mean = n1d * n2d / 2.0;
    const double var = n1d * n2d / 12.0 * ((nd + 1) - ties / (nd * (nd - 1)));
    if (var <= 0) {
      p_ge = p_le = 1;  // every value the same
    } else {
      const double sd = std::sqrt(var);
      p_ge = std::min(1.0, normal_upper_tail((res.u - mean - 0.5) / sd));
      p_le = std::min(1.0, normal_upper_tail((mean - res.u - 0.5) / sd));
    }
  }
  switch (alt) {
    case Alternative::kGreater:
      res.p = p_ge;
      break;
    case Alternative::kLess:
      res.p = p_le;
      break;
    case Alternative::kTwoSided:
      res.p = std::min(1.0, 2 * std::min(p_ge, p_le));
      break;
  }
  return res;
}

double mann_whitney_min_p(std::size_t n1, std::size_t n2, Alternative alt) {
  if (n1 == 0 || n2 == 0) return 1;
  // 1 / C(n1 + n2, n1), as a running product to stay in range.
  const std::size_t k = std::min(n1, n2), n = n1 + n2;
  double inv = 1;
  for (std::size_t i = 1; i <= k; ++i) {
    inv *= static_cast<double>(i) / static_cast<double>(n - k + i);
  }
  return alt == Alternative::kTwoSided ? std::min(1.0, 2 * inv) : inv;
}

}  // namespace muxbench::harness
