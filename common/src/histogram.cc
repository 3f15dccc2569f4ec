#include "muxbench/histogram.h"

#include <algorithm>
#include <cmath>

namespace muxbench {

void Histogram::record(std::uint64_t v, std::uint64_t n) {
  if (n == 0) return;
  if (v > kHighestTrackable) {
    v = kHighestTrackable;
    clamped_ += n;
  }
  counts_[bucket_index(v)] += n;
  count_ += n;
  sum_ += v * n;
  const double d = static_cast<double>(v);
  sum_sq_ += d * d * static_cast<double>(n);
  if (v < min_) min_ = v;
  if (v > max_) max_ = v;
}

void Histogram::merge(const Histogram& other) {
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  sum_sq_ += other.sum_sq_;
  clamped_ += other.clamped_;
  if (other.min_ < min_) min_ = other.min_;
  if (other.max_ > max_) max_ = other.max_;
}

void Histogram::merge(const Stats& s,
                      const std::vector<std::pair<std::uint32_t, std::uint64_t>>& buckets) {
  if (s.count == 0) return;
  for (const auto& [index, n] : buckets) {
    if (index < kBucketCount) counts_[index] += n;
  }
  count_ += s.count;
  sum_ += s.sum;
  sum_sq_ += s.sum_sq;
  clamped_ += s.clamped;
  if (s.min < min_) min_ = s.min;
  if (s.max > max_) max_ = s.max;
}

void Histogram::reset() {
  if (count_ != 0) std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  sum_ = 0;
  sum_sq_ = 0;
  min_ = std::numeric_limits<std::uint64_t>::max();
  max_ = 0;
  clamped_ = 0;
}

double Histogram::mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_);
}

double Histogram::stdev() const {
  if (count_ == 0) return 0.0;
  const double n = static_cast<double>(count_);
  const double m = static_cast<double>(sum_) / n;
  const double var = sum_sq_ / n - m * m;
  return var > 0 ? std::sqrt(var) : 0.0;  // rounding can make a tiny variance negative
}

std::uint64_t Histogram::percentile(double p) const {
  if (!(p > 0)) return percentile_ppm(0);  // NaN too
  if (p >= 100) return percentile_ppm(kPpm);
  return percentile_ppm(static_cast<std::uint64_t>(std::llround(p * 10'000.0)));
}

std::uint64_t Histogram::percentile_ppm(std::uint64_t ppm) const {
  if (count_ == 0) return 0;
  if (ppm > kPpm) ppm = kPpm;
  // Rank of the wanted value, 1-based, in integers: a double product such as
  // 99.9 / 100.0 * 1000 = 999.0000000000001 would round the rank up past an
  // exact boundary. ppm * count needs up to 84 bits.
  const unsigned __int128 scaled = static_cast<unsigned __int128>(ppm) * count_;
  auto rank = static_cast<std::uint64_t>((scaled + kPpm - 1) / kPpm);
  if (rank < 1) rank = 1;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      std::uint64_t v = bucket_highest(i);
      if (v > max_) v = max_;
      if (v < min_) v = min_;
      return v;
    }
  }
  return max_;
}

std::uint64_t Histogram::bucket_lowest(std::size_t index) {
  if (index < 2 * kSubBuckets) return index;
  const std::size_t shift = index / kSubBuckets - 1;
  const std::uint64_t sub = index - shift * kSubBuckets;  // in [128, 256)
  return sub << shift;
}

std::uint64_t Histogram::bucket_highest(std::size_t index) {
  if (index < 2 * kSubBuckets) return index;
  const std::size_t shift = index / kSubBuckets - 1;
  const std::uint64_t sub = index - shift * kSubBuckets;
  return ((sub + 1) << shift) - 1;
}

}  // namespace muxbench
