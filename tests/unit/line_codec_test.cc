#include "muxbench/line_codec.h"

#include <gtest/gtest.h>

#include "reference_model.h"

#include <random>
#include <string>

namespace muxbench {
namespace {

std::string reference(const std::string& in, bool eof) { return test::reference_reply(in, eof); }

std::string feed_all(const std::string& in, bool eof) {
  LineCodec codec;
  std::string out;
  codec.feed(in.data(), in.size(), out);
  if (eof) codec.finish(out);
  return out;
}

TEST(Rot13, BookExample) { EXPECT_EQ(rot13("Hello, World!\n"), "Uryyb, Jbeyq!\n"); }

TEST(Rot13, EveryByteValue) {
  for (int b = 0; b < 256; ++b) {
    char in = static_cast<char>(b);
    char expect = in;
    if (b >= 'A' && b <= 'Z') expect = static_cast<char>('A' + (b - 'A' + 13) % 26);
    if (b >= 'a' && b <= 'z') expect = static_cast<char>('a' + (b - 'a' + 13) % 26);
    char out = 0;
    rot13(&in, &out, 1);
    EXPECT_EQ(out, expect) << "byte " << b;
  }
}

TEST(Rot13, VectorPathMatchesScalarForEveryByteAtEveryLane) {
  // 256 values in 16-byte blocks at every alignment exercise the SIMD path.
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  for (std::size_t shift = 0; shift < 17; ++shift) {
    std::string in = std::string(shift, 'x') + all;
    std::string out = rot13(in);
    for (std::size_t i = 0; i < in.size(); ++i) {
      char scalar = 0;
      rot13(&in[i], &scalar, 1);
      ASSERT_EQ(out[i], scalar) << "shift " << shift << " index " << i;
    }
  }
}

TEST(Rot13, IsAnInvolution) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(rot13(rot13(all)), all);
}

TEST(LineCodec, EmitsOnlyCompleteLines) {
  LineCodec codec;
  std::string out;
  EXPECT_EQ(codec.feed("abc", 3, out), 0u);
  EXPECT_EQ(out, "");
  EXPECT_EQ(codec.pending(), 3u);
  EXPECT_EQ(codec.feed("\nde", 3, out), 1u);
  EXPECT_EQ(out, "nop\n");
  EXPECT_EQ(codec.pending(), 2u);
}

TEST(LineCodec, EmptyLinesAndPipelining) {
  std::string in;
  for (int i = 0; i < 1000; ++i) in += "line " + std::to_string(i) + "\n";
  in += "\n\n";
  EXPECT_EQ(feed_all(in, false), reference(in, false));
  LineCodec codec;
  std::string out;
  EXPECT_EQ(codec.feed(in.data(), in.size(), out), 1002u);
}

TEST(LineCodec, FinishSendsPartialLineWithoutNewline) {
  LineCodec codec;
  std::string out;
  codec.feed("Hello", 5, out);
  EXPECT_EQ(codec.finish(out), 5u);
  EXPECT_EQ(out, "Uryyb");
  EXPECT_EQ(codec.pending(), 0u);
}

TEST(LineCodec, EveryBoundaryAroundMaxLine) {
  for (std::size_t len = kMaxLine - 3; len <= kMaxLine + 3; ++len) {
    for (bool newline : {false, true}) {
      std::string in(len, 'a');
      if (newline) in.push_back('\n');
      SCOPED_TRACE("len " + std::to_string(len) + (newline ? " +\\n" : ""));
      EXPECT_EQ(feed_all(in, true), reference(in, true));
      EXPECT_EQ(feed_all(in, false), reference(in, false));
    }
  }
  // The worked examples of docs/protocol.md.
  EXPECT_EQ(feed_all(std::string(16383, 'a') + "\n", false), std::string(16383, 'n') + "\n");
  EXPECT_EQ(feed_all(std::string(16384, 'a') + "\n", false),
            std::string(16384, 'n') + "\n" + "\n");
  EXPECT_EQ(feed_all(std::string(16385, 'a') + "\n", false),
            std::string(16384, 'n') + "\n" + "n\n");
  EXPECT_EQ(feed_all(std::string(100000, 'a'), false).size(), 6u * (kMaxLine + 1));
}

TEST(LineCodec, CutHappensAsSoonAsMaxLineBytesArrive) {
  LineCodec codec;
  std::string out;
  std::string in(kMaxLine, 'z');
  EXPECT_EQ(codec.feed(in.data(), in.size(), out), 1u);
  EXPECT_EQ(out, std::string(kMaxLine, 'm') + "\n");
  EXPECT_EQ(codec.pending(), 0u);
}

TEST(LineCodec, RandomSplitsMatchReferenceModel) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 200; ++round) {
    std::string in;
    int lines = static_cast<int>(rng() % 20);
    for (int l = 0; l < lines; ++l) {
      std::size_t len = rng() % 40001;
      for (std::size_t i = 0; i < len; ++i) {
        char ch = static_cast<char>(rng() % 256);
        if (ch == '\n') ch = 'x';
        in.push_back(ch);
      }
      if (rng() % 4 != 0) in.push_back('\n');
    }
    LineCodec codec;
    std::string out;
    std::size_t pos = 0;
    while (pos < in.size()) {
      std::size_t chunk = 1 + rng() % (rng() % 2 ? 17 : 70000);
      chunk = std::min(chunk, in.size() - pos);
      codec.feed(in.data() + pos, chunk, out);
      pos += chunk;
      ASSERT_LT(codec.pending(), kMaxLine);
    }
    codec.finish(out);
    ASSERT_EQ(out, reference(in, true)) << "round " << round;
  }
}

}  // namespace
}  // namespace muxbench
