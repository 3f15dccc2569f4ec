#include "spawn.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "muxbench/net.h"

namespace muxbench::harness {
namespace {

void add_usage(rusage& into, const rusage& u) {
  auto add_tv = [](timeval& a, const timeval& b) {
    a.tv_sec += b.tv_sec;
    a.tv_usec += b.tv_usec;
    if (a.tv_usec >= 1000000) {
      a.tv_sec += 1;
      a.tv_usec -= 1000000;
    }
  };
  add_tv(into.ru_utime, u.ru_utime);
  add_tv(into.ru_stime, u.ru_stime);
  into.ru_maxrss = std::max(into.ru_maxrss, u.ru_maxrss);
  into.ru_nvcsw += u.ru_nvcsw;
  into.ru_nivcsw += u.ru_nivcsw;
}

}  // namespace

std::string ExitInfo::describe() const {
  if (WIFEXITED(status)) return "exited " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* name = ::sigdescr_np(sig);
    return "signal " + std::to_string(sig) + (name ? std::string(" (") + name + ")" : "");
  }
  return "status " + std::to_string(status);
}

bool ExitInfo::clean() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

std::optional<Child> Child::spawn(const SpawnOptions& opt, std::string* err) {
  if (opt.argv.empty()) {
    *err = "nothing to run";
    return std::nullopt;
  }
  // Everything the child needs is prepared here: between fork() and exec()
  // only async-signal-safe calls are allowed (the harness has threads).
  std::vector<std::string> argv_copy = opt.argv;
  std::vector<char*> argv;
  for (auto& a : argv_copy) argv.push_back(a.data());
  argv.push_back(nullptr);

  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  for (int c : opt.cpus) CPU_SET(c, &cpus);
  const bool pin = !opt.cpus.empty();

  std::vector<std::string> env_copy;
  for (char** e = environ; *e != nullptr; ++e) env_copy.emplace_back(*e);
  env_copy.insert(env_copy.end(), opt.env.begin(), opt.env.end());
  std::vector<char*> envp;
  for (auto& e : env_copy) envp.push_back(e.data());
  envp.push_back(nullptr);

  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int in_pipe[2] = {-1, -1};
  if (opt.stdin_pipe && ::pipe2(in_pipe, O_CLOEXEC) != 0) in_pipe[0] = in_pipe[1] = -1;
  const int in_fd = opt.stdin_pipe ? in_pipe[0] : null_fd;
  int err_fd = ::open(opt.stderr_path.empty() ? "/dev/null" : opt.stderr_path.c_str(),
                      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int out_pipe[2] = {-1, -1};
  int out_fd = -1;
  if (opt.stdout_path.empty()) {
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) out_pipe[0] = out_pipe[1] = -1;
    out_fd = out_pipe[1];
  } else {
    out_fd = ::open(opt.stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  }
  int exec_pipe[2] = {-1, -1};
  bool fds_ok = null_fd >= 0 && in_fd >= 0 && err_fd >= 0 && out_fd >= 0 &&
                ::pipe2(exec_pipe, O_CLOEXEC) == 0;
  auto close_all = [&] {
    for (int fd : {null_fd, err_fd, out_pipe[0], out_pipe[1], exec_pipe[0], exec_pipe[1],
                   in_pipe[0], in_pipe[1]}) {
      if (fd >= 0) ::close(fd);
    }
    if (!opt.stdout_path.empty() && out_fd >= 0) ::close(out_fd);
  };
  if (!fds_ok) {
    *err = "cannot set up the standard streams of " + opt.argv[0] + ": " + errno_string(errno);
    close_all();
    return std::nullopt;
  }

  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    *err = "fork: " + errno_string(errno);
    close_all();
    return std::nullopt;
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the harness died already
    ::dup2(in_fd, STDIN_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGCHLD}) ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int e = 0;
    if (pin && ::sched_setaffinity(0, sizeof cpus, &cpus) != 0) {
      e = errno;
    } else {
      ::execvpe(argv[0], argv.data(), envp.data());
      e = errno;
    }
    (void)!::write(exec_pipe[1], &e, sizeof e);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from this side: no window where kill(-pid) misses
  ::close(exec_pipe[1]);
  exec_pipe[1] = -1;
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(exec_pipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);

  Child c;
  c.pid_ = pid;
  if (opt.stdout_path.empty()) {
    c.out_fd_ = out_pipe[0];
    out_pipe[0] = -1;
  }
  if (opt.stdin_pipe) {
    c.in_fd_ = in_pipe[1];
    in_pipe[1] = -1;
  }
  close_all();
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    *err = (pin ? "cannot start " : "cannot execute ") + opt.argv[0] + ": " +
           errno_string(child_errno);
    c.wait_until(Clock::now() + std::chrono::seconds(2));
    return std::nullopt;
  }
  return c;
}

Child::Child(Child&& other) noexcept
    : pid_(other.pid_),
      out_fd_(other.out_fd_),
      in_fd_(other.in_fd_),
      buffered_(std::move(other.buffered_)),
      exit_(std::move(other.exit_)),
      orphan_usage_(other.orphan_usage_),
      group_gone_(other.group_gone_) {
  other.pid_ = -1;
  other.out_fd_ = -1;
  other.in_fd_ = -1;
}

Child::~Child() {
  if (pid_ > 0 && !group_gone_) kill_group_and_reap(Clock::now() + std::chrono::seconds(3));
  if (out_fd_ >= 0) ::close(out_fd_);
  close_stdin();
}

bool Child::write_stdin(const std::string& text) {
  return in_fd_ >= 0 && write_all(in_fd_, text.data(), text.size());
}

void Child::close_stdin() {
  if (in_fd_ >= 0) ::close(in_fd_);
  in_fd_ = -1;
}

std::optional<std::string> Child::read_line(Clock::time_point deadline) {
  for (;;) {
    auto nl = buffered_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    if (out_fd_ < 0) return std::nullopt;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    // Short slices: a forked grandchild may hold the pipe open after the
    // server died, so EOF alone cannot tell us it is gone. A deadline already
    // past still takes what is in the pipe.
    pollfd p{out_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::clamp<long>(left.count(), 0, 50)));
    if (r == 0) {
      if (left.count() <= 0 || exited()) return std::nullopt;
      continue;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    char buf[4096];
    ssize_t got = read_retry(out_fd_, buf, sizeof buf);
    if (got <= 0) return std::nullopt;
    buffered_.append(buf, static_cast<std::size_t>(got));
  }
}

std::string Child::read_rest(Clock::time_point deadline) {
  std::string all = std::move(buffered_);
  buffered_.clear();
  while (out_fd_ >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    pollfd p{out_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    char buf[65536];
    ssize_t got = read_retry(out_fd_, buf, sizeof buf);
    if (got <= 0) break;
    all.append(buf, static_cast<std::size_t>(got));
  }
  return all;
}

bool Child::exited() {
  if (exit_) return true;
  if (pid_ <= 0) return true;
  int st = 0;
  rusage ru{};
  pid_t r = ::wait4(pid_, &st, WNOHANG, &ru);
  if (r == pid_) {
    exit_ = ExitInfo{st, ru};
    return true;
  }
  if (r < 0 && errno == ECHILD) {  // reaped elsewhere: cannot happen, but never spin on it
    exit_ = ExitInfo{};
    return true;
  }
  return false;
}

bool Child::wait_until(Clock::time_point deadline) {
  for (;;) {
    if (exited()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void Child::signal(int sig) {
  if (pid_ > 0 && !exited()) ::kill(pid_, sig);
}

void Child::signal_group(int sig) {
  if (pid_ > 0 && !group_gone_) ::kill(-pid_, sig);
}

void Child::reap_group() {
  for (;;) {
    int st = 0;
    rusage ru{};
    pid_t r = ::wait4(-pid_, &st, WNOHANG, &ru);
    if (r <= 0) return;
    if (r == pid_) {
      exit_ = ExitInfo{st, ru};
    } else {
      add_usage(orphan_usage_, ru);
    }
  }
}

std::vector<pid_t> Child::kill_group_and_reap(Clock::time_point deadline) {
  std::vector<pid_t> left;
  if (pid_ <= 0 || group_gone_) return left;
  for (;;) {
    ::kill(-pid_, SIGKILL);
    reap_group();
    exited();
    left = group_members(pid_);
    if (left.empty() && exit_) {
      reap_group();  // zombies that turned up meanwhile
      group_gone_ = true;
      return left;
    }
    if (Clock::now() >= deadline) return left;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::vector<pid_t> group_members(pid_t pgid) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  char path[300];
  char buf[512];
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    std::snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    const char* rp = std::strrchr(buf, ')');
    if (rp == nullptr) continue;
    char state = 0;
    long ppid = 0, pg = 0;
    if (std::sscanf(rp + 1, " %c %ld %ld", &state, &ppid, &pg) != 3) continue;
    if (pg == pgid && state != 'Z' && state != 'X') out.push_back(std::atoi(e->d_name));
  }
  ::closedir(d);
  return out;
}

void become_subreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }

std::string file_tail(const std::string& path, std::size_t max_bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "";
  f.seekg(0, std::ios::end);
  std::streamoff size = f.tellg();
  std::streamoff start = size > static_cast<std::streamoff>(max_bytes)
                             ? size - static_cast<std::streamoff>(max_bytes)
                             : 0;
  f.seekg(start);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (start > 0) {
    auto nl = s.find('\n');
    if (nl != std::string::npos && nl + 1 < s.size()) s.erase(0, nl + 1);
  }
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::optional<std::vector<int>> parse_cpu_list(const std::string& text, std::string* err,
                                               long ncpu) {
  if (ncpu <= 0) ncpu = ::sysconf(_SC_NPROCESSORS_CONF);
  std::vector<int> cpus;
  std::stringstream ss(text);
  std::string part;
  auto bad = [&](const std::string& why) {
    *err = "'" + text + "' " + why;
    return std::nullopt;
  };
  if (text.empty()) return bad("is empty; expected a CPU list like 0 or 0-1 or 0,2");
  while (std::getline(ss, part, ',')) {
    int lo = 0, hi = 0;
    char dash = 0;
    char extra = 0;
    int fields = std::sscanf(part.c_str(), "%d%c%d%c", &lo, &dash, &hi, &extra);
    if (fields == 1) {
      hi = lo;
    } else if (fields != 3 || dash != '-') {
      return bad("is not a CPU list; expected e.g. 0 or 0-1 or 0,2");
    }
    if (lo < 0 || hi < lo) return bad("has an empty or negative range");
    if (hi >= ncpu) {
      return bad("names CPU " + std::to_string(hi) + "; this machine has CPUs 0-" +
                 std::to_string(ncpu - 1));
    }
    for (int c = lo; c <= hi; ++c) {
      if (std::find(cpus.begin(), cpus.end(), c) == cpus.end()) cpus.push_back(c);
    }
  }
  return cpus;
}

}  // namespace muxbench::harness
