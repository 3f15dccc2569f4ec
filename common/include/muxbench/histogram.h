// A log-linear histogram of non-negative integer values (nanoseconds, in
// practice), in the manner of HdrHistogram: constant *relative* precision over
// a wide range at a fixed, small memory cost, cheap enough to record every
// request, and mergeable (wrk2 keeps one per thread and merges after join).
//
// Layout. Values below 2 * kSubBuckets (256) get one bucket each (exact).
// Above, every power-of-two range [2^m, 2^(m+1)) is split into kSubBuckets
// (128) equal buckets, so a bucket is at most 1/128 (0.78%) as wide as the
// values it holds: any value reported from a bucket (its highest equivalent
// value) is within 0.78% of every value recorded into it. The layout covers
// 0 .. kHighestTrackable (2^40 - 1 ns, about 18 minutes); larger values are
// clamped to it and counted in clamped(). 4352 buckets, 34 KiB.
//
// Exact side statistics: count, min, max, sum and sum of squares, so mean and
// standard deviation carry no bucketing error (when merged from buckets only,
// see record(value, n), they carry at most the 0.78%).
//
// Merging across runs: a bucket is identified by any value in it, and the
// serialised form lists (bucket_highest(i), count) pairs. record(v, n) of those
// pairs into a fresh Histogram rebuilds exactly the same bucket counts, so
// histograms saved by different runs (docs/results.md) can be summed.
//
// Not thread-safe: one per thread, merge() after join.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace muxbench {

class Histogram {
 public:
  static constexpr int kSubBucketBits = 7;
  static constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << kSubBucketBits;  // 128
  static constexpr int kHighestBits = 40;
  static constexpr std::uint64_t kHighestTrackable = (std::uint64_t{1} << kHighestBits) - 1;
  // Group 0 holds [0, 128) exactly; group g >= 1 holds [128 << (g-1), 128 << g)
  // in 128 buckets of width 2^(g-1).
  static constexpr std::size_t kBucketCount =
      static_cast<std::size_t>(kHighestBits - kSubBucketBits + 1) * kSubBuckets;  // 4352
  // Upper bound on |reported - recorded| / recorded for any recorded value.
  static constexpr double kRelativeError = 1.0 / static_cast<double>(kSubBuckets);
  // Percentiles are given in parts per million (see percentile_ppm).
  static constexpr std::uint64_t kPpm = 1'000'000;

  Histogram() : counts_(kBucketCount, 0) {}

  // Records one value. Hot path: a count-leading-zeros, an increment and the
  // side statistics; no allocation.
  void record(std::uint64_t v) {
    if (v > kHighestTrackable) {
      v = kHighestTrackable;
      ++clamped_;
    }
    ++counts_[bucket_index(v)];
    ++count_;
    sum_ += v;
    const double d = static_cast<double>(v);
    sum_sq_ += d * d;
    if (v < min_) min_ = v;
    if (v > max_) max_ = v;
  }

  // Records n occurrences of v (n == 0 is a no-op).
  void record(std::uint64_t v, std::uint64_t n);

  // Adds every count of `other` (same layout by construction).
  void merge(const Histogram& other);

  // The exact side statistics: with the non-empty buckets, the whole state.
  // For shipping a histogram to another process (muxbench-loadgen under
  // mpirun) and merging it there exactly with merge(stats, buckets).
  struct Stats {
    std::uint64_t count = 0;
    std::uint64_t sum = 0;
    double sum_sq = 0;
    std::uint64_t min = std::numeric_limits<std::uint64_t>::max();  // max() of uint64 when empty
    std::uint64_t max = 0;
    std::uint64_t clamped = 0;
  };
  Stats stats() const { return {count_, sum_, sum_sq_, min_, max_, clamped_}; }

  // merge() of a histogram known by its stats() and its non-empty buckets as
  // (bucket index, count) pairs: the same result as merging the histogram.
  void merge(const Stats& s, const std::vector<std::pair<std::uint32_t, std::uint64_t>>& buckets);

  // Back to empty (keeps the memory).
  void reset();

  std::uint64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  // Exact. min() and max() are 0 when empty.
  std::uint64_t min() const { return count_ == 0 ? 0 : min_; }
  std::uint64_t max() const { return max_; }
  std::uint64_t sum() const { return sum_; }
  double mean() const;    // 0 when empty
  double stdev() const;   // population standard deviation; 0 when empty
  std::uint64_t clamped() const { return clamped_; }

  // The smallest recorded value v such that at least a fraction ppm / 10^6
  // of the recorded values are <= v (nearest rank: rank = ceil(ppm * count /
  // 10^6), at least 1, computed in integers), reported as the highest value
  // of v's bucket (never above max(), never below min()). ppm in [0, 10^6],
  // larger is taken as 10^6; 0 when empty.
  std::uint64_t percentile_ppm(std::uint64_t ppm) const;

  // The same with p in percent, taken to a millionth: p * 10^4 rounded to the
  // nearest integer is the ppm (99.9 -> 999,000 exactly, so p99.9 of 1,000
  // values is the 999th). p is clamped to [0, 100]; NaN counts as 0.
  std::uint64_t percentile(double p) const;

  // Bucket geometry.
  static std::size_t bucket_index(std::uint64_t v) {
    if (v < 2 * kSubBuckets) return static_cast<std::size_t>(v);
    const int msb = 63 - __builtin_clzll(v);
    const int shift = msb - kSubBucketBits;  // >= 1 here
    return static_cast<std::size_t>(shift) * kSubBuckets + static_cast<std::size_t>(v >> shift);
  }
  static std::uint64_t bucket_lowest(std::size_t index);
  static std::uint64_t bucket_highest(std::size_t index);

  std::uint64_t bucket_count(std::size_t index) const { return counts_[index]; }

  // Calls f(index, count) for every non-empty bucket, in increasing order.
  template <typename F>
  void for_each_bucket(F&& f) const {
    for (std::size_t i = 0; i < kBucketCount; ++i) {
      if (counts_[i] != 0) f(i, counts_[i]);
    }
  }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  double sum_sq_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
  std::uint64_t clamped_ = 0;
};

}  // namespace muxbench
