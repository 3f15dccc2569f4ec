// epoll-exclusive — one listener shared by --threads level-triggered epoll
// loops, each registering it with EPOLLEXCLUSIVE (wake-one).
//
// Mechanism: every loop is the epoll loop of epoll.cc (epoll_loop.h) over its
// own epoll set and its own connections; the one listening socket is in every set, added
// with EPOLLIN|EPOLLEXCLUSIVE. A new connection wakes one loop (sometimes
// more) that is blocked in epoll_wait, instead of all of them (the thundering
// herd of a plain shared listener); the woken loop accepts it and serves it
// for its whole life. Counters per thread, merged at the end.
// Trade-offs: balancing is by availability, not by hash: the kernel walks the
// listener's wait queue in registration order and wakes the first loop that
// is idle in epoll_wait, so on a lightly loaded server the first loop takes
// nearly every connection and the others only get work when it is busy
// (Cloudflare, "Why does one NGINX worker take all the load?"). Under load
// that fills the idle loops first, which is good for latency; a connection
// never moves, so a loop that took a burst keeps it. One backlog for all.
// Limits: EPOLLEXCLUSIVE needs Linux 4.5 (older kernels fail start-up with
// one line); it works only with EPOLL_CTL_ADD, never MOD. RLIMIT_NOFILE is
// shared by all threads.
// Try it: muxbench-server --strategy epoll-exclusive --threads 4 --port 40713 &
//         nc 127.0.0.1 40713
#include <sys/epoll.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "conn.h"
#include "epoll_loop.h"
#include "muxbench/net.h"
#include "threads.h"

namespace muxbench::server {
namespace {

constexpr const char* kWho = "epoll-exclusive";

struct Shard {
  explicit Shard(int i) : loop(i, kWho) {}
  EpollLoop loop;
  AcceptGuard acceptor;  // one reserve fd per thread: each may hit EMFILE
};

int run(Context& ctx) {
  const int n = ctx.threads;
  set_nonblocking(ctx.listen_fd);  // woken loops that lose the race must not block
  std::vector<std::unique_ptr<Shard>> shards;
  for (int i = 0; i < n; ++i) {
    auto& shard = *shards.emplace_back(std::make_unique<Shard>(i));
    // Several loops may be woken for one connection: the losers get EAGAIN.
    auto accept_some = [&shard, lfd = ctx.listen_fd] {
      accept_burst(shard.acceptor, lfd, shard.loop.counters(),
                   [&shard](int cfd) { shard.loop.add(cfd); });
    };
    if (!shard.loop.init(ctx.stop_fd)) return 1;
    // The one listener in every loop's set, with EPOLLEXCLUSIVE: wake one.
    if (!shard.loop.watch_source(ctx.listen_fd, EPOLLEXCLUSIVE, accept_some)) {
      if (errno == EINVAL) {
        std::fprintf(stderr, "%s: EPOLLEXCLUSIVE needs Linux 4.5 or later\n", kWho);
      }
      return 1;
    }
  }

  // Threads 1..n-1 are started before READY; the calling thread runs loop 0.
  auto serve = [&](int i) { shards[static_cast<std::size_t>(i)]->loop.serve(ctx); };
  std::vector<std::thread> threads;
  if (!start_threads(ctx, kWho, 1, n, serve, threads)) return 1;
  ctx.ready();
  serve(0);
  for (auto& t : threads) t.join();
  for (auto& shard : shards) ctx.add_thread(shard->loop.index(), "loop", shard->loop.counters());
  return 0;
}

}  // namespace

extern const Strategy epoll_exclusive_strategy = {
    .name = "epoll-exclusive",
    .family = "readiness",
    .summary = "one epoll loop per thread sharing one listener with EPOLLEXCLUSIVE (wake-one)",
    .default_threads = -1,
    .threads = Threads::kLoops,
    .run = run,
};

}  // namespace muxbench::server
