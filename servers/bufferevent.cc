// bufferevent — libevent's bufferevents and evconnlistener, one thread.
//
// Mechanism: libevent does the I/O: evconnlistener accepts, a socket
// bufferevent per connection reads into an input evbuffer and writes out an
// output evbuffer, calling us when data arrived, output drained, or the
// connection hit EOF or an error. The read callback walks the input buffer's
// chunks in place (evbuffer_peek), feeds them to the codec and drains them;
// the transformed lines are appended to the output evbuffer.
// Trade-offs: the least code of all strategies, for the most copies (kernel ->
// input evbuffer -> codec -> output evbuffer -> kernel) and libevent's
// per-connection buffer and event bookkeeping. Backpressure is ours: past
// kMaxPendingOutput of queued output EV_READ is disabled, and the write
// callback (low watermark kMaxPendingOutput / 2) re-enables it.
// evconnlistener accepts until EAGAIN on each wake-up (no per-wake cap), and
// reports EMFILE through its error callback, which sheds a connection with the
// reserve-fd trick so the listener does not spin.
// Limits: RLIMIT_NOFILE; the backend is libevent's choice (epoll on Linux).
// Try it: muxbench-server --strategy bufferevent --port 40713 & nc 127.0.0.1 40713
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <vector>

#include "conn.h"
#include "muxbench/net.h"

namespace muxbench::server {
namespace {

constexpr int kPeekChunks = 16;  // evbuffer chunks fed per evbuffer_peek()

struct Loop;

struct BuffereventConn {
  Conn conn;  // the codec; conn.out is scratch space, empty between callbacks
  bufferevent* bev = nullptr;
  Loop* loop = nullptr;
  std::uint64_t added = 0;   // bytes appended to the output evbuffer
  bool read_paused = false;  // EV_READ disabled for backpressure
};

struct Loop {
  event_base* base = nullptr;
  const Context* ctx = nullptr;
  int listen_fd = -1;
  Counters c;
  AcceptGuard acceptor;
  FdTable<BuffereventConn> conns;

  void close_conn(BuffereventConn& bc) {
    // Output still queued (reset peer, stop) was not sent.
    c.bytes_out += bc.added - evbuffer_get_length(bufferevent_get_output(bc.bev));
    int fd = bc.conn.fd;
    bufferevent_free(bc.bev);  // BEV_OPT_CLOSE_ON_FREE: closes fd
    ++c.closed;
    conns.erase(fd);
  }

  void add_conn(int fd);
};

// Moves the codec's output into the output evbuffer and applies backpressure.
bool queue_output(BuffereventConn& bc) {
  if (bc.conn.out.empty()) return true;
  evbuffer* out = bufferevent_get_output(bc.bev);
  if (evbuffer_add(out, bc.conn.out.data(), bc.conn.out.size()) != 0) return false;
  bc.added += bc.conn.out.size();
  bc.conn.out.clear();
  if (!bc.read_paused && evbuffer_get_length(out) > kMaxPendingOutput) {
    if (bufferevent_disable(bc.bev, EV_READ) != 0) return false;
    bc.read_paused = true;
  }
  return true;
}

// Feeds everything in the input evbuffer to the codec, chunk by chunk, in place.
void consume_input(BuffereventConn& bc) {
  Loop& loop = *bc.loop;
  evbuffer* in = bufferevent_get_input(bc.bev);
  evbuffer_iovec vec[kPeekChunks];
  while (evbuffer_get_length(in) > 0) {
    int n = std::min(evbuffer_peek(in, -1, nullptr, vec, kPeekChunks), kPeekChunks);
    std::size_t used = 0;
    for (int i = 0; i < n; ++i) {
      consume(bc.conn, static_cast<const char*>(vec[i].iov_base), vec[i].iov_len, loop.c,
              *loop.ctx);
      used += vec[i].iov_len;
    }
    evbuffer_drain(in, used);
  }
}

void on_read(bufferevent*, void* arg) {
  auto& bc = *static_cast<BuffereventConn*>(arg);
  consume_input(bc);
  if (!queue_output(bc)) {
    ++bc.loop->c.errors_io;
    bc.loop->close_conn(bc);
  }
}

// Runs after a write leaves at most the low watermark queued.
void on_write(bufferevent* bev, void* arg) {
  auto& bc = *static_cast<BuffereventConn*>(arg);
  const std::size_t left = evbuffer_get_length(bufferevent_get_output(bev));
  if (bc.conn.peer_eof) {
    if (left == 0) bc.loop->close_conn(bc);  // everything flushed: done
    return;
  }
  if (bc.read_paused && left <= kMaxPendingOutput / 2) {
    if (bufferevent_enable(bev, EV_READ) != 0) {
      ++bc.loop->c.errors_io;
      return bc.loop->close_conn(bc);
    }
    bc.read_paused = false;
  }
}

void on_event(bufferevent* bev, short what, void* arg) {
  auto& bc = *static_cast<BuffereventConn*>(arg);
  Loop& loop = *bc.loop;
  if (what & BEV_EVENT_EOF) {
    // The peer half-closed: the transformed partial line, flush, then close.
    consume_input(bc);
    bc.conn.peer_eof = true;
    bc.conn.codec.finish(bc.conn.out);
    if (!queue_output(bc)) {
      ++loop.c.errors_io;
      return loop.close_conn(bc);
    }
    bufferevent_disable(bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) loop.close_conn(bc);
    return;  // otherwise on_write closes once the output drained
  }
  if (what & BEV_EVENT_ERROR) {
    count_io_error(EVUTIL_SOCKET_ERROR(), loop.c);
    loop.close_conn(bc);
  }
}

void Loop::add_conn(int fd) {
  auto bc = std::make_unique<BuffereventConn>();
  bc->conn.fd = fd;
  bc->loop = this;
  bc->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
  if (bc->bev == nullptr) {
    ++c.errors_io;
    close_fd(fd);
    ++c.closed;
    return;
  }
  bufferevent_setcb(bc->bev, on_read, on_write, on_event, bc.get());
  bufferevent_setwatermark(bc->bev, EV_WRITE, kMaxPendingOutput / 2, 0);
  if (bufferevent_enable(bc->bev, EV_READ | EV_WRITE) != 0) {
    ++c.errors_io;
    bufferevent_free(bc->bev);
    ++c.closed;
    return;
  }
  conns.put(fd, std::move(bc));
}

void on_accept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) {
  Loop& loop = *static_cast<Loop*>(arg);
  ++loop.c.accepted;
  loop.add_conn(fd);  // evconnlistener made it non-blocking and close-on-exec
}

// evconnlistener gives up on any accept() error but EAGAIN/EINTR/ECONNABORTED
// and calls this; the listener stays enabled, so EMFILE would spin.
void on_accept_error(evconnlistener* lev, void* arg) {
  Loop& loop = *static_cast<Loop*>(arg);
  const int err = EVUTIL_SOCKET_ERROR();
  if (is_fd_exhaustion(err)) {
    // Retry through the guard: either a descriptor came free (serve it), or
    // it takes one connection off the queue and drops it.
    int fd = loop.acceptor.accept(loop.listen_fd, SOCK_NONBLOCK | SOCK_CLOEXEC, loop.c);
    if (fd >= 0) loop.add_conn(fd);
    return;
  }
  if (err == EINVAL) {  // the listener was shut down: stopping
    evconnlistener_disable(lev);
    return;
  }
  ++loop.c.errors_accept;
}

void on_stop(evutil_socket_t, short, void* arg) {
  event_base_loopbreak(static_cast<event_base*>(arg));
}

int run(Context& ctx) {
  Loop loop;
  loop.ctx = &ctx;
  loop.listen_fd = ctx.listen_fd;
  event_config* cfg = event_config_new();
  if (cfg != nullptr) {
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);  // one thread: no locks
    loop.base = event_base_new_with_config(cfg);
    event_config_free(cfg);
  }
  if (loop.base == nullptr) {
    std::fprintf(stderr, "bufferevent: event_base_new_with_config failed\n");
    return 1;
  }
  set_nonblocking(ctx.listen_fd);
  // backlog 0: already listening. No LEV_OPT_CLOSE_ON_FREE: main owns the fd.
  evconnlistener* lev =
      evconnlistener_new(loop.base, on_accept, &loop, LEV_OPT_CLOSE_ON_EXEC, 0, ctx.listen_fd);
  event* stop_ev = event_new(loop.base, ctx.stop_fd, EV_READ, on_stop, loop.base);
  if (lev == nullptr || stop_ev == nullptr || event_add(stop_ev, nullptr) != 0) {
    std::fprintf(stderr, "bufferevent: evconnlistener_new or the stop_fd event failed\n");
    if (lev != nullptr) evconnlistener_free(lev);
    if (stop_ev != nullptr) event_free(stop_ev);
    event_base_free(loop.base);
    return 1;
  }
  evconnlistener_set_error_cb(lev, on_accept_error);
  ctx.ready();

  int rc = 0;
  if (!ctx.stop_requested() && event_base_dispatch(loop.base) < 0) {
    std::fprintf(stderr, "bufferevent: event_base_dispatch failed\n");
    rc = 1;
  }

  loop.conns.for_each([&](BuffereventConn& bc) { loop.close_conn(bc); });
  evconnlistener_free(lev);
  event_free(stop_ev);
  event_base_free(loop.base);
  ctx.totals.add(loop.c);
  return rc;
}

}  // namespace

extern const Strategy bufferevent_strategy = {
    .name = "bufferevent",
    .family = "libevent",
    .summary = "libevent bufferevents + evconnlistener, one thread: libevent does the I/O",
    .run = run,
};

}  // namespace muxbench::server
