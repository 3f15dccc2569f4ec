// Change points in a series of measurements, one per commit (`muxbench
// trend`): where does the level of a metric move, and is the move real?
//
// The method is Hunter's (Fleming et al., "Hunter: Using Change Point
// Detection to Hunt for Performance Regressions", ICPE 2023; now Apache
// Otava), which builds on MongoDB's use of E-divisive means (Matteson and
// James 2014; Daly et al., ICPE 2020):
//   1. locate: in a segment, the split that maximises the E-divisive
//      statistic Q = (m·k / (m + k)) · (2/(m·k)·Σ|x - y| - mean within-left
//      distance - mean within-right distance), with |·| the absolute
//      difference (alpha = 1);
//   2. test: keep the split when Student's two-sample t-test between the
//      left and right segments gives p <= max_p and the means differ by at
//      least min_change (relative); Hunter replaced E-divisive's
//      permutation test with this t-test, which is deterministic and fast;
//   3. recurse into both halves (binary segmentation), then re-test every
//      kept point against its neighbouring segments (bounded by the
//      adjacent change points) and drop those that no longer pass, until
//      none is dropped.
// The t-test pools the variance of both segments, so a segment of one
// point (the newest commit) can be tested against the points before it.
#pragma once

#include <cstddef>
#include <vector>

namespace muxbench::harness {

struct ChangePointOptions {
  double max_p = 0.001;        // Hunter's default
  double min_change_pct = 5;   // relative change of the segment means
};

struct ChangePoint {
  std::size_t index = 0;       // the first point of the new level
  double mean_before = 0, mean_after = 0;  // of the neighbouring segments
  double change_pct = 0;       // (after - before) / |before| · 100
  double p = 1;                // of the t-test against the neighbours
};

std::vector<ChangePoint> find_change_points(const std::vector<double>& x,
                                            const ChangePointOptions& o = {});

// Student's two-sample t-test with pooled variance, two-sided p (SciPy's
// ttest_ind(a, b, equal_var=True)). 1 when it cannot be computed.
double student_t_p(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace muxbench::harness
