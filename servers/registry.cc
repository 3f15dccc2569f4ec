// The registry: every strategy, in the order --list, tests and charts show
// them (blocking, readiness, libevent, completion). Adding a strategy = its
// file + one line here; nothing registers itself.
#include <array>

#include "strategy.h"

namespace muxbench::server {

extern const Strategy epoll_strategy;

namespace {

const Strategy* const kStrategies[] = {
    &epoll_strategy,
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
