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
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
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
constexpr int kHandoffsPerWake = 64;  // descriptors taken from the pipe per wake-up

struct Loop {
  int index = 0;
  int ep = -1;
  int pipe_rd = -1;  // non-blocking: the loop drains it from epoll_wait
  int pipe_wr = -1;  // written by the acceptor
  std::vector<std::unique_ptr<Conn>> conns;  // indexed by fd (fds are process-wide)
  Counters c;

  ~Loop() {
    close_fd(ep);
    close_fd(pipe_rd);
    close_fd(pipe_wr);
  }

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

  // Creates the pipe and the epoll set watching its read end and stop_fd.
  bool init(int stop_fd) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
      std::fprintf(stderr, "epoll-handoff: pipe2: %s\n", errno_string(errno).c_str());
      return false;
    }
    pipe_rd = p[0];
    pipe_wr = p[1];
    set_nonblocking(pipe_rd);
    set_nonblocking(pipe_wr);  // a full pipe must not block the acceptor past a stop
    ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
      std::fprintf(stderr, "epoll-handoff: epoll_create1: %s\n", errno_string(errno).c_str());
      return false;
    }
    for (int fd : {pipe_rd, stop_fd}) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        std::fprintf(stderr, "epoll-handoff: epoll_ctl ADD: %s\n", errno_string(errno).c_str());
        return false;
      }
    }
    return true;
  }

  // Takes handed-off descriptors from the pipe and starts serving them.
  void take_handoffs() {
    int fds[kHandoffsPerWake];
    ssize_t r = read_retry(pipe_rd, fds, sizeof fds);
    if (r <= 0) return;  // EAGAIN: another wake-up took them
    // 4-byte writes are atomic and reads take whole multiples of them.
    for (ssize_t i = 0; i < r / static_cast<ssize_t>(sizeof(int)); ++i) {
      const int cfd = fds[i];
      ++c.accepted;
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

  // Connections handed over but not picked up before the loop stopped:
  // closed, and counted as this loop's (after the acceptor has finished).
  void drain_pipe() {
    int fds[kHandoffsPerWake];
    ssize_t r;
    while ((r = read_retry(pipe_rd, fds, sizeof fds)) > 0) {
      for (ssize_t i = 0; i < r / static_cast<ssize_t>(sizeof(int)); ++i) {
        close_fd(fds[i]);
        ++c.accepted;
        ++c.closed;
      }
    }
  }

  // The loop of one thread; stop_fd stays readable once signalled, so every
  // thread's epoll_wait returns. Its counters are merged by run().
  void serve(const Context& ctx) {
    std::vector<char> buf(kReadChunk);
    epoll_event events[kMaxEvents];
    bool stop = false;
    while (!stop && !ctx.stop_requested()) {
      int n = ::epoll_wait(ep, events, kMaxEvents, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::fprintf(stderr, "epoll-handoff: epoll_wait: %s\n", errno_string(errno).c_str());
        break;
      }
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == ctx.stop_fd) {
          stop = true;
          break;
        }
        if (fd == pipe_rd) {
          take_handoffs();
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
  }
};

// Writes the descriptor into the loop's pipe; waits (poll) while the pipe is
// full, unless stopping. False: not handed over (the caller closes it).
bool hand_off(Loop& loop, int cfd, const Context& ctx) {
  for (;;) {
    ssize_t w = write_retry(loop.pipe_wr, &cfd, sizeof cfd);
    if (w == static_cast<ssize_t>(sizeof cfd)) return true;
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
    pollfd p[2] = {{loop.pipe_wr, POLLOUT, 0}, {ctx.stop_fd, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) return false;
    if (p[1].revents != 0) return false;
  }
}

// The acceptor: blocking accepts until the listener is shut down at stop.
void accept_loop(std::vector<std::unique_ptr<Loop>>& loops, int index, const Context& ctx) {
  AcceptGuard acceptor;
  Counters c;  // connections it closed itself (shed, or left at stop) and accept errors
  std::size_t next = 0;
  while (!ctx.stop_requested()) {
    int cfd = acceptor.accept(ctx.listen_fd, SOCK_NONBLOCK | SOCK_CLOEXEC, c);
    if (cfd < 0) {
      if (errno == EINVAL) break;                        // listener shut down: stopping
      if (errno == EMFILE || errno == EAGAIN) continue;  // shed one (or none waiting)
      if (!is_transient_accept_error(errno)) ::usleep(10'000);  // never spin on errors
      continue;
    }
    Loop& loop = *loops[next];
    next = (next + 1) % loops.size();
    if (hand_off(loop, cfd, ctx)) {
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
  std::vector<std::unique_ptr<Loop>> loops;
  for (int i = 0; i < n; ++i) {
    loops.push_back(std::make_unique<Loop>());
    loops.back()->index = i;
    if (!loops.back()->init(ctx.stop_fd)) return 1;
  }

  // The loops are started before READY so that a failure to start one is a
  // start-up failure; the calling thread is the acceptor.
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    try {
      threads.emplace_back(
          [&ctx, loop = loops[static_cast<std::size_t>(i)].get()] { loop->serve(ctx); });
    } catch (const std::system_error& e) {
      std::fprintf(stderr, "epoll-handoff: starting loop thread %d of %d: %s\n", i + 1, n,
                   e.what());
      std::uint64_t one = 1;
      (void)!::write(ctx.stop_fd, &one, sizeof one);
      for (auto& t : threads) t.join();
      return 1;
    }
  }
  ctx.ready();
  accept_loop(loops, n, ctx);
  for (auto& t : threads) t.join();
  for (auto& loop : loops) {
    loop->drain_pipe();
    ctx.add_thread(loop->index, "loop", loop->c);
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
