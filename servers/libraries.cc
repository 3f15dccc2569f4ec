// The versions of the libraries strategy families are built on, as this
// binary runs them (for --list-json): libevent and libuv say so at run time;
// Asio is header-only and liburing 2.3 has no version call, so theirs are the
// versions compiled in.
#include <event2/event.h>
#include <uv.h>

#include <asio/version.hpp>

#include <string>

#include "strategy.h"

namespace muxbench::server {

std::string library_version(const char* library) {
  const std::string lib = library != nullptr ? library : "";
  if (lib == "libevent") return event_get_version();
  if (lib == "libuv") return uv_version_string();
  if (lib == "asio") {
    // ASIO_VERSION: major * 100000 + minor * 100 + patch.
    return std::to_string(ASIO_VERSION / 100000) + "." + std::to_string(ASIO_VERSION / 100 % 1000) +
           "." + std::to_string(ASIO_VERSION % 100);
  }
  if (lib == "liburing") return MUXBENCH_LIBURING_VERSION;
  return "";
}

}  // namespace muxbench::server
