// The ROT13 line protocol, implemented once (normative spec: docs/protocol.md).
//
// Servers feed the bytes they receive into a LineCodec and send what it
// emits; the load generator feeds the bytes it sends into one and compares
// the reply with what it emits. Both therefore agree by construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace muxbench {

// Default TCP port (the libevent book's).
inline constexpr std::uint16_t kDefaultPort = 40713;

// A line longer than this (not counting its '\n') is cut: once kMaxLine bytes
// have accumulated without a '\n', they are emitted followed by an inserted
// '\n' and a new line starts.
inline constexpr std::size_t kMaxLine = 16384;

// A server stops reading from a connection while more than this many bytes of
// output are queued for it, and resumes once the peer has read them.
inline constexpr std::size_t kMaxPendingOutput = 256 * 1024;

// ROT13 of n bytes from `in` into `out` (which may equal `in`). Letters A-Z and
// a-z rotate by 13; every other byte value is copied unchanged. Vectorised
// (SSE2) where available, table-driven otherwise.
void rot13(const char* in, char* out, std::size_t n);

// ROT13 of a whole string; convenient in tests and tools, not on hot paths.
std::string rot13(std::string_view in);

// Incremental framing of one connection's byte stream.
//
// Invariants: the emitted byte stream depends only on the concatenation of the
// fed bytes, never on how they were split across feed() calls; at most
// kMaxLine - 1 transformed bytes are held between calls.
class LineCodec {
 public:
  // Consumes n bytes. Appends to `out` every line completed by them (each
  // transformed and ending in '\n', the inserted one for an overlong line
  // included). Returns the number of lines appended.
  std::size_t feed(const char* data, std::size_t n, std::string& out);

  // End of input (the peer half-closed): appends the transformed partial line,
  // without adding a '\n', and resets the codec. Returns the bytes appended.
  std::size_t finish(std::string& out);

  // Bytes of the current, incomplete line held by the codec.
  std::size_t pending() const { return partial_.size(); }

 private:
  std::string partial_;  // already transformed; size() < kMaxLine
};

}  // namespace muxbench
