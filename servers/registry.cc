// The registry: every strategy, in the order --list, tests and charts show
// them (blocking, readiness, libevent, completion). Adding a strategy = its
// file + one line in each list below + one line in CMakeLists.txt; nothing
// registers itself.
#include "strategy.h"

namespace muxbench::server {

// blocking
extern const Strategy iterative_strategy;
extern const Strategy fork_strategy;
extern const Strategy thread_strategy;
extern const Strategy threadpool_strategy;
// readiness
extern const Strategy busypoll_strategy;
extern const Strategy select_strategy;
extern const Strategy poll_strategy;
extern const Strategy epoll_strategy;
extern const Strategy epoll_edge_strategy;
extern const Strategy epoll_reuseport_strategy;
// libevent
extern const Strategy libevent_strategy;
extern const Strategy bufferevent_strategy;
// completion
extern const Strategy io_uring_strategy;

namespace {

const Strategy* const kStrategies[] = {
    // blocking
    &iterative_strategy,
    &fork_strategy,
    &thread_strategy,
    &threadpool_strategy,
    // readiness
    &busypoll_strategy,
    &select_strategy,
    &poll_strategy,
    &epoll_strategy,
    &epoll_edge_strategy,
    &epoll_reuseport_strategy,
    // libevent
    &libevent_strategy,
    &bufferevent_strategy,
    // completion
    &io_uring_strategy,
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
