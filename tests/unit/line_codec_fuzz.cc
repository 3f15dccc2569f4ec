// Fuzz target for the line codec: the same bytes split at arbitrary points
// must give the same output as one feed() call, with one '\n' out per '\n'
// in plus one per overlong-line cut.
//
// Built two ways: as a libFuzzer target (clang -fsanitize=fuzzer defines
// LLVMFuzzerTestOneInput's driver) and, by default, as a self-driving
// randomized test that CTest runs for a bounded number of iterations.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "muxbench/line_codec.h"

namespace {

// Overlong-line cuts the stream calls for (docs/protocol.md rule 4), counted
// here rather than by the codec: every kMaxLine bytes without a '\n'.
std::size_t g_cuts = 0;

std::size_t count_cuts(const char* s, std::size_t n) {
  std::size_t cuts = 0, run = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (s[i] == '\n') {
      run = 0;
    } else if (++run == muxbench::kMaxLine) {
      ++cuts;
      run = 0;
    }
  }
  return cuts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // The first bytes choose the split points; the rest is the stream.
  const std::size_t nsplits = data[0] % 16;
  if (size < 1 + 2 * nsplits) return 0;
  std::vector<std::size_t> splits;
  const char* stream = reinterpret_cast<const char*>(data + 1 + 2 * nsplits);
  const std::size_t n = size - 1 - 2 * nsplits;
  for (std::size_t i = 0; i < nsplits; ++i) {
    std::size_t v = (static_cast<std::size_t>(data[1 + 2 * i]) << 8) | data[2 + 2 * i];
    splits.push_back(n == 0 ? 0 : v % (n + 1));
  }
  std::sort(splits.begin(), splits.end());

  muxbench::LineCodec whole;
  std::string expect;
  whole.feed(stream, n, expect);
  whole.finish(expect);

  muxbench::LineCodec split;
  std::string got;
  std::size_t pos = 0;
  for (std::size_t cut : splits) {
    split.feed(stream + pos, cut - pos, got);
    pos = cut;
  }
  split.feed(stream + pos, n - pos, got);
  split.finish(got);
  if (got != expect) {
    std::fprintf(stderr, "line_codec_fuzz: split output differs from whole output\n");
    std::abort();
  }
  const std::size_t cuts = count_cuts(stream, n);
  const auto newlines_in = static_cast<std::size_t>(std::count(stream, stream + n, '\n'));
  if (static_cast<std::size_t>(std::count(got.begin(), got.end(), '\n')) != newlines_in + cuts) {
    std::fprintf(stderr, "line_codec_fuzz: %zu newlines in, %zu cuts due, output does not match\n",
                 newlines_in, cuts);
    std::abort();
  }
  g_cuts += cuts;
  return 0;
}

#ifndef MUXBENCH_LIBFUZZER
#include <algorithm>

int main(int argc, char** argv) {
  long iterations = 10000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--iterations") == 0) iterations = std::atol(argv[i + 1]);
  }
  std::mt19937_64 rng(0x5eed);
  std::vector<std::uint8_t> buf;
  for (long it = 0; it < iterations; ++it) {
    // Mostly short inputs with many '\n' (lines, the SIMD path); every 50th
    // input long, and in half of those newlines are rare (about one per
    // 40,000 bytes), so lines reach kMaxLine and get cut. With '\n' at 1 in
    // 7 a 16,384-byte run never happens. Every 50th input, offset by 25, is
    // one newline-free run straddling kMaxLine (the cut at exactly 16384).
    std::size_t size = 1 + rng() % 600;
    std::uint64_t newline_one_in = 7;
    if (it % 50 == 0) {
      size = 1 + rng() % 70000;
      if (it % 100 == 0) newline_one_in = 40000;
    } else if (it % 50 == 25) {
      size = 1 + 2 * 15 + muxbench::kMaxLine - 2 + rng() % 5;
      newline_one_in = 0;
    }
    buf.resize(size);
    for (auto& b : buf) {
      std::uint64_t r = rng();
      b = (newline_one_in != 0 && r % newline_one_in == 0) ? '\n'
                                                            : static_cast<std::uint8_t>(r >> 8);
      if (b == '\n' && newline_one_in == 0) b = 'x';
    }
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
  }
  // The cut path must have been taken, many times over, or this test checks
  // less than it says.
  if (iterations >= 1000 && g_cuts < static_cast<std::size_t>(iterations / 100)) {
    std::fprintf(stderr, "line_codec_fuzz: only %zu overlong-line cuts in %ld iterations\n",
                 g_cuts, iterations);
    return 1;
  }
  std::printf("line_codec_fuzz: %ld iterations, %zu overlong-line cuts, no difference\n",
              iterations, g_cuts);
  return 0;
}
#endif
