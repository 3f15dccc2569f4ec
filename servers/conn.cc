#include "conn.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "muxbench/net.h"

namespace muxbench::server {

void count_io_error(int err, Counters& c) {
  if (err == ECONNRESET || err == EPIPE) {
    ++c.errors_reset;
  } else {
    ++c.errors_io;
  }
}

namespace {

void feed_counted(LineCodec& codec, const char* data, std::size_t n, std::string& out,
                  Counters& c, const Context& ctx) {
  c.bytes_in += n;
  std::size_t lines = codec.feed(data, n, out);
  if (lines != 0) {
    c.lines += lines;
    ctx.on_lines(lines);
  }
}

}  // namespace

void consume(Conn& conn, const char* data, std::size_t n, Counters& c, const Context& ctx) {
  feed_counted(conn.codec, data, n, conn.out, c, ctx);
}

Io read_into(Conn& conn, char* buf, int max_reads, Counters& c, const Context& ctx,
             bool short_read_is_again) {
  for (int i = 0; i < max_reads; ++i) {
    if (!conn.wants_read()) return Io::kMore;
    ssize_t r = read_retry(conn.fd, buf, kReadChunk);
    if (r > 0) {
      consume(conn, buf, static_cast<std::size_t>(r), c, ctx);
      if (short_read_is_again && static_cast<std::size_t>(r) < kReadChunk) return Io::kAgain;
      continue;
    }
    if (r == 0) {
      conn.peer_eof = true;
      conn.codec.finish(conn.out);
      return Io::kEof;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Io::kAgain;
    count_io_error(errno, c);
    return Io::kError;
  }
  return Io::kMore;
}

Io flush(Conn& conn, Counters& c) {
  while (conn.queued() > 0) {
    ssize_t w = write_retry(conn.fd, conn.out.data() + conn.out_off, conn.queued());
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        // Keep the unsent tail at the front so `out` does not grow forever.
        if (conn.out_off > kMaxPendingOutput) {
          conn.out.erase(0, conn.out_off);
          conn.out_off = 0;
        }
        return Io::kAgain;
      }
      count_io_error(errno, c);
      return Io::kError;
    }
    c.bytes_out += static_cast<std::uint64_t>(w);
    conn.out_off += static_cast<std::size_t>(w);
  }
  conn.out.clear();
  conn.out_off = 0;
  return Io::kMore;
}

void serve_blocking(int fd, Counters& c, const Context& ctx) {
  char buf[kReadChunk];
  LineCodec codec;
  std::string out;
  for (;;) {
    ssize_t r = read_retry(fd, buf, sizeof buf);
    if (r < 0) {
      count_io_error(errno, c);
      break;
    }
    out.clear();
    if (r == 0) {
      codec.finish(out);
    } else {
      feed_counted(codec, buf, static_cast<std::size_t>(r), out, c, ctx);
    }
    if (!out.empty()) {
      if (!write_all(fd, out.data(), out.size())) {
        count_io_error(errno, c);
        break;
      }
      c.bytes_out += out.size();
    }
    if (r == 0 || ctx.stop_requested()) break;
  }
  close_fd(fd);
  ++c.closed;
}

AcceptGuard::AcceptGuard() : reserve_fd_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {}

AcceptGuard::~AcceptGuard() { close_fd(reserve_fd_); }

int AcceptGuard::accept(int listen_fd, int flags, Counters& c) {
  int fd = accept_retry(listen_fd, flags);
  if (fd >= 0) {
    ++c.accepted;
    return fd;
  }
  int err = errno;
  if (err == EAGAIN || err == EWOULDBLOCK || err == EINVAL) return -1;
  if (is_fd_exhaustion(err)) {
    // Linux fails accept() for want of a descriptor before it looks at the
    // queue, so the queue may well be empty. Wait (briefly, and not at all on
    // a non-blocking listener) for a pending connection; never take the
    // victim below blindly: on a blocking listener that accept() would sleep
    // and then shed whichever client came next, even once descriptors were
    // free again.
    const bool nonblocking = (::fcntl(listen_fd, F_GETFL) & O_NONBLOCK) != 0;
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, nonblocking ? 0 : 10) <= 0) {
      errno = nonblocking ? EAGAIN : EMFILE;  // nothing waiting: nothing to shed
      return -1;
    }
    // Something is waiting; descriptors may have been freed meanwhile.
    fd = accept_retry(listen_fd, flags);
    if (fd >= 0) {
      ++c.accepted;
      return fd;
    }
    err = errno;
    if (!is_fd_exhaustion(err)) {
      if (err != EAGAIN && err != EWOULDBLOCK && err != EINVAL) ++c.errors_accept;
      errno = err;
      return -1;
    }
    // Free the reserve, take the connection off the queue and drop it, then
    // re-arm: the peer sees a close instead of hanging, and we do not spin.
    close_fd(reserve_fd_);
    int victim = accept_retry(listen_fd, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (victim >= 0) {
      close_fd(victim);
      ++c.rejected_fd_exhausted;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINVAL) {
      ++c.errors_accept;
    }
    reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (victim < 0) ::usleep(1000);  // still nothing: back off briefly
    errno = EMFILE;
    return -1;
  }
  ++c.errors_accept;
  errno = err;
  return -1;
}

int AcceptGuard::accept_blocking(int listen_fd, Counters& c, const Context& ctx, int flags) {
  while (!ctx.stop_requested()) {
    int fd = accept(listen_fd, flags, c);
    if (fd >= 0) return fd;
    if (errno == EINVAL) break;                         // listener shut down: stopping
    if (errno == EMFILE || errno == EAGAIN) continue;   // shed one (or none waiting); carry on
    if (!is_transient_accept_error(errno)) ::usleep(10'000);  // never spin on errors
  }
  return -1;
}

}  // namespace muxbench::server
