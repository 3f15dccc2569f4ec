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
  err_path_ = tmpl;
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return;
  pid_ = ::fork();
  if (pid_ == 0) {
    ::setpgid(0, 0);
    ::dup2(pipefd[1], STDOUT_FILENO);
    if (err_fd >= 0) ::dup2(err_fd, STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  if (pid_ > 0) ::setpgid(pid_, pid_);  // both sides, so no race with kill()
  ::close(pipefd[1]);
  if (err_fd >= 0) ::close(err_fd);
  out_fd_ = pipefd[0];
}

Process::~Process() {
  if (pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    if (!reaped_) ::waitpid(pid_, nullptr, 0);
    // Children of the group (forked servers) are re-parented; make sure they die.
    for (pid_t p : group_members(pid_)) ::kill(p, SIGKILL);
  }
  if (out_fd_ >= 0) ::close(out_fd_);
  if (!err_path_.empty()) ::unlink(err_path_.c_str());
}

std::string Process::read_line(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto nl = buffered_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || out_fd_ < 0) return "";
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    ssize_t r = ::read(out_fd_, buf, sizeof buf);
    if (r <= 0) return "";
    buffered_.append(buf, static_cast<std::size_t>(r));
  }
}

std::string Process::read_all(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string all = buffered_;
  buffered_.clear();
  while (out_fd_ >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[65536];
    ssize_t r = ::read(out_fd_, buf, sizeof buf);
    if (r <= 0) break;
    all.append(buf, static_cast<std::size_t>(r));
  }
  return all;
}

void Process::signal(int sig) {
  if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
}

int Process::wait(std::chrono::milliseconds timeout) {
  if (reaped_) return status_;
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      status_ = st;
      return st;
    }
    if (Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

bool Process::running() { return !reaped_ && wait(std::chrono::milliseconds(0)) == -1; }

std::string Process::stderr_text() const {
  std::ifstream f(err_path_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
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

std::vector<pid_t> group_members(pid_t pgid) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::ifstream f("/proc/" + std::string(e->d_name) + "/stat");
    std::string stat;
    std::getline(f, stat);
    auto rp = stat.rfind(')');
    if (rp == std::string::npos) continue;
    std::istringstream rest(stat.substr(rp + 2));
    std::string state;
    long ppid = 0, pg = 0;
    rest >> state >> ppid >> pg;
    if (pg == pgid && state != "Z") out.push_back(pid);
  }
  ::closedir(d);
  return out;
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
