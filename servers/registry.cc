// The registry: every strategy, in the order --list, tests and charts show
// them (blocking, readiness, libevent, libuv, asio, completion), and the
// families in the same order. Adding a strategy = its file + one line in each
// list below + one line in CMakeLists.txt; nothing registers itself.
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
extern const Strategy epoll_et_strategy;
extern const Strategy epoll_reuseport_strategy;
extern const Strategy epoll_exclusive_strategy;
extern const Strategy epoll_handoff_strategy;
// libevent
extern const Strategy libevent_strategy;
extern const Strategy libevent_handoff_strategy;
extern const Strategy bufferevent_strategy;
// libuv
extern const Strategy libuv_strategy;
// asio
extern const Strategy asio_strategy;
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
    &epoll_et_strategy,
    &epoll_reuseport_strategy,
    &epoll_exclusive_strategy,
    &epoll_handoff_strategy,
    // libevent
    &libevent_strategy,
    &libevent_handoff_strategy,
    &bufferevent_strategy,
    // libuv
    &libuv_strategy,
    // asio
    &asio_strategy,
    // completion
    &io_uring_strategy,
};

const Family kFamilies[] = {
    {"blocking", nullptr},       // blocking system calls, one thread or process per connection
    {"readiness", nullptr},      // hand-written readiness loops over raw system calls
    {"libevent", "libevent"},    // built on libevent
    {"libuv", "libuv"},          // built on libuv
    {"asio", "asio"},            // built on standalone Asio
    {"completion", "liburing"},  // completion-based I/O
};

}  // namespace

std::span<const Strategy* const> strategies() { return kStrategies; }

std::span<const Family> families() { return kFamilies; }

const Family* find_family(std::string_view name) {
  for (const Family& f : kFamilies) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

const Strategy* find_strategy(std::string_view name) {
  for (const Strategy* s : kStrategies) {
    if (name == s->name) return s;
  }
  return nullptr;
}

}  // namespace muxbench::server
