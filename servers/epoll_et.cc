// epoll-et — edge-triggered epoll(7), one thread.
//
// Mechanism: every connection is registered once with EPOLLIN|EPOLLOUT|
// EPOLLRDHUP|EPOLLET and never modified: the kernel reports a *change* (new
// data, new send space), and the loop remembers per connection whether it may
// still read or write (it may until a call returns EAGAIN, or a read comes
// back short). This saves the epoll_ctl(MOD) that level-triggered epoll pays
// whenever a connection starts or stops needing EPOLLOUT, and the repeated
// reports of a socket whose data we are not reading yet.
// Trade-offs: an edge is reported once, so a connection that still has work
// must not be forgotten. Reading "until EAGAIN" would let one fast sender
// starve the rest, so work per wake-up is capped; a connection that hit the
// cap, or stopped reading because of backpressure and then drained its output,
// goes on a ready list that the next iteration serves (with epoll_wait's
// timeout 0 while that list is non-empty). The listener and stop_fd stay
// level-triggered: accepts are capped per wake-up too, and a level-triggered
// listener needs no bookkeeping to resume.
// Limits: RLIMIT_NOFILE only; EPOLLRDHUP needs Linux 2.6.17, EPOLLET 2.6.
// Try it: muxbench-server --strategy epoll-et --port 40713 & nc 127.0.0.1 40713
#include <sys/epoll.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <vector>

#include "conn.h"
#include "muxbench/net.h"

namespace muxbench::server {
namespace {

constexpr int kMaxEvents = 256;
constexpr int kReadsPerWake = 4;     // kReadChunk reads per connection per turn

struct EpollEtConn {
  Conn conn;
  bool can_read = false;   // an EPOLLIN edge came; no EAGAIN (or short read) since
  bool can_write = false;  // an EPOLLOUT edge came; no EAGAIN from write() since
  bool queued = false;     // on the ready list
  bool rdhup = false;      // the peer's FIN (or an error) was reported: read to the end
};

struct Loop {
  int ep = -1;
  FdTable<EpollEtConn> conns;
  std::vector<int> ready;                        // fds to serve this turn
  std::vector<int> next;                         // fds to serve next turn
  Counters c;
  const Context* ctx = nullptr;
  std::vector<char> buf = std::vector<char>(kReadChunk);

  ~Loop() { close_fd(ep); }

  void close_conn(EpollEtConn& ec) {
    // Closing removes the fd from the epoll set; a stale entry on a ready list
    // is skipped because the slot is empty (or holds a new, unqueued conn).
    int fd = ec.conn.fd;
    close_fd(fd);
    ++c.closed;
    conns.erase(fd);
  }

  void enqueue(EpollEtConn& ec) {
    if (ec.queued) return;
    ec.queued = true;
    next.push_back(ec.conn.fd);
  }

  // read_into() for edges: up to kReadsPerWake reads, but a short read ends
  // the turn as if the next read() had said EAGAIN. TCP hands over all the
  // data queued, so the socket was empty at that instant, and any byte or FIN
  // arriving later raises a new edge: this saves the read() per wake-up that
  // would only return EAGAIN. Not so for a FIN that had already arrived: a
  // read stops short of it and nothing new will be reported, so once
  // EPOLLRDHUP was seen we read on until EOF (nginx's pending_eof).
  Io read_turn(EpollEtConn& ec) {
    return read_into(ec.conn, buf.data(), kReadsPerWake, c, *ctx, !ec.rdhup);
  }

  // One turn for a connection: drain output first (it may lift
  // backpressure), read up to the cap, send what that produced. Returns with
  // the connection closed, waiting for an edge, or back on the ready list.
  void serve(EpollEtConn& ec) {
    Conn& conn = ec.conn;
    if (ec.can_write && conn.wants_write()) {
      Io w = flush(conn, c);
      if (w == Io::kError) return close_conn(ec);
      if (w == Io::kAgain) ec.can_write = false;
    }
    if (ec.can_read && conn.wants_read()) {
      Io r = read_turn(ec);
      if (r == Io::kError) return close_conn(ec);
      if (r == Io::kAgain || r == Io::kEof) ec.can_read = false;
      if (ec.can_write && conn.wants_write()) {
        Io w = flush(conn, c);
        if (w == Io::kError) return close_conn(ec);
        if (w == Io::kAgain) ec.can_write = false;
      }
    }
    if (conn.done()) return close_conn(ec);
    // Still readable and allowed to read: the cap stopped us, or output
    // drained after backpressure. No new edge will come for this data.
    if (ec.can_read && conn.wants_read()) enqueue(ec);
  }

  // A new connection, registered once, for good. ADD reports the current
  // state as an edge, so data that arrived before registration is not missed.
  void add(int cfd) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.fd = cfd;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev) != 0) {
      ++c.errors_io;
      close_fd(cfd);
      ++c.closed;
      return;
    }
    auto ec = std::make_unique<EpollEtConn>();
    ec->conn.fd = cfd;
    conns.put(cfd, std::move(ec));
  }
};

int run(Context& ctx) {
  Loop loop;
  loop.ctx = &ctx;
  loop.ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (loop.ep < 0) {
    std::fprintf(stderr, "epoll-et: epoll_create1: %s\n", errno_string(errno).c_str());
    return 1;
  }
  set_nonblocking(ctx.listen_fd);
  for (int fd : {ctx.listen_fd, ctx.stop_fd}) {
    epoll_event ev{};
    ev.events = EPOLLIN;  // level-triggered: see the header comment
    ev.data.fd = fd;
    if (::epoll_ctl(loop.ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
      std::fprintf(stderr, "epoll-et: epoll_ctl ADD: %s\n", errno_string(errno).c_str());
      return 1;
    }
  }
  AcceptGuard acceptor;
  epoll_event events[kMaxEvents];
  ctx.ready();

  while (!ctx.stop_requested()) {
    // Pending work must not wait for an event that may never come.
    int n = ::epoll_wait(loop.ep, events, kMaxEvents, loop.next.empty() ? -1 : 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "epoll-et: epoll_wait: %s\n", errno_string(errno).c_str());
      break;
    }
    bool stop = false;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == ctx.stop_fd) {
        stop = true;
        break;
      }
      if (fd == ctx.listen_fd) {
        accept_burst(acceptor, ctx.listen_fd, loop.c, [&](int cfd) { loop.add(cfd); });
        continue;
      }
      EpollEtConn* ec = loop.conns.get(fd);
      if (ec == nullptr) continue;
      const unsigned ev = events[i].events;
      // EOF, reset and errors are all found by the next read()/write().
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ec->can_read = true;
      if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ec->rdhup = true;
      if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) ec->can_write = true;
      loop.enqueue(*ec);
    }
    if (stop) break;
    // Serve everyone with work once, in arrival order; whoever still has
    // work lands on `next` and is served after the next (non-blocking) wait.
    loop.ready.swap(loop.next);
    for (int fd : loop.ready) {
      EpollEtConn* ec = loop.conns.get(fd);
      if (ec == nullptr || !ec->queued) continue;  // closed (slot maybe reused)
      ec->queued = false;
      loop.serve(*ec);
    }
    loop.ready.clear();
  }

  loop.conns.for_each([&](EpollEtConn& ec) { loop.close_conn(ec); });
  ctx.totals.add(loop.c);
  return 0;
}

}  // namespace

extern const Strategy epoll_et_strategy = {
    .name = "epoll-et",
    .family = "readiness",
    .summary = "edge-triggered epoll, one thread: registered once, capped turns + ready list",
    .run = run,
};

}  // namespace muxbench::server
