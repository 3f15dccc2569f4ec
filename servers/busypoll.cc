// busypoll — non-blocking sockets polled in a tight loop, one thread.
//
// Mechanism: the chapter's "unforgivably bad" example, kept faithful: every
// socket is O_NONBLOCK and the loop simply tries accept(), then read() and
// write() on every connection, over and over, taking EAGAIN as "nothing
// yet". No readiness API, no sleeping, no yielding.
// Trade-offs: it does serve everyone (no connection blocks another), and at
// one or two busy connections latency is as low as it gets; but it burns a
// whole core even when idle, and every pass makes one or two syscalls per
// connection whether or not it has data, so the cost per useful byte grows
// linearly with the number of (idle) connections.
// Limits: RLIMIT_NOFILE only. Expect 100% CPU in every chart, and throughput
// that collapses as idle connections are added.
// Try it: muxbench-server --strategy busypoll --port 40713 &
//         nc 127.0.0.1 40713     (then watch top: one core at 100%, idle)
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <vector>

#include "conn.h"
#include "muxbench/net.h"

namespace muxbench::server {
namespace {

int run(Context& ctx) {
  if (!set_nonblocking(ctx.listen_fd)) {
    std::fprintf(stderr, "busypoll: O_NONBLOCK on the listener: %s\n",
                 errno_string(errno).c_str());
    return 1;
  }
  std::vector<std::unique_ptr<Conn>> conns;  // dense; order does not matter
  AcceptGuard acceptor;
  Counters c;
  std::vector<char> buf(kReadChunk);
  ctx.ready();

  while (!ctx.stop_requested()) {
    // accept() on every pass, whether or not anything is waiting.
    accept_burst(acceptor, ctx.listen_fd, c, [&](int fd) {
      auto conn = std::make_unique<Conn>();
      conn->fd = fd;
      conns.push_back(std::move(conn));
    });

    // One read attempt and one write attempt per connection per pass.
    for (std::size_t i = 0; i < conns.size();) {
      Conn& conn = *conns[i];
      bool failed = conn.wants_read() && read_into(conn, buf.data(), 1, c, ctx) == Io::kError;
      if (!failed && conn.wants_write()) failed = flush(conn, c) == Io::kError;
      if (failed || conn.done()) {
        close_fd(conn.fd);
        ++c.closed;
        conns[i] = std::move(conns.back());
        conns.pop_back();
        continue;  // the swapped-in connection is at i now
      }
      ++i;
    }
  }

  for (auto& conn : conns) {
    close_fd(conn->fd);
    ++c.closed;
  }
  ctx.totals.add(c);
  return 0;
}

}  // namespace

extern const Strategy busypoll_strategy = {
    .name = "busypoll",
    .family = "readiness",
    .summary = "non-blocking sockets polled in a spin loop (the chapter's bad example)",
    .run = run,
};

}  // namespace muxbench::server
