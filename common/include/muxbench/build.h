// What the build compiled in, for code whose deadlines must allow for it.
#pragma once

#include <string_view>

namespace muxbench::build {

// "none", "asan" or "tsan" (CMake's MUXBENCH_SANITIZER, recorded in every
// results file).
inline constexpr std::string_view kSanitizer = MUXBENCH_SANITIZER;

// How many times longer than in a release build a bounded wait must be:
// ThreadSanitizer runs this code 5-15x slower, AddressSanitizer about 2x.
// Used for the server's stop deadlines and the tests' bounds on them, so a
// sanitizer build tests the same path (a stop that completes) rather than
// the timeout.
inline constexpr int kTimeScale = kSanitizer == "tsan" ? 8 : kSanitizer == "asan" ? 2 : 1;

}  // namespace muxbench::build
