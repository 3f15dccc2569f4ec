#include "signed_rank.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

namespace muxbench::harness {
namespace {

// The two-sided 97.5% normal quantile, for the approximate intervals.
constexpr double kZ975 = 1.959963984540054;

double normal_upper_tail(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

// Counts of every subset sum of `values` (non-negative integers): entry s is
// the number of subsets summing to s. Doubles hold 2^50 exactly.
std::vector<double> subset_sum_counts(const std::vector<long>& values) {
  long total = std::accumulate(values.begin(), values.end(), 0L);
  std::vector<double> count(static_cast<std::size_t>(total) + 1, 0.0);
  count[0] = 1;
  long reach = 0;
  for (long v : values) {
    reach += v;
    for (long s = reach; s >= v; --s) count[s] += count[s - v];
  }
  return count;
}

// P(X <= q) from counts.
double cdf(const std::vector<double>& count, long q) {
  double all = 0, le = 0;
  for (std::size_t s = 0; s < count.size(); ++s) {
    all += count[s];
    if (static_cast<long>(s) <= q) le += count[s];
  }
  return le / all;
}

// The smallest q with P(X <= q) >= p (R's qsignrank / qwilcox).
long quantile(const std::vector<double>& count, double p) {
  double all = std::accumulate(count.begin(), count.end(), 0.0);
  double acc = 0;
  for (std::size_t s = 0; s < count.size(); ++s) {
    acc += count[s];
    if (acc / all >= p * (1 - 1e-12)) return static_cast<long>(s);
  }
  return static_cast<long>(count.size()) - 1;
}

// Counts of the Mann-Whitney U statistic for samples of n1 and n2 without
// ties: subsets of n1 of the ranks 1..n1+n2 by rank sum, shifted to U.
std::vector<double> mann_whitney_counts(std::size_t n1, std::size_t n2) {
  const std::size_t n = n1 + n2;
  const long max_sum = static_cast<long>(n * (n + 1) / 2);
  std::vector<std::vector<double>> count(n1 + 1, std::vector<double>(max_sum + 1, 0.0));
  count[0][0] = 1;
  for (std::size_t r = 1; r <= n; ++r) {
    for (std::size_t k = std::min(r, n1); k >= 1; --k) {
      for (long s = max_sum - static_cast<long>(r); s >= 0; --s) {
        if (count[k - 1][s] != 0) count[k][s + static_cast<long>(r)] += count[k - 1][s];
      }
    }
  }
  const long offset = static_cast<long>(n1 * (n1 + 1) / 2);
  std::vector<double> u(n1 * n2 + 1, 0.0);
  for (long s = offset; s <= max_sum; ++s) {
    if (s - offset < static_cast<long>(u.size())) u[static_cast<std::size_t>(s - offset)] = count[n1][s];
  }
  return u;
}

// The interval from sorted candidate values (Walsh averages or pairwise
// differences) and the rank quantile qu (1-based, R's convention), with
// `n_values` candidates and `max_stat` the statistic's largest value.
ConfidenceInterval order_statistic_ci(std::vector<double> values, long qu, double level) {
  std::sort(values.begin(), values.end());
  ConfidenceInterval ci;
  const long m = static_cast<long>(values.size());
  if (m == 0) return ci;
  qu = std::clamp(qu, 1L, m);
  const long ql = m - qu;  // R: c(diffs[qu], diffs[ql + 1]), 1-based
  ci.lo = values[static_cast<std::size_t>(qu - 1)];
  ci.hi = values[static_cast<std::size_t>(std::clamp(ql, 0L, m - 1))];
  if (ci.lo > ci.hi) std::swap(ci.lo, ci.hi);
  ci.level = level;
  ci.valid = true;
  return ci;
}

}  // namespace

SignedRankResult signed_rank(const std::vector<double>& d, Alternative alt) {
  SignedRankResult res;
  std::vector<std::pair<double, bool>> nz;  // |d|, positive
  for (double x : d) {
    if (x != 0 && std::isfinite(x)) nz.emplace_back(std::fabs(x), x > 0);
  }
  std::sort(nz.begin(), nz.end());
  res.n = nz.size();
  if (nz.empty()) return res;
  // Doubled mid-ranks of |d|, and the tie sizes.
  std::vector<long> doubled(nz.size());
  double ties = 0;
  for (std::size_t i = 0; i < nz.size();) {
    std::size_t j = i;
    while (j + 1 < nz.size() && nz[j + 1].first == nz[i].first) ++j;
    for (std::size_t k = i; k <= j; ++k) doubled[k] = static_cast<long>(i + 1 + j + 1);
    const double t = static_cast<double>(j - i + 1);
    ties += t * t * t - t;
    i = j + 1;
  }
  long w2 = 0;  // doubled W+
  for (std::size_t i = 0; i < nz.size(); ++i) {
    if (nz[i].second) w2 += doubled[i];
  }
  res.w_plus = static_cast<double>(w2) / 2;
  double p_ge, p_le;
  if (res.n <= kExactMaxTotal) {
    res.exact = true;
    std::vector<double> count = subset_sum_counts(doubled);
    p_le = cdf(count, w2);
    p_ge = 1 - cdf(count, w2 - 1);
  } else {
    const double n = static_cast<double>(res.n);
    const double mean = n * (n + 1) / 4;
    const double var = n * (n + 1) * (2 * n + 1) / 24 - ties / 48;
    if (var <= 0) return res;
    const double sd = std::sqrt(var);
    p_ge = std::min(1.0, normal_upper_tail((res.w_plus - mean - 0.5) / sd));
    p_le = std::min(1.0, normal_upper_tail((mean - res.w_plus - 0.5) / sd));
  }
  p_ge = std::clamp(p_ge, 0.0, 1.0);
  p_le = std::clamp(p_le, 0.0, 1.0);
  switch (alt) {
    case Alternative::kGreater: res.p = p_ge; break;
    case Alternative::kLess: res.p = p_le; break;
    case Alternative::kTwoSided: res.p = std::min(1.0, 2 * std::min(p_ge, p_le)); break;
  }
  return res;
}

double signed_rank_min_p(std::size_t n, Alternative alt) {
  if (n == 0) return 1;
  const double one = std::pow(0.5, static_cast<double>(n));
  return alt == Alternative::kTwoSided ? std::min(1.0, 2 * one) : one;
}

ConfidenceInterval signed_rank_ci(const std::vector<double>& d, double confidence) {
  const std::size_t n = d.size();
  if (n == 0) return {};
  std::vector<double> walsh;
  walsh.reserve(n * (n + 1) / 2);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i; j < n; ++j) walsh.push_back((d[i] + d[j]) / 2);
  }
  const double alpha = 1 - confidence;
  if (n <= kExactMaxTotal) {
    std::vector<long> ranks(n);
    std::iota(ranks.begin(), ranks.end(), 1L);
    std::vector<double> count = subset_sum_counts(ranks);
    long qu = quantile(count, alpha / 2);
    if (qu == 0) qu = 1;
    const double level = 1 - 2 * cdf(count, qu - 1);
    return order_statistic_ci(std::move(walsh), qu, level);
  }
  const double nd = static_cast<double>(n);
  const double mean = nd * (nd + 1) / 4, sd = std::sqrt(nd * (nd + 1) * (2 * nd + 1) / 24);
  const long qu = std::max(1L, static_cast<long>(std::floor(mean - kZ975 * sd)));
  return order_statistic_ci(std::move(walsh), qu, confidence);
}

ConfidenceInterval shift_ci(const std::vector<double>& x, const std::vector<double>& y,
                            double confidence) {
  const std::size_t n1 = x.size(), n2 = y.size();
  if (n1 == 0 || n2 == 0) return {};
  std::vector<double> diffs;
  diffs.reserve(n1 * n2);
  for (double a : x) {
    for (double b : y) diffs.push_back(a - b);
  }
  const double alpha = 1 - confidence;
  if (n1 + n2 <= kExactMaxTotal) {
    std::vector<double> count = mann_whitney_counts(n1, n2);
    long qu = quantile(count, alpha / 2);
    if (qu == 0) qu = 1;
    const double level = 1 - 2 * cdf(count, qu - 1);
    return order_statistic_ci(std::move(diffs), qu, level);
  }
  const double a = static_cast<double>(n1), b = static_cast<double>(n2);
  const double mean = a * b / 2, sd = std::sqrt(a * b * (a + b + 1) / 12);
  const long qu = std::max(1L, static_cast<long>(std::floor(mean - kZ975 * sd)));
  return order_statistic_ci(std::move(diffs), qu, confidence);
}

std::vector<double> holm_adjust(const std::vector<double>& p) {
  const std::size_t m = p.size();
  std::vector<std::size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] < p[b]; });
  std::vector<double> adj(m);
  double running = 0;
  for (std::size_t i = 0; i < m; ++i) {
    const double v = std::min(1.0, static_cast<double>(m - i) * p[order[i]]);
    running = std::max(running, v);
    adj[order[i]] = running;
  }
  return adj;
}

}  // namespace muxbench::harness
