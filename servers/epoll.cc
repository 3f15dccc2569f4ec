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
constexpr int kAcceptsPerWake = 64;  // bound accept bursts so clients keep being served

struct Loop {
  int ep = -1;
  std::vector<std::unique_ptr<Conn>> conns;  // indexed by fd
  Counters c;

  void close_conn(Conn& conn) {
    ::epoll_ctl(ep, EPOLL_CTL_DEL, conn.fd, nullptr);
    int fd = conn.fd;
    close_fd(fd);
    ++c.closed;
    conns[static_cast<std::size_t>(fd)].reset();
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
        for (int k = 0; k < kAcceptsPerWake; ++k) {
          int cfd = acceptor.accept(ctx.listen_fd, SOCK_NONBLOCK | SOCK_CLOEXEC, loop.c);
          if (cfd < 0) {
            if (errno == EMFILE) continue;
            break;
          }
          if (loop.conns.size() <= static_cast<std::size_t>(cfd)) loop.conns.resize(cfd + 1024);
          auto conn = std::make_unique<Conn>();
          conn->fd = cfd;
          conn->interest = EPOLLIN;
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.fd = cfd;
          if (::epoll_ctl(loop.ep, EPOLL_CTL_ADD, cfd, &ev) != 0) {
            ++loop.c.errors_io;
            close_fd(cfd);
            ++loop.c.closed;
            continue;
          }
          loop.conns[static_cast<std::size_t>(cfd)] = std::move(conn);
        }
        continue;
      }
      Conn* conn = loop.conns[static_cast<std::size_t>(fd)].get();
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

  for (auto& conn : loop.conns) {
    if (conn) loop.close_conn(*conn);
  }
  close_fd(loop.ep);
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
