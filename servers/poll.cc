// poll — poll(2) over an array of pollfds, one thread.
//
// Mechanism: an array of struct pollfd, one per connection (plus the stop fd
// and the listener), kept between calls; each entry's `events` is updated in
// place to what the connection needs next (POLLIN unless backpressured or
// half-closed, POLLOUT while output is queued) and the whole array is handed
// to poll() every time; the loop then scans it for non-zero revents.
// Trade-offs: no FD_SETSIZE ceiling and no set rebuilding, unlike select(),
// but still O(connections) per call: the kernel copies in and polls every
// entry and the loop scans every revents, however few are ready.
// Limits: RLIMIT_NOFILE only (raised to the hard limit at start-up).
// Try it: muxbench-server --strategy poll --port 40713 & nc 127.0.0.1 40713
#include <poll.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <vector>

#include "conn.h"
#include "muxbench/net.h"

namespace muxbench::server {
namespace {

constexpr std::size_t kFixed = 2;    // pfds[0]: stop_fd, pfds[1]: listener

short wanted(const Conn& conn) {
  return static_cast<short>((conn.wants_read() ? POLLIN : 0) | (conn.wants_write() ? POLLOUT : 0));
}

int run(Context& ctx) {
  if (!set_nonblocking(ctx.listen_fd)) {
    std::fprintf(stderr, "poll: O_NONBLOCK on the listener: %s\n", errno_string(errno).c_str());
    return 1;
  }
  // pfds[kFixed + i] belongs to conns[i].
  std::vector<pollfd> pfds = {{ctx.stop_fd, POLLIN, 0}, {ctx.listen_fd, POLLIN, 0}};
  std::vector<std::unique_ptr<Conn>> conns;
  AcceptGuard acceptor;
  Counters c;
  std::vector<char> buf(kReadChunk);
  ctx.ready();

  while (!ctx.stop_requested()) {
    if (::poll(pfds.data(), pfds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "poll: poll: %s\n", errno_string(errno).c_str());
      break;
    }
    if (pfds[0].revents != 0) break;  // stop requested

    bool any_closed = false;
    for (std::size_t i = 0; i < conns.size(); ++i) {
      pollfd& p = pfds[kFixed + i];
      if (p.revents == 0) continue;
      Conn& conn = *conns[i];
      // POLLHUP/POLLERR: the read (or the write) reports what happened.
      bool failed = (p.revents & (POLLIN | POLLHUP | POLLERR)) && conn.wants_read() &&
                    read_into(conn, buf.data(), 1, c, ctx) == Io::kError;
      // Write straight away rather than waiting a round for POLLOUT.
      if (!failed && conn.wants_write()) failed = flush(conn, c) == Io::kError;
      if (failed || conn.done()) {
        close_fd(conn.fd);
        ++c.closed;
        conns[i].reset();
        p.fd = -1;  // compacted below
        any_closed = true;
        continue;
      }
      p.events = wanted(conn);
    }
    if (any_closed) {
      std::size_t j = 0;
      for (std::size_t i = 0; i < conns.size(); ++i) {
        if (!conns[i]) continue;
        pfds[kFixed + j] = pfds[kFixed + i];
        conns[j++] = std::move(conns[i]);
      }
      conns.resize(j);
      pfds.resize(kFixed + j);
    }

    if (pfds[1].revents != 0) {
      accept_burst(acceptor, ctx.listen_fd, c, [&](int fd) {
        auto conn = std::make_unique<Conn>();
        conn->fd = fd;
        pfds.push_back({fd, POLLIN, 0});
        conns.push_back(std::move(conn));
      });
    }
  }

  for (auto& conn : conns) {
    close_fd(conn->fd);
    ++c.closed;
  }
  ctx.totals.add(c);
  return 0;
}

}  // namespace

extern const Strategy poll_strategy = {
    .name = "poll",
    .family = "readiness",
    .summary = "poll(), one thread: O(connections) per call, no FD_SETSIZE cap",
    .run = run,
};

}  // namespace muxbench::server
