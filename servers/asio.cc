// asio — standalone Asio with C++20 coroutines: one io_context, one thread,
// one coroutine per connection.
//
// Mechanism: an accept coroutine loops on `co_await acceptor.async_accept()`
// and co_spawns `serve()` for each socket; `serve()` is the blocking
// strategies' loop written with co_await — async_read_some into the
// connection's buffer, feed the codec, async_write the reply, until EOF —
// while the io_context's reactor (epoll, descriptors registered once,
// edge-triggered) resumes whichever coroutine's operation is ready: writes
// are tried at once, reads once epoll said the socket is readable. The stop
// descriptor is a posix::stream_descriptor whose async_wait stops the
// io_context; destroying it destroys the suspended coroutines, whose
// destructors close and count their sockets.
// Why coroutines and not callbacks: libevent and libuv already measure the
// callback style, and coroutines are how new Asio code is written; they let
// the per-connection code read exactly like `thread`'s blocking loop while
// running on one event loop, so the comparison is the cost of that
// convenience: a coroutine frame per connection and a trip through the
// io_context's queue per completed operation.
// Trade-offs: reading and writing alternate, so a connection is not read
// while its reply is being written (stricter than the 256 KiB cap, and the
// way blocking servers behave); the read buffer (16 KiB) belongs to the
// connection and is committed while the read is pending — the proactor
// model's price, where libuv's alloc_cb lends a shared buffer at readiness.
// Each completion goes through the scheduler's queue (io_context with
// concurrency hint 1: one thread, its locks uncontended), and the scheduler
// polls epoll once more, without blocking, before running it: two
// epoll_wait() per request where epoll.cc makes one.
// Limits: RLIMIT_NOFILE. Asio has no answer to EMFILE (the listener stays
// readable and every accept fails at once): this strategy sheds a waiting
// connection with AcceptGuard's reserve descriptor, counted as
// rejected.fd_exhausted, and otherwise waits for the listener.
// Try it: muxbench-server --strategy asio --port 40713 & nc 127.0.0.1 40713
#include <sys/socket.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>

#include "conn.h"
#include "muxbench/net.h"

namespace muxbench::server {
namespace {

using asio::ip::tcp;

struct Server {
  const Context* ctx = nullptr;
  Counters c;  // outlives the io_context: destroyed coroutines still count
  AcceptGuard guard;
  std::unique_ptr<asio::io_context> ioc;  // reset before the counters are read
  tcp protocol = tcp::v4();
};

// Counts a connection closed when its coroutine ends or is destroyed.
struct ClosedOnExit {
  Counters& c;
  ~ClosedOnExit() { ++c.closed; }
};

void count_error(const asio::error_code& ec, Counters& c) {
  if (ec.category() == asio::system_category()) {
    count_io_error(ec.value(), c);
  } else {
    ++c.errors_io;
  }
}

asio::awaitable<void> serve(Server& srv, tcp::socket sock) {
  ClosedOnExit closed{srv.c};
  Counters& c = srv.c;
  Conn conn;
  // Not zero-filled: only the pages reads touch become resident.
  std::unique_ptr<char[]> buf(new char[kReadChunk]);
  asio::error_code ec;
  while (!conn.peer_eof) {
    std::size_t n = co_await sock.async_read_some(asio::buffer(buf.get(), kReadChunk),
                                                  asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::eof) {
      conn.peer_eof = true;
      conn.codec.finish(conn.out);
    } else if (ec) {
      count_error(ec, c);
      co_return;
    } else {
      consume(conn, buf.get(), n, c, *srv.ctx);
    }
    if (conn.queued() == 0) continue;
    std::size_t w = co_await asio::async_write(
        sock, asio::buffer(conn.out.data() + conn.out_off, conn.queued()),
        asio::redirect_error(asio::use_awaitable, ec));
    c.bytes_out += w;
    if (ec) {
      count_error(ec, c);
      co_return;
    }
    conn.out.clear();
    conn.out_off = 0;
  }
}

asio::awaitable<void> accept_loop(Server& srv, tcp::acceptor& acceptor) {
  asio::io_context& ioc = *srv.ioc;
  for (;;) {
    asio::error_code ec;
    tcp::socket sock =
        co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      ++srv.c.accepted;
      asio::co_spawn(ioc, serve(srv, std::move(sock)), asio::detached);
      continue;
    }
    // Aborted: the acceptor is being destroyed; EINVAL: main.cc shut the
    // listener down (stop).
    if (ec == asio::error::operation_aborted || ec == asio::error::invalid_argument) co_return;
    if (ec == asio::error::no_descriptors || ec.value() == ENFILE) {
      // Shed a waiting connection (or take it, if descriptors were freed).
      int fd = srv.guard.accept(acceptor.native_handle(), SOCK_NONBLOCK | SOCK_CLOEXEC, srv.c);
      if (fd >= 0) {
        asio::co_spawn(ioc, serve(srv, tcp::socket(ioc, srv.protocol, fd)), asio::detached);
      } else if (errno == EAGAIN) {
        // Nothing waiting: accept() would fail again at once; wait instead.
        co_await acceptor.async_wait(tcp::acceptor::wait_read,
                                     asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted) co_return;
      }
      continue;
    }
    ++srv.c.errors_accept;
    if (!is_transient_accept_error(ec.value())) {  // never spin on errors
      asio::steady_timer t(ioc, std::chrono::milliseconds(10));
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
}

int run(Context& ctx) {
  Server srv;
  srv.ctx = &ctx;
  srv.ioc = std::make_unique<asio::io_context>(1);  // concurrency hint: one thread
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(ctx.listen_fd, reinterpret_cast<sockaddr*>(&ss), &len);
  srv.protocol = ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4();
  {
    // Asio closes what it owns: give it duplicates of the listener (main.cc
    // owns and shuts down the original) and of the stop descriptor.
    tcp::acceptor acceptor(*srv.ioc);
    asio::posix::stream_descriptor stop(*srv.ioc);
    asio::error_code ec;
    const int lfd = ::dup(ctx.listen_fd);
    const int sfd = ::dup(ctx.stop_fd);
    if (lfd < 0 || sfd < 0) {
      std::fprintf(stderr, "asio: dup: %s\n", errno_string(errno).c_str());
      return 1;
    }
    acceptor.assign(srv.protocol, lfd, ec);
    if (!ec) stop.assign(sfd, ec);
    if (ec) {
      std::fprintf(stderr, "asio: assign: %s\n", ec.message().c_str());
      return 1;
    }
    stop.async_wait(asio::posix::stream_descriptor::wait_read,
                    [&srv](const asio::error_code&) { srv.ioc->stop(); });
    asio::co_spawn(*srv.ioc, accept_loop(srv, acceptor), asio::detached);
    ctx.ready();
    if (!ctx.stop_requested()) srv.ioc->run();
  }
  // Destroys the suspended coroutines: their sockets close and are counted.
  srv.ioc.reset();
  ctx.totals.add(srv.c);
  return 0;
}

}  // namespace

extern const Strategy asio_strategy = {
    .name = "asio",
    .family = "asio",
    .summary = "standalone Asio, C++20 coroutines: a coroutine per connection, one io_context",
    .run = run,
};

}  // namespace muxbench::server
