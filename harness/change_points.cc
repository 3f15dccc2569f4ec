#include "change_points.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace muxbench::harness {
namespace {

// The continued fraction of the regularized incomplete beta function
// (Lentz's method, as in Numerical Recipes' betacf).
double beta_cf(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 300; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < 1e-15) break;
  }
  return h;
}

// I_x(a, b).
double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front =
      std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) +
               b * std::log(1 - x));
  if (x < (a + 1) / (a + b + 2)) return front * beta_cf(a, b, x) / a;
  return 1 - front * beta_cf(b, a, 1 - x) / b;
}

double mean(const double* x, std::size_t n) {
  return std::accumulate(x, x + n, 0.0) / static_cast<double>(n);
}

// The split of [s, e) with the largest E-divisive statistic; both sides at
// least one point. O(n^2) with running sums of the distances.
std::size_t best_split(const std::vector<double>& x, std::size_t s, std::size_t e) {
  const std::size_t n = e - s;
  std::vector<double> row(n, 0.0);  // Σ_j |x_i - x_j| over the whole segment
  double total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) row[i] += std::fabs(x[s + i] - x[s + j]);
    total += row[i];
  }
  total /= 2;  // each pair once
  double within_left = 0, across = 0, best_q = -1;
  std::size_t best = s + 1;
  for (std::size_t m = 1; m < n; ++m) {  // left = first m points
    const std::size_t t = m - 1;         // the point moving from right to left
    double to_left = 0;
    for (std::size_t i = 0; i < t; ++i) to_left += std::fabs(x[s + i] - x[s + t]);
    within_left += to_left;
    across += (row[t] - to_left) - to_left;  // its pairs with the right minus those with the left
    const double within_right = total - within_left - across;
    const double k = static_cast<double>(n - m), l = static_cast<double>(m);
    const double wl = m > 1 ? within_left / (l * (l - 1) / 2) : 0;
    const double wr = n - m > 1 ? within_right / (k * (k - 1) / 2) : 0;
    const double q = (l * k / (l + k)) * (2 * across / (l * k) - wl - wr);
    if (q > best_q) {
      best_q = q;
      best = s + m;
    }
  }
  return best;
}

ChangePoint test_split(const std::vector<double>& x, std::size_t s, std::size_t tau, std::size_t e) {
  ChangePoint c;
  c.index = tau;
  std::vector<double> a(x.begin() + static_cast<long>(s), x.begin() + static_cast<long>(tau));
  std::vector<double> b(x.begin() + static_cast<long>(tau), x.begin() + static_cast<long>(e));
  c.mean_before = mean(a.data(), a.size());
  c.mean_after = mean(b.data(), b.size());
  c.change_pct = c.mean_before != 0 ? (c.mean_after - c.mean_before) / std::fabs(c.mean_before) * 100 : 0;
  c.p = student_t_p(a, b);
  return c;
}

bool passes(const ChangePoint& c, const ChangePointOptions& o) {
  return c.p <= o.max_p && std::fabs(c.change_pct) >= o.min_change_pct;
}

void split(const std::vector<double>& x, std::size_t s, std::size_t e, const ChangePointOptions& o,
           std::vector<std::size_t>& found) {
  if (e - s < 3) return;
  const std::size_t tau = best_split(x, s, e);
  if (!passes(test_split(x, s, tau, e), o)) return;
  found.push_back(tau);
  split(x, s, tau, o, found);
  split(x, tau, e, o, found);
}

}  // namespace

double student_t_p(const std::vector<double>& a, const std::vector<double>& b) {
  const std::size_t na = a.size(), nb = b.size();
  if (na == 0 || nb == 0 || na + nb < 3) return 1;
  const double ma = mean(a.data(), na), mb = mean(b.data(), nb);
  double ss = 0;
  for (double v : a) ss += (v - ma) * (v - ma);
  for (double v : b) ss += (v - mb) * (v - mb);
  const double df = static_cast<double>(na + nb - 2);
  const double var = ss / df * (1.0 / static_cast<double>(na) + 1.0 / static_cast<double>(nb));
  if (var <= 0) return ma == mb ? 1 : 0;
  const double t = (mb - ma) / std::sqrt(var);
  return incomplete_beta(df / 2, 0.5, df / (df + t * t));
}

std::vector<ChangePoint> find_change_points(const std::vector<double>& x,
                                            const ChangePointOptions& o) {
  std::vector<std::size_t> idx;
  split(x, 0, x.size(), o, idx);
  std::sort(idx.begin(), idx.end());
  // Against the neighbours, until stable: drop the weakest failing point.
  for (;;) {
    std::vector<ChangePoint> tested;
    for (std::size_t i = 0; i < idx.size(); ++i) {
      const std::size_t s = i == 0 ? 0 : idx[i - 1];
      const std::size_t e = i + 1 == idx.size() ? x.size() : idx[i + 1];
      tested.push_back(test_split(x, s, idx[i], e));
    }
    std::size_t worst = idx.size();
    for (std::size_t i = 0; i < tested.size(); ++i) {
      if (!passes(tested[i], o) && (worst == idx.size() || tested[i].p > tested[worst].p)) worst = i;
    }
    if (worst == idx.size()) return tested;
    idx.erase(idx.begin() + static_cast<long>(worst));
  }
}

}  // namespace muxbench::harness
