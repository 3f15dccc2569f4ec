// libuv — Node.js's event library: a uv_tcp_t listener, uv_read_start on
// each connection, replies with uv_try_write and, for what does not fit,
// uv_write; one uv_loop_t, one thread.
//
// Mechanism: uv_listen calls back once per connection, uv_accept gives it a
// uv_tcp_t, and uv_read_start asks libuv to read whenever the socket is
// readable: libuv calls alloc_cb for a buffer (here one 16 KiB buffer shared
// by the loop, since read_cb consumes it before the next read) and read_cb
// with the bytes. The reply is written at once with uv_try_write (no request
// object, no callback); a remainder goes to one uv_write request that owns a
// copy of it, and output produced while it is in flight waits for its
// callback. Backpressure: past 256 KiB queued (in flight plus waiting),
// uv_read_stop; the write callback starts reading again. On EOF the partial
// line is sent and the handle closed once the output is gone. The stop
// descriptor is a uv_poll_t whose callback calls uv_stop().
// Trade-offs: a callback API close to libevent's bufferevents but without
// their buffers: libuv reads straight into the caller's buffer, so each byte
// is copied once on the way in (into the codec) and the reply is written
// from the codec's output. libuv reads up to 32 times per readiness event
// and accepts until EAGAIN, and runs its own epoll (one epoll_ctl per change
// of interest, like epoll.cc). A uv_tcp_t is about 250 bytes per connection.
// Limits: RLIMIT_NOFILE. On EMFILE libuv sheds the waiting connections
// itself (uv__emfile_trick, a reserve descriptor, like AcceptGuard) without
// telling the callback, so rejected.fd_exhausted stays 0 here.
// Try it: muxbench-server --strategy libuv --port 40713 & nc 127.0.0.1 40713
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <string>
#include <vector>

#include "conn.h"
#include "muxbench/net.h"

namespace muxbench::server {
namespace {

constexpr int kBacklog = 4096;

struct Loop {
  uv_loop_t uv;
  const Context* ctx = nullptr;
  Counters c;
  std::vector<char> buf = std::vector<char>(kReadChunk);  // shared: see alloc_cb
};

struct LibuvConn {
  uv_tcp_t handle;  // handle.data points back here
  Conn conn;
  Loop* loop = nullptr;
  std::size_t in_flight = 0;  // bytes of the uv_write request in flight
  bool reading = false;
  bool closing = false;

  std::size_t queued() const { return in_flight + conn.queued(); }
};

struct WriteReq {
  uv_write_t req;  // req.data points back here
  LibuvConn* uc = nullptr;
  std::string data;  // must stay put until the callback
};

uv_stream_t* stream(LibuvConn* uc) { return reinterpret_cast<uv_stream_t*>(&uc->handle); }

LibuvConn* conn_of(uv_handle_t* h) { return static_cast<LibuvConn*>(h->data); }

void on_close(uv_handle_t* h) {
  auto* uc = conn_of(h);
  ++uc->loop->c.closed;
  delete uc;
}

void close_conn(LibuvConn* uc) {
  if (uc->closing) return;
  uc->closing = true;
  // A pending uv_write completes with UV_ECANCELED before on_close.
  uv_close(reinterpret_cast<uv_handle_t*>(&uc->handle), on_close);
}

void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  Loop* loop = conn_of(h)->loop;
  *buf = uv_buf_init(loop->buf.data(), static_cast<unsigned>(loop->buf.size()));
}

void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
void on_write(uv_write_t* req, int status);

// Starts or stops reading to match backpressure and EOF.
bool update_reading(LibuvConn* uc) {
  const bool want = !uc->conn.peer_eof && uc->queued() < kMaxPendingOutput;
  if (want == uc->reading) return true;
  uc->reading = want;
  return (want ? uv_read_start(stream(uc), on_alloc, on_read) : uv_read_stop(stream(uc))) == 0;
}

// Sends what the codec produced: at once if it fits, else through one
// uv_write request. Then adjusts reading, and closes a finished connection.
void send_and_update(LibuvConn* uc) {
  Conn& conn = uc->conn;
  Counters& c = uc->loop->c;
  if (uc->in_flight == 0 && conn.queued() > 0) {
    uv_buf_t b = uv_buf_init(conn.out.data() + conn.out_off, static_cast<unsigned>(conn.queued()));
    int n = uv_try_write(stream(uc), &b, 1);
    if (n > 0) {
      c.bytes_out += static_cast<std::uint64_t>(n);
      conn.out_off += static_cast<std::size_t>(n);
    } else if (n != UV_EAGAIN && n != UV_ENOSYS) {
      count_io_error(-n, c);
      return close_conn(uc);
    }
    if (conn.queued() > 0) {
      auto* w = new WriteReq;
      w->req.data = w;
      w->uc = uc;
      w->data.assign(conn.out, conn.out_off, std::string::npos);
      uv_buf_t wb = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
      int err = uv_write(&w->req, stream(uc), &wb, 1, on_write);
      if (err != 0) {
        delete w;
        count_io_error(-err, c);
        return close_conn(uc);
      }
      uc->in_flight = w->data.size();
    }
    conn.out.clear();
    conn.out_off = 0;
  }
  if (conn.peer_eof && uc->queued() == 0) return close_conn(uc);
  if (!update_reading(uc)) {
    ++c.errors_io;
    close_conn(uc);
  }
}

void on_write(uv_write_t* req, int status) {
  auto* w = static_cast<WriteReq*>(req->data);
  LibuvConn* uc = w->uc;
  delete w;
  if (uc->closing) return;  // UV_ECANCELED: the handle is being closed
  if (status < 0) {
    count_io_error(-status, uc->loop->c);
    return close_conn(uc);
  }
  uc->loop->c.bytes_out += uc->in_flight;
  uc->in_flight = 0;
  send_and_update(uc);
}

void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* uc = conn_of(reinterpret_cast<uv_handle_t*>(s));
  Loop& loop = *uc->loop;
  if (nread > 0) {
    consume(uc->conn, buf->base, static_cast<std::size_t>(nread), loop.c, *loop.ctx);
  } else if (nread == UV_EOF) {
    uc->conn.peer_eof = true;
    uc->conn.codec.finish(uc->conn.out);
  } else if (nread < 0) {
    count_io_error(static_cast<int>(-nread), loop.c);
    return close_conn(uc);
  } else {
    return;  // 0: EAGAIN, nothing read
  }
  send_and_update(uc);
}

void on_connection(uv_stream_t* server, int status) {
  auto& loop = *static_cast<Loop*>(server->data);
  if (status == UV_EINVAL) {
    // main.cc shut the listener down (stop): libuv would call back with
    // EINVAL forever without returning to the loop, so close it here.
    uv_close(reinterpret_cast<uv_handle_t*>(server), nullptr);
    uv_stop(server->loop);
    return;
  }
  if (status < 0) {
    ++loop.c.errors_accept;
    return;
  }
  auto* uc = new LibuvConn;
  uc->loop = &loop;
  uv_tcp_init(&loop.uv, &uc->handle);
  uc->handle.data = uc;
  if (uv_accept(server, stream(uc)) != 0) {
    ++loop.c.errors_accept;
    uc->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&uc->handle),
             [](uv_handle_t* h) { delete conn_of(h); });
    return;
  }
  ++loop.c.accepted;
  uv_fileno(reinterpret_cast<uv_handle_t*>(&uc->handle), &uc->conn.fd);
  if (!update_reading(uc)) {
    ++loop.c.errors_io;
    close_conn(uc);
  }
}

void on_stop(uv_poll_t* p, int, int) { uv_stop(p->loop); }

int run(Context& ctx) {
  Loop loop;
  loop.ctx = &ctx;
  if (int err = uv_loop_init(&loop.uv); err != 0) {
    std::fprintf(stderr, "libuv: uv_loop_init: %s\n", uv_strerror(err));
    return 1;
  }
  // libuv closes the descriptors of its handles; give it a duplicate of the
  // listener, which main.cc shuts down (and owns).
  int lfd = ::dup(ctx.listen_fd);
  uv_tcp_t server;
  uv_poll_t stop;
  int err = lfd < 0 ? uv_translate_sys_error(errno) : uv_tcp_init(&loop.uv, &server);
  const char* step = "uv_tcp_init";
  if (err == 0) {
    server.data = &loop;
    step = "uv_tcp_open";
    err = uv_tcp_open(&server, lfd);
  }
  if (err == 0) {
    step = "uv_listen";
    err = uv_listen(reinterpret_cast<uv_stream_t*>(&server), kBacklog, on_connection);
  }
  if (err == 0) {
    step = "uv_poll_init";
    err = uv_poll_init(&loop.uv, &stop, ctx.stop_fd);
  }
  if (err == 0) {
    step = "uv_poll_start";
    err = uv_poll_start(&stop, UV_READABLE, on_stop);
  }
  if (err != 0) {
    std::fprintf(stderr, "libuv: %s: %s\n", lfd < 0 ? "dup" : step, uv_strerror(err));
    return 1;
  }
  ctx.ready();

  if (!ctx.stop_requested()) uv_run(&loop.uv, UV_RUN_DEFAULT);

  // Close every handle (connections through close_conn, which counts them),
  // let the close callbacks run, then close the loop.
  uv_walk(
      &loop.uv,
      [](uv_handle_t* h, void* server_handle) {
        if (uv_is_closing(h)) return;
        if (h->type == UV_TCP && h != server_handle) {
          close_conn(conn_of(h));
        } else {
          uv_close(h, nullptr);
        }
      },
      &server);
  uv_run(&loop.uv, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop.uv) != 0) {
    std::fprintf(stderr, "libuv: uv_loop_close: handles still open\n");
  }
  ctx.totals.add(loop.c);
  return 0;
}

}  // namespace

extern const Strategy libuv_strategy = {
    .name = "libuv",
    .family = "libuv",
    .summary = "libuv uv_tcp_t: uv_listen, uv_read_start, uv_try_write/uv_write; one loop",
    .run = run,
};

}  // namespace muxbench::server
