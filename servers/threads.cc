#include "threads.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <system_error>

#include "muxbench/net.h"

namespace muxbench::server {

bool start_threads(const Context& ctx, const char* who, int first, int last,
                   const std::function<void(int)>& body, std::vector<std::thread>& threads) {
  for (int i = first; i < last; ++i) {
    try {
      threads.emplace_back([body, i] { body(i); });  // a copy: `body` may be a temporary
    } catch (const std::system_error& e) {
      std::fprintf(stderr, "%s: starting thread %d of %d: %s\n", who, i + 1, last, e.what());
      std::uint64_t one = 1;
      (void)!::write(ctx.stop_fd, &one, sizeof one);  // stop_fd stays readable
      for (auto& t : threads) t.join();
      threads.clear();
      return false;
    }
  }
  return true;
}

HandoffPipe::~HandoffPipe() {
  close_fd(rd_);
  close_fd(wr_);
}

bool HandoffPipe::open(const char* who) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::fprintf(stderr, "%s: pipe2: %s\n", who, errno_string(errno).c_str());
    return false;
  }
  rd_ = p[0];
  wr_ = p[1];
  return true;
}

bool HandoffPipe::send(int fd, const Context& ctx) {
  for (;;) {
    ssize_t w = write_retry(wr_, &fd, sizeof fd);
    if (w == static_cast<ssize_t>(sizeof fd)) return true;
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
    pollfd p[2] = {{wr_, POLLOUT, 0}, {ctx.stop_fd, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) return false;
    if (p[1].revents != 0) return false;
  }
}

int HandoffPipe::receive(int (&out)[kPerWake]) {
  ssize_t r = read_retry(rd_, out, sizeof out);
  return r <= 0 ? 0 : static_cast<int>(r / static_cast<ssize_t>(sizeof(int)));
}

void HandoffPipe::drain(Counters& c) {
  int fds[kPerWake];
  while (int n = receive(fds)) {
    for (int i = 0; i < n; ++i) {
      close_fd(fds[i]);
      ++c.accepted;
      ++c.closed;
    }
  }
}

}  // namespace muxbench::server
