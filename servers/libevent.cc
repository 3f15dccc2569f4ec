// libevent — libevent's low-level API: one event_base, one persistent event
// per direction per connection, one thread.
//
// Mechanism: event_new(fd, EV_READ|EV_PERSIST) / event_add() and a callback;
// libevent runs the wait (select, poll or epoll, --backend) and dispatches.
// The read event is pending while the connection may read (not half-closed,
// not backpressured); the write event only while output is queued. The
// callback does the same read/transform/write steps as epoll.cc.
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
#include "muxbench/net.h"

namespace muxbench::server {
namespace {

struct Loop;

struct LibeventConn {
  Conn conn;
  Loop* loop = nullptr;
  event* rd = nullptr;  // EV_READ|EV_PERSIST, pending while conn.wants_read()
  event* wr = nullptr;  // EV_WRITE|EV_PERSIST, pending while conn.wants_write()
  bool rd_on = false;
  bool wr_on = false;
};

struct Loop {
  event_base* base = nullptr;
  const Context* ctx = nullptr;
  bool fd_setsize_limit = false;  // --backend select (see the header comment)
  Counters c;
  AcceptGuard acceptor;
  FdTable<LibeventConn> conns;
  std::vector<char> buf = std::vector<char>(kReadChunk);

  void close_conn(LibeventConn& lc) {
    // event_free() deletes a pending event first; freeing the event whose
    // callback is running is allowed (libevent does not touch it afterwards).
    if (lc.rd != nullptr) event_free(lc.rd);
    if (lc.wr != nullptr) event_free(lc.wr);
    int fd = lc.conn.fd;
    close_fd(fd);
    ++c.closed;
    conns.erase(fd);
  }

  // Makes the pending events match what the connection needs next.
  bool update(LibeventConn& lc) {
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
};

void on_conn(evutil_socket_t, short what, void* arg) {
  auto& lc = *static_cast<LibeventConn*>(arg);
  Loop& loop = *lc.loop;
  if ((what & EV_READ) && lc.conn.wants_read() &&
      read_into(lc.conn, loop.buf.data(), 1, loop.c, *loop.ctx) == Io::kError) {
    return loop.close_conn(lc);
  }
  // Write straight away rather than waiting a round for EV_WRITE.
  if (lc.conn.wants_write() && flush(lc.conn, loop.c) == Io::kError) return loop.close_conn(lc);
  if (lc.conn.done()) return loop.close_conn(lc);
  if (!loop.update(lc)) {
    ++loop.c.errors_io;
    loop.close_conn(lc);
  }
}

// A new connection: its two persistent events, the read one pending.
void add_conn(Loop& loop, int cfd) {
  if (loop.fd_setsize_limit && cfd >= FD_SETSIZE) {
    close_fd(cfd);
    ++loop.c.rejected_fd_setsize;
    ++loop.c.closed;
    return;
  }
  auto lc = std::make_unique<LibeventConn>();
  lc->conn.fd = cfd;
  lc->loop = &loop;
  lc->rd = event_new(loop.base, cfd, EV_READ | EV_PERSIST, on_conn, lc.get());
  lc->wr = event_new(loop.base, cfd, EV_WRITE | EV_PERSIST, on_conn, lc.get());
  if (lc->rd == nullptr || lc->wr == nullptr || event_add(lc->rd, nullptr) != 0) {
    ++loop.c.errors_io;
    if (lc->rd != nullptr) event_free(lc->rd);
    if (lc->wr != nullptr) event_free(lc->wr);
    close_fd(cfd);
    ++loop.c.closed;
    return;
  }
  lc->rd_on = true;
  loop.conns.put(cfd, std::move(lc));
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
  set_nonblocking(ctx.listen_fd);
  event* accept_ev = event_new(loop.base, ctx.listen_fd, EV_READ | EV_PERSIST, on_accept, &loop);
  event* stop_ev = event_new(loop.base, ctx.stop_fd, EV_READ, on_stop, loop.base);
  if (accept_ev == nullptr || stop_ev == nullptr || event_add(accept_ev, nullptr) != 0 ||
      event_add(stop_ev, nullptr) != 0) {
    std::fprintf(stderr, "libevent: event_new/event_add for the listener or stop_fd failed\n");
    if (accept_ev != nullptr) event_free(accept_ev);
    if (stop_ev != nullptr) event_free(stop_ev);
    event_base_free(loop.base);
    return 1;
  }
  ctx.ready();

  int rc = 0;
  if (!ctx.stop_requested() && event_base_dispatch(loop.base) < 0) {
    std::fprintf(stderr, "libevent: event_base_dispatch failed\n");
    rc = 1;
  }

  loop.conns.for_each([&](LibeventConn& lc) { loop.close_conn(lc); });
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
