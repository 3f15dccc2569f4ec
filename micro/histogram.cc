// BM_HistogramRecord: the cost of Histogram::record(v), the load generator's
// per-request hot path (one call per response).
//
// Each iteration records a batch of 4096 pre-generated latencies, log-uniform
// between 1 us and 100 ms so they spread over many bucket groups as real
// latencies do (a constant value would keep one counter hot in L1 and flatter
// the result). ns_per_sample is the time per record() call.
#include "muxbench/histogram.h"

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "mechanism.h"

namespace muxbench::micro {
namespace {

constexpr std::size_t kBatch = 4096;

std::vector<std::uint64_t> sample_latencies() {
  std::mt19937_64 rng(40713);
  std::uniform_real_distribution<double> exponent(std::log(1e3), std::log(1e8));
  std::vector<std::uint64_t> v(kBatch);
  for (auto& x : v) x = static_cast<std::uint64_t>(std::exp(exponent(rng)));
  return v;
}

void record_bench(benchmark::State& state) {
  const std::vector<std::uint64_t> samples = sample_latencies();
  Histogram h;
  for (auto _ : state) {
    for (std::uint64_t v : samples) h.record(v);
    benchmark::DoNotOptimize(h);
  }
  const double n = static_cast<double>(state.iterations()) * kBatch;
  if (static_cast<double>(h.count()) != n) return state.SkipWithError("histogram count is wrong");
  using benchmark::Counter;
  state.counters["ns_per_sample"] = Counter(n * 1e-9, Counter::kIsRate | Counter::kInvert);
  state.counters["samples_per_s"] = Counter(n, Counter::kIsRate);
}

}  // namespace

void register_histogram_benchmarks() {
  benchmark::RegisterBenchmark("BM_HistogramRecord", record_bench);
}

}  // namespace muxbench::micro
