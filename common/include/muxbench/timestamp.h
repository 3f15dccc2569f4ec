// Wall-clock timestamps for reports (never for measuring: latency uses
// CLOCK_MONOTONIC). Shared by the load generator and the harness.
#pragma once

#include <time.h>

#include <ctime>
#include <string>

namespace muxbench {

// The current UTC time as ISO-8601, e.g. "2026-12-01T06:48:08Z".
inline std::string iso_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace muxbench
