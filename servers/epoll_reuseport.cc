// epoll-reuseport — one level-triggered epoll loop per thread, each with its
// own SO_REUSEPORT listener.
//
// Mechanism: --threads N (default: one per CPU) independent loops, each the
// epoll loop of epoll.cc (epoll_loop.h) over its own epoll set, its own listener and its own
// connections. The kernel spreads incoming connections across the listeners
// bound to the same port by a hash of the 4-tuple, so the threads share
// nothing: no lock, no accept contention (no thundering herd), counters per
// thread merged at the end (and listed per thread in --stats).
// Trade-offs: the hash balances connections, not load: a few heavy clients on
// one thread leave the others idle, and a connection never migrates. Each
// listener has its own backlog; connections queued on a listener when it is
// closed are reset.
// Limits: SO_REUSEPORT load balancing for TCP needs Linux 3.9; RLIMIT_NOFILE
// is shared by all threads.
// Try it: muxbench-server --strategy epoll-reuseport --threads 4 --port 40713 &
//         nc 127.0.0.1 40713
#include <memory>
#include <thread>
#include <vector>

#include "conn.h"
#include "epoll_loop.h"
#include "muxbench/net.h"
#include "threads.h"

namespace muxbench::server {
namespace {

constexpr const char* kWho = "epoll-reuseport";

// One loop and the listener only it accepts from.
struct Shard {
  explicit Shard(int i) : loop(i, kWho) {}
  EpollLoop loop;
  AcceptGuard acceptor;  // one reserve fd per thread: each may hit EMFILE
};

int run(Context& ctx) {
  const int n = ctx.threads;
  std::vector<std::unique_ptr<Shard>> shards;
  for (int i = 0; i < n; ++i) {
    // Every thread its own listener on the same port; the kernel hashes each
    // new connection to one of them.
    const int lfd = i == 0 ? ctx.listen_fd : ctx.extra_listener();  // extra_listener prints why
    if (lfd < 0) return 1;
    set_nonblocking(lfd);
    auto& shard = *shards.emplace_back(std::make_unique<Shard>(i));
    auto accept_some = [&shard, lfd] {
      accept_burst(shard.acceptor, lfd, shard.loop.counters(),
                   [&shard](int cfd) { shard.loop.add(cfd); });
    };
    if (!shard.loop.init(ctx.stop_fd) || !shard.loop.watch_source(lfd, 0, accept_some)) return 1;
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

extern const Strategy epoll_reuseport_strategy = {
    .name = "epoll-reuseport",
    .family = "readiness",
    .summary = "one epoll loop per thread, each with its own SO_REUSEPORT listener",
    .default_threads = -1,
    .threads = Threads::kLoops,
    .reuseport_listener = true,
    .run = run,
};

}  // namespace muxbench::server
