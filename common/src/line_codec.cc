#include "muxbench/line_codec.h"

#include <array>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace muxbench {
namespace {

constexpr std::array<char, 256> make_table() {
  std::array<char, 256> t{};
  for (int c = 0; c < 256; ++c) {
    int r = c;
    if (c >= 'A' && c <= 'Z') r = 'A' + (c - 'A' + 13) % 26;
    if (c >= 'a' && c <= 'z') r = 'a' + (c - 'a' + 13) % 26;
    t[c] = static_cast<char>(r);
  }
  return t;
}
constexpr std::array<char, 256> kTable = make_table();

}  // namespace

void rot13(const char* in, char* out, std::size_t n) {
  std::size_t i = 0;
#if defined(__SSE2__)
  // Fold to lower case with |0x20, classify with signed compares (bytes >= 0x80
  // are negative, so they never look like letters), then add +13 or -13.
  const __m128i k20 = _mm_set1_epi8(0x20);
  const __m128i ka = _mm_set1_epi8('a' - 1);
  const __m128i kz = _mm_set1_epi8('z' + 1);
  const __m128i km = _mm_set1_epi8('m');
  const __m128i kplus = _mm_set1_epi8(13);
  const __m128i kminus = _mm_set1_epi8(-13);
  for (; i + 16 <= n; i += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    __m128i lower = _mm_or_si128(v, k20);
    __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(lower, ka), _mm_cmplt_epi8(lower, kz));
    __m128i upper_half = _mm_cmpgt_epi8(lower, km);  // n..z rotate backwards
    __m128i delta = _mm_or_si128(_mm_and_si128(upper_half, kminus),
                                 _mm_andnot_si128(upper_half, kplus));
    v = _mm_add_epi8(v, _mm_and_si128(alpha, delta));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), v);
  }
#endif
  for (; i < n; ++i) out[i] = kTable[static_cast<unsigned char>(in[i])];
}

std::string rot13(std::string_view in) {
  std::string out(in.size(), '\0');
  rot13(in.data(), out.data(), in.size());
  return out;
}

std::size_t LineCodec::feed(const char* data, std::size_t n, std::string& out) {
  std::size_t lines = 0;
  while (n > 0) {
    const std::size_t room = kMaxLine - partial_.size();  // >= 1 by invariant
    const std::size_t scan = n < room ? n : room;
    const void* nl = std::memchr(data, '\n', scan);
    std::size_t take;
    bool complete;
    if (nl != nullptr) {
      take = static_cast<const char*>(nl) - data + 1;  // include the '\n'
      complete = true;
    } else if (scan == room) {
      take = room;  // kMaxLine bytes without '\n': cut here
      complete = true;
    } else {
      take = scan;
      complete = false;
    }
    if (!complete) {
      const std::size_t old = partial_.size();
      partial_.resize(old + take);
      rot13(data, partial_.data() + old, take);
      return lines;
    }
    const std::size_t old = out.size();
    out.reserve(old + partial_.size() + take + 1);
    out.append(partial_);
    out.resize(old + partial_.size() + take);
    rot13(data, out.data() + old + partial_.size(), take);
    if (nl == nullptr) out.push_back('\n');
    partial_.clear();
    ++lines;
    data += take;
    n -= take;
  }
  return lines;
}

std::size_t LineCodec::finish(std::string& out) {
  const std::size_t n = partial_.size();
  out.append(partial_);
  partial_.clear();
  return n;
}

}  // namespace muxbench
