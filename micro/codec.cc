// BM_Rot13/<L> and BM_LineCodec/<L>: the line codec's throughput.
//
// Rot13 transforms L bytes per iteration with muxbench::rot13 alone;
// LineCodec feeds one L-byte line (L-1 text bytes and its '\n') per iteration
// through LineCodec::feed, so the difference between the two rows at the same
// L is the cost of framing: the '\n' search and appending to the output.
// L = 64 (short lines: per-call overhead dominates) and L = 16384 (kMaxLine:
// the SIMD loop dominates). Both report bytes_per_second.
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include "mechanism.h"
#include "muxbench/line_codec.h"

namespace muxbench::micro {
namespace {

constexpr std::size_t kLineSizes[] = {64, 16384};

// Deterministic text: both letter cases, digits, punctuation, spaces; no '\n'.
std::string sample_text(std::size_t n) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,;:!?-_'\"()[]{}@#";
  std::mt19937 rng(40713);
  std::uniform_int_distribution<std::size_t> pick(0, sizeof kAlphabet - 2);
  std::string s(n, ' ');
  for (char& c : s) c = kAlphabet[pick(rng)];
  return s;
}

void rot13_bench(benchmark::State& state, std::size_t len) {
  const std::string in = sample_text(len);
  std::string out(len, '\0');
  for (auto _ : state) {
    rot13(in.data(), out.data(), len);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  if (out != rot13(std::string_view(in))) return state.SkipWithError("rot13 output is wrong");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * len));
}

void line_codec_bench(benchmark::State& state, std::size_t len) {
  const std::string line = sample_text(len - 1) + '\n';
  LineCodec codec;
  std::string out;
  out.reserve(len);
  std::size_t lines = 0;
  for (auto _ : state) {
    out.clear();
    lines += codec.feed(line.data(), line.size(), out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  if (lines != static_cast<std::size_t>(state.iterations()) || codec.pending() != 0 ||
      out != rot13(std::string_view(line))) {
    return state.SkipWithError("LineCodec output is wrong");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * len));
  state.counters["lines_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

}  // namespace

void register_codec_benchmarks() {
  for (std::size_t len : kLineSizes) {
    benchmark::RegisterBenchmark(("BM_Rot13/" + std::to_string(len)).c_str(),
                                 [len](benchmark::State& s) { rot13_bench(s, len); });
  }
  for (std::size_t len : kLineSizes) {
    benchmark::RegisterBenchmark(("BM_LineCodec/" + std::to_string(len)).c_str(),
                                 [len](benchmark::State& s) { line_codec_bench(s, len); });
  }
}

}  // namespace muxbench::micro
