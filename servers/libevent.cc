// libevent — libevent's low-level API: one event_base, one persistent event
// per direction per connection, one thread.
//
// Mechanism: event_new(fd, EV_READ|EV_PERSIST) / event_add() and a callback;
// libevent runs the wait (select, poll or epoll, --backend) and dispatches.
// The read event is pending while the connection may read (not half-closed,
// not backpressured); the write event only while output is queued. The
// callback does the same read/transform/write steps as epoll.cc. The
// per-connection half is in libevent_conns.cc (libevent-handoff's workers
// serve connections the same way); this file holds the base and the
// listener.
// Trade-offs: portability and a tidy callback model for one indirection per
// event and libevent's bookkeeping (an event_add/event_del, i.e. a changelist
// entry and usually an epoll_ctl, whenever a direction starts or stops being
// needed). With --backend select or poll the per-wait cost is O(watched fds),
// as for the hand-written select/poll strategies.
// Limits: --backend select: this libevent grows its fd_sets past FD_SETSIZE,
// but is built with _FORTIFY_SOURCE, whose FD_SET aborts on fd >= FD_SETSIZE
// (1024): such connections are closed at once and counted as
// rejected.fd_setsize. Otherwise RLIMIT_NOFILE.
// Try it: muxbench-server --strategy libevent --backend poll --port 40713 &
//         nc 127.0.0.1 40713
#include <event2/event.h>
#include <sys/select.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "conn.h"
#include "libevent_conns.h"
#include "muxbench/net.h"

namespace muxbench::server {
namespace {

// One thread: its event_base, its connections (libevent_conns.h), and the
// listener's callback.
struct Loop {
  event_base* base = nullptr;
  const Context* ctx = nullptr;
  bool fd_setsize_limit = false;  // --backend select (see the header comment)
  Counters c;
  AcceptGuard acceptor;
  std::unique_ptr<LibeventConns> conns;
};

// A new connection, unless select would abort on it (see the header comment).
void add_conn(Loop& loop, int cfd) {
  if (loop.fd_setsize_limit && cfd >= FD_SETSIZE) {
    close_fd(cfd);
    ++loop.c.rejected_fd_setsize;
    ++loop.c.closed;
    return;
  }
  loop.conns->add(cfd);
}

void on_accept(evutil_socket_t listen_fd, short, void* arg) {
  Loop& loop = *static_cast<Loop*>(arg);
  accept_burst(loop.acceptor, listen_fd, loop.c, [&](int cfd) { add_conn(loop, cfd); });
}

void on_stop(evutil_socket_t, short, void* arg) {
  event_base_loopbreak(static_cast<event_base*>(arg));
}

// An event_base using exactly `backend` ("" = libevent's choice), or null with
// the reason printed.
event_base* make_base(const std::string& backend) {
  event_config* cfg = event_config_new();
  if (cfg == nullptr) {
    std::fprintf(stderr, "libevent: event_config_new failed\n");
    return nullptr;
  }
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);  // one thread: no locks
  if (!backend.empty()) {
    for (const char** m = event_get_supported_methods(); m != nullptr && *m != nullptr; ++m) {
      if (backend != *m) event_config_avoid_method(cfg, *m);
    }
  }
  event_base* base = event_base_new_with_config(cfg);
  event_config_free(cfg);
  if (base == nullptr) {
    std::fprintf(stderr, "libevent: no event_base%s%s (not supported by this libevent?)\n",
                 backend.empty() ? "" : " with backend ", backend.c_str());
    return nullptr;
  }
  if (!backend.empty() && backend != event_base_get_method(base)) {
    std::fprintf(stderr, "libevent: asked for backend %s but libevent chose %s\n", backend.c_str(),
                 event_base_get_method(base));
    event_base_free(base);
    return nullptr;
  }
  return base;
}

int run(Context& ctx) {
  Loop loop;
  loop.ctx = &ctx;
  loop.base = make_base(ctx.opt.backend);
  if (loop.base == nullptr) return 1;
  loop.fd_setsize_limit = std::string(event_base_get_method(loop.base)) == "select";
  loop.conns = std::make_unique<LibeventConns>(loop.base, ctx, loop.c);
  set_nonblocking(ctx.listen_fd);
  event* accept_ev = event_new(loop.base, ctx.listen_fd, EV_READ | EV_PERSIST, on_accept, &loop);
  event* stop_ev = event_new(loop.base, ctx.stop_fd, EV_READ, on_stop, loop.base);
  if (accept_ev == nullptr || stop_ev == nullptr || event_add(accept_ev, nullptr) != 0 ||
      event_add(stop_ev, nullptr) != 0) {
    std::fprintf(stderr, "libevent: event_new/event_add for the listener or stop_fd failed\n");
    if (accept_ev != nullptr) event_free(accept_ev);
    if (stop_ev != nullptr) event_free(stop_ev);
    loop.conns.reset();
    event_base_free(loop.base);
    return 1;
  }
  ctx.ready();

  int rc = 0;
  if (!ctx.stop_requested() && event_base_dispatch(loop.base) < 0) {
    std::fprintf(stderr, "libevent: event_base_dispatch failed\n");
    rc = 1;
  }

  loop.conns.reset();  // closes the connections, before their base goes
  event_free(accept_ev);
  event_free(stop_ev);
  event_base_free(loop.base);
  ctx.totals.add(loop.c);
  return rc;
}

// The wait mechanisms --backend forces (libevent's own names). select: see
// the header comment.
constexpr Backend kBackends[] = {{"select", kFdSetsize}, {"poll"}, {"epoll"}};

}  // namespace

extern const Strategy libevent_strategy = {
    .name = "libevent",
    .family = "libevent",
    .summary = "libevent event_new/event_add (EV_PERSIST), one thread; --backend select|poll|epoll",
    .backends = kBackends,
    .run = run,
};

}  // namespace muxbench::server
