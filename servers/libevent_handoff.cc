// libevent-handoff — memcached's threading model: an acceptor thread with its
// own event_base hands each connection to one of --threads worker threads,
// round-robin, each running its own event_base, over a pipe.
//
// Mechanism: the acceptor's event_base watches the listener; its callback
// accepts and writes the new descriptor's number (4 bytes: atomic, so no
// queue and no lock) into the next worker's pipe. Each worker's event_base
// (EVENT_BASE_FLAG_NOLOCK: it is used by one thread only) watches its pipe's
// read end; the callback takes the descriptors and gives each the two
// persistent events of libevent.cc (EV_READ while the connection may read,
// EV_WRITE while output is queued), with the same callbacks. memcached passes
// a one-byte notification plus a locked queue of connection items, because it
// hands over more than a descriptor. Counters per thread (a connection counts
// for the worker that served it), merged at the end.
// Trade-offs: exact round-robin of connections whatever their load, accepts
// never delayed by request work; per connection a pipe write, a worker
// wake-up and a pipe read on top of accept, plus libevent's dispatch cost per
// event (see libevent.cc); the acceptor is one more thread on the CPUs.
// Limits: libevent's default backend (epoll on Linux; --backend applies to
// `libevent` only); RLIMIT_NOFILE is shared by all threads; the acceptor
// waits when a worker's pipe is full (16384 connections not yet picked up).
// Try it: muxbench-server --strategy libevent-handoff --threads 4 --port 40713 &
//         nc 127.0.0.1 40713
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
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

constexpr int kAcceptsPerWake = 64;   // bound accept bursts
constexpr int kHandoffsPerWake = 64;  // descriptors taken from the pipe per callback

struct Worker;

struct LConn {
  Conn conn;
  Worker* worker = nullptr;
  event* rd = nullptr;  // EV_READ|EV_PERSIST, pending while conn.wants_read()
  event* wr = nullptr;  // EV_WRITE|EV_PERSIST, pending while conn.wants_write()
  bool rd_on = false;
  bool wr_on = false;
};

struct Worker {
  int index = 0;
  const Context* ctx = nullptr;
  event_base* base = nullptr;
  event* pipe_ev = nullptr;
  event* stop_ev = nullptr;
  int pipe_rd = -1;  // non-blocking: drained by pipe_ev's callback
  int pipe_wr = -1;  // non-blocking: written by the acceptor
  Counters c;
  std::vector<std::unique_ptr<LConn>> conns;  // indexed by fd (fds are process-wide)
  std::vector<char> buf = std::vector<char>(kReadChunk);

  ~Worker() {
    for (auto& lc : conns) {
      if (lc) close_conn(*lc);
    }
    if (pipe_ev != nullptr) event_free(pipe_ev);
    if (stop_ev != nullptr) event_free(stop_ev);
    if (base != nullptr) event_base_free(base);
    close_fd(pipe_rd);
    close_fd(pipe_wr);
  }

  void close_conn(LConn& lc) {
    if (lc.rd != nullptr) event_free(lc.rd);
    if (lc.wr != nullptr) event_free(lc.wr);
    int fd = lc.conn.fd;
    close_fd(fd);
    ++c.closed;
    conns[static_cast<std::size_t>(fd)].reset();
  }

  // Makes the pending events match what the connection needs next.
  bool update(LConn& lc) {
    const bool want_rd = lc.conn.wants_read();
    const bool want_wr = lc.conn.wants_write();
    if (want_rd != lc.rd_on) {
      if ((want_rd ? event_add(lc.rd, nullptr) : event_del(lc.rd)) != 0) return false;
      lc.rd_on = want_rd;
    }
    if (want_wr != lc.wr_on) {
      if ((want_wr ? event_add(lc.wr, nullptr) : event_del(lc.wr)) != 0) return false;
      lc.wr_on = want_wr;
    }
    return true;
  }

  // Connections handed over but not picked up before the worker stopped:
  // closed, and counted as this worker's (after the acceptor has finished).
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
};

void on_conn(evutil_socket_t, short what, void* arg) {
  auto& lc = *static_cast<LConn*>(arg);
  Worker& w = *lc.worker;
  if ((what & EV_READ) && lc.conn.wants_read() &&
      read_into(lc.conn, w.buf.data(), 1, w.c, *w.ctx) == Io::kError) {
    return w.close_conn(lc);
  }
  // Write straight away rather than waiting a round for EV_WRITE.
  if (lc.conn.wants_write() && flush(lc.conn, w.c) == Io::kError) return w.close_conn(lc);
  if (lc.conn.done()) return w.close_conn(lc);
  if (!w.update(lc)) {
    ++w.c.errors_io;
    w.close_conn(lc);
  }
}

// The worker's pipe is readable: start serving the descriptors in it.
void on_handoff(evutil_socket_t, short, void* arg) {
  Worker& w = *static_cast<Worker*>(arg);
  int fds[kHandoffsPerWake];
  ssize_t r = read_retry(w.pipe_rd, fds, sizeof fds);
  if (r <= 0) return;
  // 4-byte writes are atomic and reads take whole multiples of them.
  for (ssize_t i = 0; i < r / static_cast<ssize_t>(sizeof(int)); ++i) {
    const int cfd = fds[i];
    ++w.c.accepted;
    auto lc = std::make_unique<LConn>();
    lc->conn.fd = cfd;
    lc->worker = &w;
    lc->rd = event_new(w.base, cfd, EV_READ | EV_PERSIST, on_conn, lc.get());
    lc->wr = event_new(w.base, cfd, EV_WRITE | EV_PERSIST, on_conn, lc.get());
    if (lc->rd == nullptr || lc->wr == nullptr || event_add(lc->rd, nullptr) != 0) {
      ++w.c.errors_io;
      if (lc->rd != nullptr) event_free(lc->rd);
      if (lc->wr != nullptr) event_free(lc->wr);
      close_fd(cfd);
      ++w.c.closed;
      continue;
    }
    lc->rd_on = true;
    if (w.conns.size() <= static_cast<std::size_t>(cfd)) w.conns.resize(cfd + 1024);
    w.conns[static_cast<std::size_t>(cfd)] = std::move(lc);
  }
}

void on_stop(evutil_socket_t, short, void* arg) {
  event_base_loopbreak(static_cast<event_base*>(arg));
}

// One thread, one event_base: no locks inside libevent.
event_base* make_base() {
  event_config* cfg = event_config_new();
  if (cfg == nullptr) return nullptr;
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
  event_base* base = event_base_new_with_config(cfg);
  event_config_free(cfg);
  return base;
}

bool init_worker(Worker& w, const Context& ctx) {
  w.ctx = &ctx;
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::fprintf(stderr, "libevent-handoff: pipe2: %s\n", errno_string(errno).c_str());
    return false;
  }
  w.pipe_rd = p[0];
  w.pipe_wr = p[1];
  w.base = make_base();
  if (w.base == nullptr) {
    std::fprintf(stderr, "libevent-handoff: event_base_new_with_config failed\n");
    return false;
  }
  w.pipe_ev = event_new(w.base, w.pipe_rd, EV_READ | EV_PERSIST, on_handoff, &w);
  w.stop_ev = event_new(w.base, ctx.stop_fd, EV_READ, on_stop, w.base);
  if (w.pipe_ev == nullptr || w.stop_ev == nullptr || event_add(w.pipe_ev, nullptr) != 0 ||
      event_add(w.stop_ev, nullptr) != 0) {
    std::fprintf(stderr, "libevent-handoff: event_new/event_add for a worker's pipe failed\n");
    return false;
  }
  return true;
}

void serve_worker(Worker& w) {
  if (!w.ctx->stop_requested() && event_base_dispatch(w.base) < 0) {
    std::fprintf(stderr, "libevent-handoff: worker %d: event_base_dispatch failed\n", w.index);
  }
  for (auto& lc : w.conns) {
    if (lc) w.close_conn(*lc);
  }
}

struct Acceptor {
  const Context* ctx = nullptr;
  std::vector<std::unique_ptr<Worker>>* workers = nullptr;
  std::size_t next = 0;
  AcceptGuard guard;
  Counters c;  // connections it closed itself (shed, or left at stop) and accept errors
};

// Writes the descriptor into the worker's pipe; waits (poll) while the pipe
// is full, unless stopping. False: not handed over (the caller closes it).
bool hand_off(Worker& w, int cfd, const Context& ctx) {
  for (;;) {
    ssize_t n = write_retry(w.pipe_wr, &cfd, sizeof cfd);
    if (n == static_cast<ssize_t>(sizeof cfd)) return true;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
    pollfd p[2] = {{w.pipe_wr, POLLOUT, 0}, {ctx.stop_fd, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) return false;
    if (p[1].revents != 0) return false;
  }
}

void on_accept(evutil_socket_t listen_fd, short, void* arg) {
  Acceptor& a = *static_cast<Acceptor*>(arg);
  for (int k = 0; k < kAcceptsPerWake; ++k) {
    int cfd = a.guard.accept(listen_fd, SOCK_NONBLOCK | SOCK_CLOEXEC, a.c);
    if (cfd < 0) {
      if (errno == EMFILE) continue;  // one connection shed; carry on
      return;
    }
    Worker& w = *(*a.workers)[a.next];
    a.next = (a.next + 1) % a.workers->size();
    if (hand_off(w, cfd, *a.ctx)) {
      --a.c.accepted;  // counted by the worker that serves it
    } else {
      close_fd(cfd);
      ++a.c.closed;
    }
  }
}

int run(Context& ctx) {
  const int n = ctx.threads;
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < n; ++i) {
    workers.push_back(std::make_unique<Worker>());
    workers.back()->index = i;
    if (!init_worker(*workers.back(), ctx)) return 1;
  }

  Acceptor acc;
  acc.ctx = &ctx;
  acc.workers = &workers;
  event_base* base = make_base();
  if (base == nullptr) {
    std::fprintf(stderr, "libevent-handoff: event_base_new_with_config failed\n");
    return 1;
  }
  set_nonblocking(ctx.listen_fd);
  event* accept_ev = event_new(base, ctx.listen_fd, EV_READ | EV_PERSIST, on_accept, &acc);
  event* stop_ev = event_new(base, ctx.stop_fd, EV_READ, on_stop, base);
  auto free_acceptor = [&] {
    if (accept_ev != nullptr) event_free(accept_ev);
    if (stop_ev != nullptr) event_free(stop_ev);
    event_base_free(base);
  };
  if (accept_ev == nullptr || stop_ev == nullptr || event_add(accept_ev, nullptr) != 0 ||
      event_add(stop_ev, nullptr) != 0) {
    std::fprintf(stderr, "libevent-handoff: event_new/event_add for the listener failed\n");
    free_acceptor();
    return 1;
  }

  // The workers are started before READY so that a failure to start one is a
  // start-up failure; the calling thread is the acceptor.
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    try {
      threads.emplace_back([w = workers[static_cast<std::size_t>(i)].get()] { serve_worker(*w); });
    } catch (const std::system_error& e) {
      std::fprintf(stderr, "libevent-handoff: starting worker thread %d of %d: %s\n", i + 1, n,
                   e.what());
      std::uint64_t one = 1;
      (void)!::write(ctx.stop_fd, &one, sizeof one);
      for (auto& t : threads) t.join();
      free_acceptor();
      return 1;
    }
  }
  ctx.ready();

  int rc = 0;
  if (!ctx.stop_requested() && event_base_dispatch(base) < 0) {
    std::fprintf(stderr, "libevent-handoff: acceptor: event_base_dispatch failed\n");
    rc = 1;
    std::uint64_t one = 1;
    (void)!::write(ctx.stop_fd, &one, sizeof one);  // stop the workers too
  }
  free_acceptor();
  for (auto& t : threads) t.join();
  for (auto& w : workers) {
    w->drain_pipe();
    ctx.add_thread(w->index, "loop", w->c);
  }
  ctx.add_thread(n, "acceptor", acc.c);
  return rc;
}

}  // namespace

extern const Strategy libevent_handoff_strategy = {
    .name = "libevent-handoff",
    .family = "libevent",
    .summary = "memcached's model: an acceptor event_base hands connections "
               "round-robin to N worker event_bases over pipes",
    .default_threads = -1,
    .threads = Threads::kLoops,
    .run = run,
};

}  // namespace muxbench::server
