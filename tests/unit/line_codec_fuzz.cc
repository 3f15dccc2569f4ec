// Fuzz target for the line codec: the same bytes split at arbitrary points
// must give the same output as one feed() call.
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

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // The first bytes choose the split points; the rest is the stream.
  const std::size_t nsplits = data[0] % 16;
  if (size < 1 + 2 * nsplits) return 0;
  std::vector<std::size_t> cuts;
  const char* stream = reinterpret_cast<const char*>(data + 1 + 2 * nsplits);
  const std::size_t n = size - 1 - 2 * nsplits;
  for (std::size_t i = 0; i < nsplits; ++i) {
    std::size_t v = (static_cast<std::size_t>(data[1 + 2 * i]) << 8) | data[2 + 2 * i];
    cuts.push_back(n == 0 ? 0 : v % (n + 1));
  }
  std::sort(cuts.begin(), cuts.end());

  muxbench::LineCodec whole;
  std::string expect;
  whole.feed(stream, n, expect);
  whole.finish(expect);

  muxbench::LineCodec split;
  std::string got;
  std::size_t pos = 0;
  for (std::size_t cut : cuts) {
    split.feed(stream + pos, cut - pos, got);
    pos = cut;
  }
  split.feed(stream + pos, n - pos, got);
  split.finish(got);
  if (got != expect) {
    std::fprintf(stderr, "line_codec_fuzz: split output differs from whole output\n");
    std::abort();
  }
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
    // Long inputs sometimes, to cross kMaxLine; a small alphabet with many
    // '\n' and letters, so lines, cuts and the SIMD path all get exercised.
    std::size_t size = (it % 50 == 0) ? 1 + rng() % 70000 : 1 + rng() % 600;
    buf.resize(size);
    for (auto& b : buf) {
      std::uint64_t r = rng();
      b = (r % 7 == 0) ? '\n' : static_cast<std::uint8_t>(r >> 8);
    }
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
  }
  std::printf("line_codec_fuzz: %ld iterations, no difference\n", iterations);
  return 0;
}
#endif
