// select — the chapter's select() server, one thread.
//
// Mechanism: every pass rebuilds two fd_sets (read: connections that may
// read, i.e. not backpressured or half-closed; write: connections with output
// queued), calls select(maxfd + 1, ...) and then scans every fd up to maxfd
// for the bits the kernel left set.
// Trade-offs: portable and simple, but the cost is O(maxfd) on both sides of
// every call: building the sets, the kernel walking them, and the scan after,
// however few fds are ready. The sets are rebuilt each time because select()
// overwrites them.
// Limits: an fd_set holds fds 0..FD_SETSIZE-1 (1024 with glibc) and FD_SET on
// a larger fd is undefined behaviour (the book tests `fd > FD_SETSIZE`, off by
// one). A connection whose fd is >= FD_SETSIZE is closed at once and counted
// in rejected.fd_setsize, so at most ~1020 clients are served at a time.
// Try it: muxbench-server --strategy select --port 40713 & nc 127.0.0.1 40713
#include <sys/select.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <vector>

#include "conn.h"
#include "muxbench/net.h"

namespace muxbench::server {
namespace {

int run(Context& ctx) {
  if (ctx.listen_fd >= FD_SETSIZE || ctx.stop_fd >= FD_SETSIZE) {
    std::fprintf(stderr, "select: listener/stop fd does not fit an fd_set (FD_SETSIZE %d)\n",
                 FD_SETSIZE);
    return 1;
  }
  if (!set_nonblocking(ctx.listen_fd)) {
    std::fprintf(stderr, "select: O_NONBLOCK on the listener: %s\n",
                 errno_string(errno).c_str());
    return 1;
  }
  std::vector<std::unique_ptr<Conn>> conns(FD_SETSIZE);  // indexed by fd
  int top = -1;  // highest fd in conns (or lower: shrinks as sets are rebuilt)
  AcceptGuard acceptor;
  Counters c;
  std::vector<char> buf(kReadChunk);
  auto close_conn = [&](int fd) {
    close_fd(fd);
    ++c.closed;
    conns[static_cast<std::size_t>(fd)].reset();
  };
  ctx.ready();

  while (!ctx.stop_requested()) {
    fd_set readset;
    fd_set writeset;
    FD_ZERO(&readset);
    FD_ZERO(&writeset);
    FD_SET(ctx.stop_fd, &readset);
    FD_SET(ctx.listen_fd, &readset);
    int maxfd = std::max(ctx.stop_fd, ctx.listen_fd);
    int new_top = -1;
    for (int fd = 0; fd <= top; ++fd) {
      const Conn* conn = conns[static_cast<std::size_t>(fd)].get();
      if (conn == nullptr) continue;
      if (conn->wants_read()) FD_SET(fd, &readset);
      if (conn->wants_write()) FD_SET(fd, &writeset);
      new_top = fd;
    }
    top = new_top;
    maxfd = std::max(maxfd, top);

    if (::select(maxfd + 1, &readset, &writeset, nullptr, nullptr) < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "select: select: %s\n", errno_string(errno).c_str());
      break;
    }
    if (FD_ISSET(ctx.stop_fd, &readset)) break;

    for (int fd = 0; fd <= top; ++fd) {
      Conn* conn = conns[static_cast<std::size_t>(fd)].get();
      if (conn == nullptr) continue;
      const bool readable = FD_ISSET(fd, &readset);
      if (!readable && !FD_ISSET(fd, &writeset)) continue;
      if (readable && read_into(*conn, buf.data(), 1, c, ctx) == Io::kError) {
        close_conn(fd);
        continue;
      }
      // Write straight away rather than waiting a pass for writability.
      if (conn->wants_write() && flush(*conn, c) == Io::kError) {
        close_conn(fd);
        continue;
      }
      if (conn->done()) close_conn(fd);
    }

    // After the scan, so a new connection on a just-closed fd number is not
    // mistaken for the old one's bits.
    if (FD_ISSET(ctx.listen_fd, &readset)) {
      accept_burst(acceptor, ctx.listen_fd, c, [&](int fd) {
        if (fd >= FD_SETSIZE) {  // FD_SET could not hold it
          close_fd(fd);
          ++c.closed;
          ++c.rejected_fd_setsize;
          return;
        }
        conns[static_cast<std::size_t>(fd)] = std::make_unique<Conn>();
        conns[static_cast<std::size_t>(fd)]->fd = fd;
        top = std::max(top, fd);
      });
    }
  }

  for (int fd = 0; fd <= top; ++fd) {
    if (conns[static_cast<std::size_t>(fd)]) close_conn(fd);
  }
  ctx.totals.add(c);
  return 0;
}

}  // namespace

extern const Strategy select_strategy = {
    .name = "select",
    .family = "readiness",
    .summary = "select(), one thread: O(maxfd) per call, fds < FD_SETSIZE only",
    .limits = kFdSetsize,
    .run = run,
};

}  // namespace muxbench::server
