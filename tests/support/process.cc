#include "process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "muxbench/net.h"
#include "muxbench/wire.h"

namespace muxbench::test {

using Clock = std::chrono::steady_clock;

std::string bin_dir() {
  const char* env = std::getenv("MUXBENCH_BIN_DIR");
  if (env != nullptr && *env != '\0') return env;
  return MUXBENCH_TEST_BIN_DIR;
}

Process::Process(std::vector<std::string> argv) {
  char tmpl[] = "/tmp/muxbench-test-stderr-XXXXXX";
  int err_fd = ::mkstemp(tmpl);
  if (err_fd >= 0) ::close(err_fd);
  err_path_ = tmpl;
  harness::SpawnOptions opt;
  opt.argv = std::move(argv);
  opt.stderr_path = err_path_;
  if (auto c = harness::Child::spawn(opt, &spawn_error_)) child_.emplace(std::move(*c));
}

Process::~Process() {
  child_.reset();  // SIGKILL to the group, reaped
  if (!err_path_.empty()) ::unlink(err_path_.c_str());
}

std::string Process::read_line(std::chrono::milliseconds timeout) {
  if (!child_) return "";
  return child_->read_line(Clock::now() + timeout).value_or("");
}

std::string Process::read_all(std::chrono::milliseconds timeout) {
  return child_ ? child_->read_rest(Clock::now() + timeout) : "";
}

void Process::signal(int sig) {
  if (child_) child_->signal(sig);
}

int Process::wait(std::chrono::milliseconds timeout) {
  if (!child_ || !child_->wait_until(Clock::now() + timeout)) return -1;
  return child_->exit_info()->status;
}

bool Process::running() { return child_ && !child_->exited(); }

std::string Process::stderr_text() const {
  std::ifstream f(err_path_);
  std::stringstream ss;
  ss << f.rdbuf();
  return spawn_error_.empty() ? ss.str() : spawn_error_ + "\n" + ss.str();
}

Server::Server(const std::string& strategy, std::vector<std::string> extra)
    : proc_([&] {
        std::vector<std::string> argv = {bin_dir() + "/muxbench-server", "--strategy", strategy,
                                         "--port", "0"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return argv;
      }()) {
  ready_ = proc_.read_line(std::chrono::seconds(10));
  port_ = static_cast<std::uint16_t>(wire::ready_port(ready_));
}

int connect_loopback(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string read_exactly(int fd, std::size_t n, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string got;
  char buf[65536];
  while (got.size() < n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t r = ::read(fd, buf, std::min(sizeof buf, n - got.size()));
    if (r <= 0) break;
    got.append(buf, static_cast<std::size_t>(r));
  }
  return got;
}

std::string exchange(int fd, const std::string& data, std::chrono::milliseconds timeout) {
  std::thread writer([fd, &data] {
    muxbench::write_all(fd, data.data(), data.size());
    ::shutdown(fd, SHUT_WR);
  });
  auto deadline = Clock::now() + timeout;
  std::string got;
  char buf[65536];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r <= 0) break;
    got.append(buf, static_cast<std::size_t>(r));
  }
  if (Clock::now() >= deadline) ::shutdown(fd, SHUT_RDWR);  // unblock the writer
  writer.join();
  return got;
}

long rss_kb(pid_t pgid) {
  long total = 0;
  for (pid_t p : group_members(pgid)) {
    std::ifstream f("/proc/" + std::to_string(p) + "/status");
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("VmRSS:", 0) == 0) total += std::atol(line.c_str() + 6);
    }
  }
  return total;
}

}  // namespace muxbench::test
