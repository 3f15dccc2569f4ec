// epoll-handoff — an acceptor thread hands each connection to one of
// --threads level-triggered epoll loops over a pipe, round-robin (memcached's
// design).
//
// Mechanism: the calling thread only accepts (blocking accept4 on the one
// listener) and writes the new descriptor's number, 4 bytes, into the pipe of
// the next loop in turn; each loop is the epoll loop of epoll.cc, watching its
// pipe's read end besides its connections. memcached's dispatcher does the
// same with a one-byte notification plus a locked queue of connection items
// (it hands over more than a descriptor); here the descriptor is the whole
// message, and a pipe write of 4 bytes is atomic, so there is no queue and no
// lock. Counters per thread (a connection counts for the loop that served
// it), merged at the end.
// Trade-offs: exact round-robin of connections, whatever their load, and one
// accept loop that never competes with request work; each connection costs a
// pipe write, a wake-up of its loop and a pipe read on top of accept, and the
// acceptor is one more thread on the CPUs. A connection never moves between
// loops.
// Limits: RLIMIT_NOFILE is shared by all threads (descriptors in flight in a
// pipe are open); the acceptor waits when a loop's pipe is full (64 KiB:
// 16384 connections not yet picked up).
// Try it: muxbench-server --strategy epoll-handoff --threads 4 --port 40713 &
//         nc 127.0.0.1 40713
#include <sys/socket.h>

#include <memory>
#include <thread>
#include <vector>

#include "conn.h"
#include "epoll_loop.h"
#include "muxbench/net.h"
#include "threads.h"

namespace muxbench::server {
namespace {

constexpr const char* kWho = "epoll-handoff";

// One loop and the pipe it is handed connections on.
struct Shard {
  explicit Shard(int i) : loop(i, kWho) {}
  EpollLoop loop;
  HandoffPipe pipe;

  // Takes handed-off descriptors from the pipe and starts serving them.
  void take_handoffs() {
    int fds[HandoffPipe::kPerWake];
    const int n = pipe.receive(fds);  // 0: another wake-up took them
    for (int i = 0; i < n; ++i) {
      ++loop.counters().accepted;
      loop.add(fds[i]);
    }
  }
};

// The acceptor: blocking accepts until the listener is shut down at stop,
// each connection handed to the next loop in turn.
void accept_loop(std::vector<std::unique_ptr<Shard>>& shards, int index, const Context& ctx) {
  AcceptGuard acceptor;
  Counters c;  // connections it closed itself (shed, or left at stop) and accept errors
  std::size_t next = 0;
  for (;;) {
    const int cfd = acceptor.accept_blocking(ctx.listen_fd, c, ctx, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) break;  // stopping
    Shard& shard = *shards[next];
    next = (next + 1) % shards.size();
    if (shard.pipe.send(cfd, ctx)) {
      --c.accepted;  // counted by the loop that serves it
    } else {
      close_fd(cfd);
      ++c.closed;
    }
  }
  ctx.add_thread(index, "acceptor", c);
}

int run(Context& ctx) {
  const int n = ctx.threads;
  std::vector<std::unique_ptr<Shard>> shards;
  for (int i = 0; i < n; ++i) {
    auto& shard = *shards.emplace_back(std::make_unique<Shard>(i));
    if (!shard.pipe.open(kWho) || !shard.loop.init(ctx.stop_fd) ||
        !shard.loop.watch_source(shard.pipe.read_fd(), 0, [&shard] { shard.take_handoffs(); })) {
      return 1;
    }
  }

  // The loops are started before READY; the calling thread is the acceptor.
  auto serve = [&](int i) { shards[static_cast<std::size_t>(i)]->loop.serve(ctx); };
  std::vector<std::thread> threads;
  if (!start_threads(ctx, kWho, 0, n, serve, threads)) return 1;
  ctx.ready();
  accept_loop(shards, n, ctx);
  for (auto& t : threads) t.join();
  for (auto& shard : shards) {
    // Connections handed over but not picked up before the loop stopped.
    shard->pipe.drain(shard->loop.counters());
    ctx.add_thread(shard->loop.index(), "loop", shard->loop.counters());
  }
  return 0;
}

}  // namespace

extern const Strategy epoll_handoff_strategy = {
    .name = "epoll-handoff",
    .family = "readiness",
    .summary = "an acceptor thread hands connections round-robin to N epoll loops "
               "over pipes (memcached)",
    .default_threads = -1,
    .threads = Threads::kLoops,
    .run = run,
};

}  // namespace muxbench::server
