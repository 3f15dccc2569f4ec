// epoll-reuseport — one level-triggered epoll loop per thread, each with its
// own SO_REUSEPORT listener.
//
// Mechanism: --threads N (default: one per CPU) independent loops, each the
// epoll loop of epoll.cc over its own epoll set, its own listener and its own
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
  int listen_fd = -1;
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

  // Creates the epoll set watching this loop's listener and stop_fd.
  bool init(int lfd, int stop_fd) {
    listen_fd = lfd;
    ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
      std::fprintf(stderr, "epoll-reuseport: epoll_create1: %s\n", errno_string(errno).c_str());
      return false;
    }
    set_nonblocking(listen_fd);
    for (int fd : {listen_fd, stop_fd}) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        std::fprintf(stderr, "epoll-reuseport: epoll_ctl ADD: %s\n", errno_string(errno).c_str());
        return false;
      }
    }
    return true;
  }

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
        std::fprintf(stderr, "epoll-reuseport: epoll_wait: %s\n", errno_string(errno).c_str());
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
  std::vector<std::unique_ptr<Loop>> loops;
  for (int i = 0; i < n; ++i) {
    int lfd = i == 0 ? ctx.listen_fd : ctx.extra_listener();  // extra_listener prints why
    if (lfd < 0) return 1;
    loops.push_back(std::make_unique<Loop>());
    loops.back()->index = i;
    if (!loops.back()->init(lfd, ctx.stop_fd)) return 1;
  }

  // Threads 1..n-1 are started before READY so that a failure to start one is
  // a start-up failure; the calling thread runs loop 0.
  std::vector<std::thread> threads;
  for (int i = 1; i < n; ++i) {
    try {
      threads.emplace_back(
          [&ctx, loop = loops[static_cast<std::size_t>(i)].get()] { loop->serve(ctx); });
    } catch (const std::system_error& e) {
      std::fprintf(stderr, "epoll-reuseport: starting thread %d of %d: %s\n", i + 1, n, e.what());
      // Wake the loops already running (stop_fd stays readable) and wait.
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
