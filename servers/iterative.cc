// iterative — plain blocking I/O, one connection at a time.
//
// Mechanism: accept() one connection, serve it with blocking read()/write()
// until the peer closes, close it, accept the next. The baseline every other
// strategy improves on: no readiness API, no threads, no buffers beyond one.
// Trade-offs: the cheapest possible per-request path (one read, one write, no
// bookkeeping), but concurrency is exactly one. Every other client waits in
// the listen backlog (4096) with its request unanswered, however idle the
// connection being served is; a client that stops reading stalls the server.
// Limits: one client at a time by design. Stop: a helper thread waits on
// stop_fd and shuts the current connection down, so a blocked read() returns.
// Try it: muxbench-server --strategy iterative --port 40713 &
//         nc 127.0.0.1 40713     (a second nc gets no reply until the first quits)
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include "conn.h"
#include "muxbench/net.h"

namespace muxbench::server {
namespace {

// The connection being served (-1: none), for the stop watcher.
std::atomic<int> g_current_fd{-1};

// Waits for the stop signal, then unblocks the connection being served.
void stop_watcher(int stop_fd) {
  pollfd p{stop_fd, POLLIN, 0};
  while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
  int fd = g_current_fd.load();
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

int run(Context& ctx) {
  std::thread(stop_watcher, ctx.stop_fd).detach();
  AcceptGuard acceptor;
  Counters c;
  ctx.ready();

  for (;;) {
    int fd = acceptor.accept_blocking(ctx.listen_fd, c, ctx);
    if (fd < 0) break;  // stopping
    // Publish the fd, then look at `stopping` (both seq_cst): either the
    // watcher sees this fd, or we see the stop it was woken for.
    g_current_fd.store(fd);
    if (ctx.stopping.load()) {
      g_current_fd.store(-1);
      close_fd(fd);
      ++c.closed;
      break;
    }
    serve_blocking(fd, c, ctx);
    g_current_fd.store(-1);
  }

  ctx.totals.add(c);
  return 0;
}

}  // namespace

extern const Strategy iterative_strategy = {
    .name = "iterative",
    .family = "blocking",
    .summary = "blocking I/O, one connection at a time (concurrency 1)",
    .limits = kOneClientAtATime,
    .run = run,
};

}  // namespace muxbench::server
