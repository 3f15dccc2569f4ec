#include "epoll_loop.h"

#include <sys/epoll.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "muxbench/net.h"

namespace muxbench::server {
namespace {

constexpr int kMaxEvents = 256;

}  // namespace

EpollLoop::~EpollLoop() { close_fd(ep_); }

bool EpollLoop::init(int stop_fd) {
  ep_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) {
    std::fprintf(stderr, "%s: epoll_create1: %s\n", who_, errno_string(errno).c_str());
    return false;
  }
  stop_fd_ = stop_fd;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = stop_fd;
  if (::epoll_ctl(ep_, EPOLL_CTL_ADD, stop_fd, &ev) != 0) {
    std::fprintf(stderr, "%s: epoll_ctl ADD: %s\n", who_, errno_string(errno).c_str());
    return false;
  }
  return true;
}

bool EpollLoop::watch_source(int fd, unsigned extra_events, std::function<void()> on_ready) {
  epoll_event ev{};
  ev.events = EPOLLIN | extra_events;
  ev.data.fd = fd;
  if (::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    std::fprintf(stderr, "%s: epoll_ctl ADD: %s\n", who_, errno_string(errno).c_str());
    return false;
  }
  source_fd_ = fd;
  on_source_ = std::move(on_ready);
  return true;
}

void EpollLoop::add(int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    ++c_.errors_io;
    close_fd(fd);
    ++c_.closed;
    return;
  }
  auto conn = std::make_unique<Conn>();
  conn->fd = fd;
  conn->interest = EPOLLIN;
  conns_.put(fd, std::move(conn));
}

void EpollLoop::close_conn(Conn& conn) {
  ::epoll_ctl(ep_, EPOLL_CTL_DEL, conn.fd, nullptr);
  int fd = conn.fd;
  close_fd(fd);
  ++c_.closed;
  conns_.erase(fd);
}

bool EpollLoop::rearm(Conn& conn) {
  unsigned want = (conn.wants_read() ? EPOLLIN : 0u) | (conn.wants_write() ? EPOLLOUT : 0u);
  if (want == conn.interest) return true;
  epoll_event ev{};
  ev.events = want;
  ev.data.fd = conn.fd;
  conn.interest = want;
  return ::epoll_ctl(ep_, EPOLL_CTL_MOD, conn.fd, &ev) == 0;
}

void EpollLoop::serve(const Context& ctx) {
  std::vector<char> buf(kReadChunk);
  epoll_event events[kMaxEvents];
  bool stop = false;
  while (!stop && !ctx.stop_requested()) {
    int n = ::epoll_wait(ep_, events, kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "%s: epoll_wait: %s\n", who_, errno_string(errno).c_str());
      break;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == stop_fd_) {
        stop = true;
        break;
      }
      if (fd == source_fd_) {
        on_source_();
        continue;
      }
      Conn* conn = conns_.get(fd);
      if (conn == nullptr) continue;  // closed earlier in this batch
      const unsigned ev = events[i].events;
      if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && conn->wants_read() &&
          read_into(*conn, buf.data(), 1, c_, ctx) == Io::kError) {
        close_conn(*conn);
        continue;
      }
      if (conn->wants_write() && flush(*conn, c_) == Io::kError) {
        close_conn(*conn);
        continue;
      }
      if (conn->done() || !rearm(*conn)) close_conn(*conn);
    }
  }
  conns_.for_each([&](Conn& conn) { close_conn(conn); });
}

}  // namespace muxbench::server
