// epoll-exclusive — one listener shared by --threads level-triggered epoll
// loops, each registering it with EPOLLEXCLUSIVE (wake-one).
//
// Mechanism: every loop is the epoll loop of epoll.cc over its own epoll set
// and its own connections; the one listening socket is in every set, added
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
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <system_error>
#include <thread>
#include <vector>

#include "conn.h"
#include "muxbench/net.h"

namespace muxbench::server {
namespace {

constexpr int kMaxEvents = 256;
constexpr int kAcceptsPerWake = 64;  // bound accept bursts so clients keep being served

struct Loop {
  int index = 0;
  int ep = -1;
  int listen_fd = -1;  // shared by every loop
  std::vector<std::unique_ptr<Conn>> conns;  // indexed by fd (fds are process-wide)
  Counters c;

  ~Loop() { close_fd(ep); }

  void close_conn(Conn& conn) {
    ::epoll_ctl(ep, EPOLL_CTL_DEL, conn.fd, nullptr);
    int fd = conn.fd;
    close_fd(fd);
    ++c.closed;
    conns[static_cast<std::size_t>(fd)].reset();
  }

  bool rearm(Conn& conn) {
    unsigned want = (conn.wants_read() ? EPOLLIN : 0u) | (conn.wants_write() ? EPOLLOUT : 0u);
    if (want == conn.interest) return true;
    epoll_event ev{};
    ev.events = want;
    ev.data.fd = conn.fd;
    conn.interest = want;
    return ::epoll_ctl(ep, EPOLL_CTL_MOD, conn.fd, &ev) == 0;
  }

  // Creates the epoll set: the shared listener with EPOLLEXCLUSIVE, stop_fd
  // without (every loop must see the stop).
  bool init(int lfd, int stop_fd) {
    listen_fd = lfd;
    ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
      std::fprintf(stderr, "epoll-exclusive: epoll_create1: %s\n", errno_string(errno).c_str());
      return false;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.fd = listen_fd;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev) != 0) {
      std::fprintf(stderr,
                   "epoll-exclusive: epoll_ctl ADD with EPOLLEXCLUSIVE: %s%s\n",
                   errno_string(errno).c_str(),
                   errno == EINVAL ? " (EPOLLEXCLUSIVE needs Linux 4.5 or later)" : "");
      return false;
    }
    ev.events = EPOLLIN;
    ev.data.fd = stop_fd;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, stop_fd, &ev) != 0) {
      std::fprintf(stderr, "epoll-exclusive: epoll_ctl ADD: %s\n", errno_string(errno).c_str());
      return false;
    }
    return true;
  }

  // Several loops may be woken for one connection: the losers get EAGAIN.
  void accept_some(AcceptGuard& acceptor) {
    for (int k = 0; k < kAcceptsPerWake; ++k) {
      int cfd = acceptor.accept(listen_fd, SOCK_NONBLOCK | SOCK_CLOEXEC, c);
      if (cfd < 0) {
        if (errno == EMFILE) continue;
        return;
      }
      if (conns.size() <= static_cast<std::size_t>(cfd)) conns.resize(cfd + 1024);
      auto conn = std::make_unique<Conn>();
      conn->fd = cfd;
      conn->interest = EPOLLIN;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = cfd;
      if (::epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev) != 0) {
        ++c.errors_io;
        close_fd(cfd);
        ++c.closed;
        continue;
      }
      conns[static_cast<std::size_t>(cfd)] = std::move(conn);
    }
  }

  // The loop of one thread; stop_fd stays readable once signalled, so every
  // thread's epoll_wait returns.
  void serve(const Context& ctx) {
    AcceptGuard acceptor;  // one reserve fd per thread: each may hit EMFILE
    std::vector<char> buf(kReadChunk);
    epoll_event events[kMaxEvents];
    bool stop = false;
    while (!stop && !ctx.stop_requested()) {
      int n = ::epoll_wait(ep, events, kMaxEvents, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::fprintf(stderr, "epoll-exclusive: epoll_wait: %s\n", errno_string(errno).c_str());
        break;
      }
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == ctx.stop_fd) {
          stop = true;
          break;
        }
        if (fd == listen_fd) {
          accept_some(acceptor);
          continue;
        }
        Conn* conn = conns[static_cast<std::size_t>(fd)].get();
        if (conn == nullptr) continue;  // closed earlier in this batch
        const unsigned ev = events[i].events;
        if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && conn->wants_read() &&
            read_into(*conn, buf.data(), 1, c, ctx) == Io::kError) {
          close_conn(*conn);
          continue;
        }
        if (conn->wants_write() && flush(*conn, c) == Io::kError) {
          close_conn(*conn);
          continue;
        }
        if (conn->done() || !rearm(*conn)) close_conn(*conn);
      }
    }
    for (auto& conn : conns) {
      if (conn) close_conn(*conn);
    }
    ctx.add_thread(index, "loop", c);
  }
};

int run(Context& ctx) {
  const int n = ctx.threads;
  set_nonblocking(ctx.listen_fd);  // woken loops that lose the race must not block
  std::vector<std::unique_ptr<Loop>> loops;
  for (int i = 0; i < n; ++i) {
    loops.push_back(std::make_unique<Loop>());
    loops.back()->index = i;
    if (!loops.back()->init(ctx.listen_fd, ctx.stop_fd)) return 1;
  }

  // Threads 1..n-1 are started before READY so that a failure to start one is
  // a start-up failure; the calling thread runs loop 0.
  std::vector<std::thread> threads;
  for (int i = 1; i < n; ++i) {
    try {
      threads.emplace_back(
          [&ctx, loop = loops[static_cast<std::size_t>(i)].get()] { loop->serve(ctx); });
    } catch (const std::system_error& e) {
      std::fprintf(stderr, "epoll-exclusive: starting thread %d of %d: %s\n", i + 1, n, e.what());
      std::uint64_t one = 1;
      (void)!::write(ctx.stop_fd, &one, sizeof one);
      for (auto& t : threads) t.join();
      return 1;
    }
  }
  ctx.ready();
  loops[0]->serve(ctx);
  for (auto& t : threads) t.join();
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
