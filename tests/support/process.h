// Test fixtures that spawn the real binaries (as libuv's tests start a helper
// echo server): a child in its own process group, its READY line read with a
// deadline, and the whole group killed when the fixture goes out of scope,
// even when the test fails. Spawning is the harness's own (harness/spawn.h):
// the tests start processes exactly as `muxbench run` does.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spawn.h"

namespace muxbench::test {

// Directory holding the built executables (build/bin).
std::string bin_dir();

class Process {
 public:
  // Starts argv[0] (a path) with argv; stdout is captured through a pipe,
  // stderr to a temp file (see stderr_text(), which also says why a start
  // failed). Own process group; killed with the test process (PDEATHSIG).
  explicit Process(std::vector<std::string> argv);
  ~Process();  // SIGKILL to the group, then reaped
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return child_ ? child_->pid() : -1; }
  // Reads one stdout line, waiting at most `timeout`. Empty on timeout/EOF.
  std::string read_line(std::chrono::milliseconds timeout);
  // Everything left on stdout until EOF (or timeout).
  std::string read_all(std::chrono::milliseconds timeout);
  // Sends a signal to the process (not the group).
  void signal(int sig);
  // Waits for exit; returns the wait status, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  bool running();
  std::string stderr_text() const;

 private:
  std::optional<harness::Child> child_;
  std::string err_path_;
  std::string spawn_error_;
};

// A muxbench-server on an ephemeral loopback port, READY line already read.
class Server {
 public:
  explicit Server(const std::string& strategy, std::vector<std::string> extra = {});
  bool ok() const { return port_ != 0; }
  std::uint16_t port() const { return port_; }
  Process& process() { return proc_; }
  const std::string& ready_line() const { return ready_; }

 private:
  Process proc_;
  std::string ready_;
  std::uint16_t port_ = 0;
};

// A blocking client socket connected to 127.0.0.1:port, or -1.
int connect_loopback(std::uint16_t port);

// Sends everything, half-closes, and reads until EOF (with a deadline), on a
// second thread so that large transfers cannot deadlock. Returns the reply.
std::string exchange(int fd, const std::string& data, std::chrono::milliseconds timeout);

// Reads exactly n bytes (or until EOF/timeout). Returns what arrived.
std::string read_exactly(int fd, std::size_t n, std::chrono::milliseconds timeout);

// Sum of the resident set (kB) of a process and all its descendants' threads
// share; for fork-per-connection strategies, the group's total.
long rss_kb(pid_t pid);

// Pids of every process whose process group is `pgid` (the server and any
// children it forked).
using harness::group_members;

}  // namespace muxbench::test
