#include "muxbench/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace muxbench {
namespace {

// The oracle, independent of Histogram's rank arithmetic: the smallest value v
// of the sample such that at least p of the values are <= v, where p is given
// exactly in parts per million (p = ppm / 10^6), and "at least" is decided by
// comparing integers: #{x <= v} * 10^6 >= ppm * n. For ppm == 0 that is the
// minimum (the smallest value has at least 0% at or below it).
std::uint64_t exact_percentile_ppm(std::vector<std::uint64_t> sorted, std::uint64_t ppm) {
  std::sort(sorted.begin(), sorted.end());
  const unsigned __int128 want = static_cast<unsigned __int128>(ppm) * sorted.size();
  for (auto it = sorted.begin(); it != sorted.end();) {
    auto last = std::upper_bound(it, sorted.end(), *it);  // every copy of *it
    const auto at_or_below = static_cast<std::uint64_t>(last - sorted.begin());
    if (static_cast<unsigned __int128>(at_or_below) * 1'000'000 >= want) return *it;
    it = last;
  }
  return sorted.back();
}

// The percentiles the load generator reports, as the doubles it passes and
// the exact parts per million they stand for.
struct P {
  double percent;
  std::uint64_t ppm;
};
constexpr P kPercentiles[] = {{0.0, 0},          {1.0, 10'000},     {25.0, 250'000},
                              {50.0, 500'000},   {90.0, 900'000},   {99.0, 990'000},
                              {99.9, 999'000},   {99.99, 999'900}, {99.999, 999'990},
                              {100.0, 1'000'000}};

void expect_within_relative_error(std::uint64_t got, std::uint64_t want, const char* what) {
  const double err = std::fabs(static_cast<double>(got) - static_cast<double>(want)) /
                     static_cast<double>(std::max<std::uint64_t>(want, 1));
  EXPECT_LE(err, Histogram::kRelativeError) << what << ": got " << got << ", want " << want;
  EXPECT_LT(Histogram::kRelativeError, 0.01);
}

void check_sample(const std::vector<std::uint64_t>& values) {
  Histogram h;
  for (auto v : values) h.record(v);
  ASSERT_EQ(h.count(), values.size());
  for (const P& p : kPercentiles) {
    const auto want = exact_percentile_ppm(values, p.ppm);
    const auto got = h.percentile(p.percent);
    expect_within_relative_error(got, want, ("p" + std::to_string(p.percent)).c_str());
    // Reported as the top of the bucket: never below the exact value.
    EXPECT_GE(got, want) << "p" << p.percent;
    EXPECT_EQ(h.percentile_ppm(p.ppm), got) << "p" << p.percent;
  }
  EXPECT_EQ(h.min(), *std::min_element(values.begin(), values.end()));
  EXPECT_EQ(h.max(), *std::max_element(values.begin(), values.end()));
  EXPECT_EQ(h.percentile(100), h.max());

  long double sum = 0;
  for (auto v : values) sum += static_cast<long double>(v);
  const long double mean = sum / static_cast<long double>(values.size());
  long double ss = 0;
  for (auto v : values) ss += (static_cast<long double>(v) - mean) * (static_cast<long double>(v) - mean);
  const double stdev = static_cast<double>(std::sqrt(ss / static_cast<long double>(values.size())));
  EXPECT_NEAR(h.mean(), static_cast<double>(mean), static_cast<double>(mean) * 1e-9);
  EXPECT_NEAR(h.stdev(), stdev, stdev * 1e-6 + 1e-6);
}

TEST(Histogram, EmptyReportsZeros) {
  Histogram h;
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.stdev(), 0.0);
  int buckets = 0;
  h.for_each_bucket([&](std::size_t, std::uint64_t) { ++buckets; });
  EXPECT_EQ(buckets, 0);
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (std::uint64_t v = 0; v < 256; ++v) h.record(v);
  for (std::uint64_t v = 0; v < 256; ++v) {
    EXPECT_EQ(Histogram::bucket_index(v), v);
    EXPECT_EQ(h.bucket_count(v), 1u);
  }
  EXPECT_EQ(h.percentile(50), 127u);
}

// Every bucket from 1 us to 100 s (and beyond, to the trackable limit) is at
// most 1% wide relative to its values, the buckets tile the range without
// gaps, and every value maps into the bucket whose bounds contain it.
TEST(Histogram, BucketGeometryHoldsOnePercentEverywhere) {
  std::uint64_t expect_low = 0;
  for (std::size_t i = 0; i < Histogram::kBucketCount; ++i) {
    const auto lo = Histogram::bucket_lowest(i);
    const auto hi = Histogram::bucket_highest(i);
    ASSERT_EQ(lo, expect_low) << "gap before bucket " << i;
    ASSERT_LE(lo, hi);
    ASSERT_EQ(Histogram::bucket_index(lo), i);
    ASSERT_EQ(Histogram::bucket_index(hi), i);
    if (lo > 0) {
      ASSERT_LE(static_cast<double>(hi - lo) / static_cast<double>(lo), Histogram::kRelativeError)
          << "bucket " << i;
    }
    expect_low = hi + 1;
  }
  EXPECT_EQ(expect_low - 1, Histogram::kHighestTrackable);
  EXPECT_GE(Histogram::kHighestTrackable, std::uint64_t{100} * 1000 * 1000 * 1000);  // 100 s in ns

  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> logu(std::log(1e3), std::log(1e11));  // 1 us .. 100 s
  for (int k = 0; k < 200000; ++k) {
    auto v = static_cast<std::uint64_t>(std::exp(logu(rng)));
    const auto i = Histogram::bucket_index(v);
    ASSERT_LE(Histogram::bucket_lowest(i), v);
    ASSERT_GE(Histogram::bucket_highest(i), v);
    ASSERT_LE(static_cast<double>(Histogram::bucket_highest(i) - v) / static_cast<double>(v),
              Histogram::kRelativeError);
  }
}

TEST(Histogram, UniformDistribution) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t x = 1; x <= 100000; ++x) v.push_back(x * 1000);  // 1 us .. 100 ms
  check_sample(v);
  Histogram h;
  for (auto x : v) h.record(x);
  // Closed forms: the median of 1..n us, the 99th percentile.
  expect_within_relative_error(h.percentile(50), 50000 * 1000, "uniform p50");
  expect_within_relative_error(h.percentile(99), 99000 * 1000, "uniform p99");
}

TEST(Histogram, ExponentialDistribution) {
  std::mt19937_64 rng(42);
  std::exponential_distribution<double> exp_dist(1.0 / 50000.0);  // mean 50 us
  std::vector<std::uint64_t> v;
  for (int i = 0; i < 500000; ++i) v.push_back(1000 + static_cast<std::uint64_t>(exp_dist(rng)));
  check_sample(v);
  Histogram h;
  for (auto x : v) h.record(x);
  // Median of 1 us + Exp(mean 50 us) is 1 us + 50 us * ln 2 (sampling noise ~0.3%).
  EXPECT_NEAR(static_cast<double>(h.percentile(50)), 1000 + 50000 * std::log(2.0), 600);
}

TEST(Histogram, LogNormalTailAcrossManyDecades) {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> ln(std::log(20000.0), 2.0);  // 20 us median, fat tail
  std::vector<std::uint64_t> v;
  for (int i = 0; i < 300000; ++i) {
    v.push_back(std::min<std::uint64_t>(static_cast<std::uint64_t>(ln(rng)) + 1000,
                                        std::uint64_t{100} * 1000 * 1000 * 1000));
  }
  check_sample(v);
}

// Percentile ranks are decided in integers: with 999 values of 1 us and one
// of 1 s, 99.9% of 1,000 is exactly 999 values, so p99.9 is 1 us. (Computed
// as ceil(99.9 / 100.0 * 1000) in doubles the rank came out as 1,000: 1 s.)
TEST(Histogram, NinetyNinePointNineOfAThousandIsExact) {
  std::vector<std::uint64_t> v(999, 1000);
  v.push_back(1'000'000'000);
  Histogram h;
  for (auto x : v) h.record(x);
  EXPECT_EQ(exact_percentile_ppm(v, 999'000), 1000u);
  const std::uint64_t top_of_1000 = Histogram::bucket_highest(Histogram::bucket_index(1000));
  EXPECT_EQ(h.percentile(99.9), top_of_1000);
  EXPECT_EQ(h.percentile_ppm(999'000), top_of_1000);
  EXPECT_EQ(h.percentile(99.91), 1'000'000'000u);  // 999.1 values: the 1,000th
  EXPECT_EQ(h.percentile_ppm(999'001), 1'000'000'000u);
  check_sample(v);
}

// Every count from 1 to 3,000 at the usual percentiles, at the exact rank
// boundary: a sample of k values 1 and n - k values 2 has percentile 1 when
// k of n is at least p (k * 10^6 >= ppm * n, the definition), 2 otherwise;
// k sweeps the neighbourhood of p * n, so a rank off by one either way shows.
TEST(Histogram, RanksAreExactForEveryCountAtTheUsualPercentiles) {
  for (std::uint64_t n = 1; n <= 3000; ++n) {
    for (const P& p : kPercentiles) {
      const std::uint64_t mid = p.ppm * n / 1'000'000;
      for (std::uint64_t k = mid > 2 ? mid - 2 : 0; k <= std::min(n, mid + 2); ++k) {
        Histogram h;
        h.record(1, k);
        h.record(2, n - k);
        const std::uint64_t want = (k > 0 && k * 1'000'000 >= p.ppm * n) ? 1 : 2;
        ASSERT_EQ(h.percentile(p.percent), want) << "count " << n << ", " << k << " ones, p" << p.percent;
      }
    }
  }
  // And the oracle agrees with that reading on one such sample.
  std::vector<std::uint64_t> v(999, 1);
  v.push_back(2);
  EXPECT_EQ(exact_percentile_ppm(v, 999'000), 1u);
  EXPECT_EQ(exact_percentile_ppm(v, 999'001), 2u);
}

// p is taken in parts per million: percentile(p) is percentile_ppm of p *
// 10^4 rounded to the nearest integer, clamped to [0, 100].
TEST(Histogram, PercentArgumentIsRoundedToPartsPerMillion) {
  Histogram h;
  for (std::uint64_t x = 1; x <= 200; ++x) h.record(x);
  EXPECT_EQ(h.percentile(50.00004), h.percentile_ppm(500'000));
  EXPECT_EQ(h.percentile(50.00006), h.percentile_ppm(500'001));
  EXPECT_EQ(h.percentile(-3), h.percentile_ppm(0));
  EXPECT_EQ(h.percentile(250), h.percentile_ppm(1'000'000));
  EXPECT_EQ(h.percentile_ppm(5'000'000), 200u);  // clamped too
  EXPECT_EQ(h.percentile_ppm(0), 1u);
  EXPECT_EQ(h.percentile_ppm(1), 1u);
  EXPECT_EQ(h.percentile_ppm(5'000), 1u);   // 0.5% of 200 = 1 value
  EXPECT_EQ(h.percentile_ppm(5'001), 2u);
}

TEST(Histogram, BimodalKeepsBothModes) {
  std::vector<std::uint64_t> v;
  for (int i = 0; i < 9900; ++i) v.push_back(6000);                 // 6 us: same-CPU round trip
  for (int i = 0; i < 100; ++i) v.push_back(std::uint64_t{2} * 1000 * 1000 * 1000);  // 2 s stall
  check_sample(v);
  Histogram h;
  for (auto x : v) h.record(x);
  expect_within_relative_error(h.percentile(99), 6000, "p99");
  expect_within_relative_error(h.percentile(99.5), std::uint64_t{2} * 1000 * 1000 * 1000, "p99.5");
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> ln(std::log(50000.0), 1.0);
  Histogram parts[4];
  Histogram all;
  for (int i = 0; i < 100000; ++i) {
    auto x = static_cast<std::uint64_t>(ln(rng));
    parts[i % 4].record(x);
    all.record(x);
  }
  Histogram merged;
  for (auto& p : parts) merged.merge(p);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_EQ(merged.sum(), all.sum());
  EXPECT_NEAR(merged.stdev(), all.stdev(), all.stdev() * 1e-9);
  for (std::size_t i = 0; i < Histogram::kBucketCount; ++i) {
    ASSERT_EQ(merged.bucket_count(i), all.bucket_count(i)) << i;
  }
  for (double p : {50.0, 99.0, 99.99}) EXPECT_EQ(merged.percentile(p), all.percentile(p));

  Histogram empty;
  merged.merge(empty);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
}

// The serialised form (bucket_highest, count) rebuilds the same buckets, so
// histograms from separate runs can be merged after the fact.
TEST(Histogram, RebuildFromSerialisedBucketsAcrossRuns) {
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<std::uint64_t> u(1000, 5'000'000);
  Histogram run1, run2, both;
  for (int i = 0; i < 50000; ++i) {
    auto a = u(rng), b = u(rng) * 3;
    run1.record(a);
    run2.record(b);
    both.record(a);
    both.record(b);
  }
  Histogram rebuilt;
  for (const Histogram* h : {&run1, &run2}) {
    h->for_each_bucket([&](std::size_t i, std::uint64_t n) {
      rebuilt.record(Histogram::bucket_highest(i), n);
    });
  }
  EXPECT_EQ(rebuilt.count(), both.count());
  for (std::size_t i = 0; i < Histogram::kBucketCount; ++i) {
    ASSERT_EQ(rebuilt.bucket_count(i), both.bucket_count(i)) << i;
  }
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    expect_within_relative_error(rebuilt.percentile(p), both.percentile(p), "rebuilt percentile");
  }
  expect_within_relative_error(static_cast<std::uint64_t>(rebuilt.mean()),
                               static_cast<std::uint64_t>(both.mean()), "rebuilt mean");
}

// What muxbench-loadgen ships between ranks: stats() and the non-empty
// buckets rebuild a histogram whose every statistic equals the original's.
TEST(Histogram, MergeFromStatsAndBucketsIsExact) {
  std::mt19937_64 gen(11);
  std::lognormal_distribution<double> dist(10.0, 1.5);
  Histogram a, b, both;
  for (int i = 0; i < 20000; ++i) {
    const auto v = static_cast<std::uint64_t>(dist(gen));
    (i % 3 == 0 ? a : b).record(v);
    both.record(v);
  }
  b.record(Histogram::kHighestTrackable + 5);  // clamped
  both.record(Histogram::kHighestTrackable + 5);
  Histogram rebuilt;
  for (const Histogram* h : {&a, &b}) {
    std::vector<std::pair<std::uint32_t, std::uint64_t>> buckets;
    h->for_each_bucket([&](std::size_t i, std::uint64_t n) {
      buckets.emplace_back(static_cast<std::uint32_t>(i), n);
    });
    rebuilt.merge(h->stats(), buckets);
  }
  rebuilt.merge(Histogram().stats(), {});  // an empty one changes nothing
  EXPECT_EQ(rebuilt.count(), both.count());
  EXPECT_EQ(rebuilt.min(), both.min());
  EXPECT_EQ(rebuilt.max(), both.max());
  EXPECT_EQ(rebuilt.sum(), both.sum());
  EXPECT_EQ(rebuilt.clamped(), both.clamped());
  EXPECT_DOUBLE_EQ(rebuilt.stdev(), both.stdev());
  for (double p : {0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    EXPECT_EQ(rebuilt.percentile(p), both.percentile(p)) << p;
  }
  for (std::size_t i = 0; i < Histogram::kBucketCount; ++i) {
    ASSERT_EQ(rebuilt.bucket_count(i), both.bucket_count(i)) << i;
  }
}

TEST(Histogram, ValuesAboveTheRangeAreClampedAndCounted) {
  Histogram h;
  h.record(Histogram::kHighestTrackable + 12345);
  h.record(5000);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.clamped(), 1u);
  EXPECT_EQ(h.max(), Histogram::kHighestTrackable);
  EXPECT_EQ(h.percentile(100), Histogram::kHighestTrackable);
}

TEST(Histogram, RecordManyAndReset) {
  Histogram h;
  h.record(2000, 10);
  h.record(4000, 0);
  EXPECT_EQ(h.count(), 10u);
  EXPECT_EQ(h.mean(), 2000.0);
  EXPECT_EQ(h.stdev(), 0.0);
  h.reset();
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.bucket_count(Histogram::bucket_index(2000)), 0u);
  h.record(7);
  EXPECT_EQ(h.min(), 7u);
  EXPECT_EQ(h.max(), 7u);
}

}  // namespace
}  // namespace muxbench
