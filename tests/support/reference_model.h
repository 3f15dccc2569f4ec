// The protocol's reference model: docs/protocol.md's rules written as plainly
// as possible, one byte at a time, independent of LineCodec, so that tests
// compare the fast implementation (and every server) against the spec.
#pragma once

#include <string>

#include "muxbench/line_codec.h"

namespace muxbench::test {

// The bytes a conforming server sends back for `in`; `eof`: the client then
// half-closed (the partial line is flushed without a '\n').
inline std::string reference_reply(const std::string& in, bool eof) {
  std::string out;
  std::string line;
  for (unsigned char ch : in) {
    char r = static_cast<char>(ch);
    if (ch >= 'a' && ch <= 'z') r = static_cast<char>('a' + (ch - 'a' + 13) % 26);
    if (ch >= 'A' && ch <= 'Z') r = static_cast<char>('A' + (ch - 'A' + 13) % 26);
    line.push_back(r);
    if (ch == '\n') {
      out += line;
      line.clear();
    } else if (line.size() == kMaxLine) {
      out += line;
      out += '\n';
      line.clear();
    }
  }
  if (eof) out += line;
  return out;
}

}  // namespace muxbench::test
