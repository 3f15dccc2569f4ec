// epoll — level-triggered epoll(7), one thread.
//
// Mechanism: the kernel keeps the interest set (epoll_ctl once per change), so
// epoll_wait() costs O(ready fds), not O(watched fds) as select()/poll() do.
// Level-triggered: a fd with unread data is reported again on every wait, so
// one read per wake-up is enough and no connection can starve another.
// Trade-offs: one epoll_ctl(MOD) whenever a connection starts or stops
// needing EPOLLOUT; a single thread uses one core.
// Limits: RLIMIT_NOFILE only (raised to the hard limit at start-up).
// Try it: muxbench-server --strategy epoll --port 40713 & nc 127.0.0.1 40713
#include <sys/epoll.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <vector>

#include "conn.h"
#include "muxbench/net.h"

namespace muxbench::server {
namespace {

constexpr int kMaxEvents = 256;

struct Loop {
  int ep = -1;
  FdTable<Conn> conns;
  Counters c;

  ~Loop() { close_fd(ep); }

  void close_conn(Conn& conn) {
    ::epoll_ctl(ep, EPOLL_CTL_DEL, conn.fd, nullptr);
    int fd = conn.fd;
    close_fd(fd);
    ++c.closed;
    conns.erase(fd);
  }

  // A new connection: waits for input first.
  void add(int cfd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = cfd;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev) != 0) {
      ++c.errors_io;
      close_fd(cfd);
      ++c.closed;
      return;
    }
    auto conn = std::make_unique<Conn>();
    conn->fd = cfd;
    conn->interest = EPOLLIN;
    conns.put(cfd, std::move(conn));
  }

  // Waits for exactly what the connection needs next: input unless
  // backpressured or half-closed, output while some is queued.
  bool rearm(Conn& conn) {
    unsigned want = (conn.wants_read() ? EPOLLIN : 0u) | (conn.wants_write() ? EPOLLOUT : 0u);
    if (want == conn.interest) return true;
    epoll_event ev{};
    ev.events = want;
    ev.data.fd = conn.fd;
    conn.interest = want;
    return ::epoll_ctl(ep, EPOLL_CTL_MOD, conn.fd, &ev) == 0;
  }
};

int run(Context& ctx) {
  Loop loop;
  loop.ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (loop.ep < 0) {
    std::fprintf(stderr, "epoll: epoll_create1: %s\n", errno_string(errno).c_str());
    return 1;
  }
  set_nonblocking(ctx.listen_fd);
  for (int fd : {ctx.listen_fd, ctx.stop_fd}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(loop.ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
      std::fprintf(stderr, "epoll: epoll_ctl ADD: %s\n", errno_string(errno).c_str());
      return 1;
    }
  }
  AcceptGuard acceptor;
  std::vector<char> buf(kReadChunk);
  epoll_event events[kMaxEvents];
  ctx.ready();

  while (!ctx.stop_requested()) {
    int n = ::epoll_wait(loop.ep, events, kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "epoll: epoll_wait: %s\n", errno_string(errno).c_str());
      break;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == ctx.stop_fd) break;
      if (fd == ctx.listen_fd) {
        accept_burst(acceptor, ctx.listen_fd, loop.c, [&](int cfd) { loop.add(cfd); });
        continue;
      }
      Conn* conn = loop.conns.get(fd);
      if (conn == nullptr) continue;  // closed earlier in this batch
      const unsigned ev = events[i].events;
      if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && conn->wants_read() &&
          read_into(*conn, buf.data(), 1, loop.c, ctx) == Io::kError) {
        loop.close_conn(*conn);
        continue;
      }
      // Write straight away rather than waiting a round for EPOLLOUT.
      if (conn->wants_write() && flush(*conn, loop.c) == Io::kError) {
        loop.close_conn(*conn);
        continue;
      }
      if (conn->done() || !loop.rearm(*conn)) loop.close_conn(*conn);
    }
  }

  loop.conns.for_each([&](Conn& conn) { loop.close_conn(conn); });
  ctx.totals.add(loop.c);
  return 0;
}

}  // namespace

extern const Strategy epoll_strategy = {
    .name = "epoll",
    .family = "readiness",
    .summary = "level-triggered epoll, one thread: O(ready) per wait",
    .run = run,
};

}  // namespace muxbench::server
