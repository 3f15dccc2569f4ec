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
// EV_WRITE while output is queued), with the same callback
// (libevent_conns.cc). memcached passes
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
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "conn.h"
#include "libevent_conns.h"
#include "muxbench/net.h"
#include "threads.h"

namespace muxbench::server {
namespace {

struct Worker {
  int index = 0;
  const Context* ctx = nullptr;
  event_base* base = nullptr;
  event* pipe_ev = nullptr;
  event* stop_ev = nullptr;
  HandoffPipe pipe;  // drained by pipe_ev's callback, written by the acceptor
  Counters c;
  std::unique_ptr<LibeventConns> conns;  // libevent.cc's way, on this base

  ~Worker() {
    conns.reset();  // closes the connections, before their base goes
    if (pipe_ev != nullptr) event_free(pipe_ev);
    if (stop_ev != nullptr) event_free(stop_ev);
    if (base != nullptr) event_base_free(base);
  }
};

// The worker's pipe is readable: start serving the descriptors in it.
void on_handoff(evutil_socket_t, short, void* arg) {
  Worker& w = *static_cast<Worker*>(arg);
  int fds[HandoffPipe::kPerWake];
  const int n = w.pipe.receive(fds);  // 0: another wake-up took them
  for (int i = 0; i < n; ++i) {
    ++w.c.accepted;
    w.conns->add(fds[i]);
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
  if (!w.pipe.open("libevent-handoff")) return false;
  w.base = make_base();
  if (w.base == nullptr) {
    std::fprintf(stderr, "libevent-handoff: event_base_new_with_config failed\n");
    return false;
  }
  w.conns = std::make_unique<LibeventConns>(w.base, ctx, w.c);
  w.pipe_ev = event_new(w.base, w.pipe.read_fd(), EV_READ | EV_PERSIST, on_handoff, &w);
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
  w.conns->close_all();
}

struct Acceptor {
  const Context* ctx = nullptr;
  std::vector<std::unique_ptr<Worker>>* workers = nullptr;
  std::size_t next = 0;
  AcceptGuard guard;
  Counters c;  // connections it closed itself (shed, or left at stop) and accept errors
};

void on_accept(evutil_socket_t listen_fd, short, void* arg) {
  Acceptor& a = *static_cast<Acceptor*>(arg);
  accept_burst(a.guard, listen_fd, a.c, [&a](int cfd) {
    Worker& w = *(*a.workers)[a.next];
    a.next = (a.next + 1) % a.workers->size();
    if (w.pipe.send(cfd, *a.ctx)) {
      --a.c.accepted;  // counted by the worker that serves it
    } else {
      close_fd(cfd);
      ++a.c.closed;
    }
  });
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

  // The workers are started before READY; the calling thread is the acceptor.
  std::vector<std::thread> threads;
  auto serve = [&](int i) { serve_worker(*workers[static_cast<std::size_t>(i)]); };
  if (!start_threads(ctx, "libevent-handoff", 0, n, serve, threads)) {
    free_acceptor();
    return 1;
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
    w->pipe.drain(w->c);  // handed over but never picked up
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
