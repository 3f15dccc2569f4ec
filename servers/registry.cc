// The registry: every strategy, in the order --list, tests and charts show
// them (blocking, readiness, libevent, completion). Adding a strategy = its
// file + one line in each list below + one line in CMakeLists.txt; nothing
// registers itself.
#include "strategy.h"

namespace muxbench::server {

// blocking
// readiness
extern const Strategy epoll_strategy;
// libevent
// completion

namespace {

const Strategy* const kStrategies[] = {
    // blocking
    // readiness
    &epoll_strategy,
    // libevent
    // completion
};

}  // namespace

std::span<const Strategy* const> strategies() { return kStrategies; }

const Strategy* find_strategy(std::string_view name) {
  for (const Strategy* s : kStrategies) {
    if (name == s->name) return s;
  }
  return nullptr;
}

}  // namespace muxbench::server
