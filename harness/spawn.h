// Child processes of the harness: the server and the load generator, each in
// its own process group so that one kill() reaches everything it forked.
//
// The harness is a child subreaper (PR_SET_CHILD_SUBREAPER): a process that a
// server forks and then orphans is re-parented to the harness, not to init, so
// it can still be found (by process group), killed and reaped. Children also
// get PR_SET_PDEATHSIG(SIGKILL): if the harness itself dies, they die with it.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace muxbench::harness {

using Clock = std::chrono::steady_clock;

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0]: a path, or a name looked up in PATH
  std::string stderr_path;        // stderr goes to this file (created/truncated)
  std::string stdout_path;        // stdout to this file; empty: a pipe (read_line)
  std::vector<int> cpus;          // CPU affinity set before exec; empty: inherit
  std::vector<std::string> env;   // KEY=VALUE added to the inherited environment
  bool stdin_pipe = false;        // stdin from a pipe (write_stdin); else /dev/null
};

// How a child ended, from wait4().
struct ExitInfo {
  int status = 0;          // raw wait status
  rusage usage{};          // the child, its threads and the children it reaped
  std::string describe() const;  // "exited 0", "signal 9 (Killed)"
  bool clean() const;      // exited with status 0
};

class Child {
 public:
  // Starts the process. On failure (fork, or exec: reported back through a
  // close-on-exec pipe) returns nullopt and sets *err.
  static std::optional<Child> spawn(const SpawnOptions& opt, std::string* err);

  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) = delete;
  Child(const Child&) = delete;
  ~Child();  // SIGKILL to the group and reaped, if still there

  pid_t pid() const { return pid_; }  // also the process group id

  // One line from the stdout pipe, waiting until `deadline`. nullopt on
  // timeout, EOF or when the process exited.
  std::optional<std::string> read_line(Clock::time_point deadline);

  // Everything left on stdout (buffered lines included) until EOF or
  // `deadline`.
  std::string read_rest(Clock::time_point deadline);

  // Writes to the stdin pipe (SpawnOptions::stdin_pipe). False when the
  // process no longer reads it.
  bool write_stdin(const std::string& text);
  void close_stdin();

  // Non-blocking: reaps the process if it has exited.
  bool exited();
  const std::optional<ExitInfo>& exit_info() const { return exit_; }

  // Waits for the process to exit, up to `deadline`. True if it did.
  bool wait_until(Clock::time_point deadline);

  void signal(int sig);        // the process only
  void signal_group(int sig);  // its whole process group

  // SIGKILL to the group, then waits (bounded by `deadline`) until no process
  // of the group is left, reaping the leader and any orphan re-parented to the
  // harness. Returns the pids still alive at the deadline (empty: all gone).
  std::vector<pid_t> kill_group_and_reap(Clock::time_point deadline);

  // Summed usage of the orphans of this group that the harness reaped.
  const rusage& orphan_usage() const { return orphan_usage_; }

 private:
  Child() = default;
  void reap_group();  // wait4(-pgid, WNOHANG) until nothing is left to reap

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int in_fd_ = -1;
  std::string buffered_;
  std::optional<ExitInfo> exit_;
  rusage orphan_usage_{};
  bool group_gone_ = false;
};

// Pids of the live (non-zombie) processes whose process group is `pgid`.
std::vector<pid_t> group_members(pid_t pgid);

// Makes the harness a child subreaper. Call once at start-up.
void become_subreaper();

// The last `max_bytes` of a file, cut to whole lines when possible.
std::string file_tail(const std::string& path, std::size_t max_bytes);

// Parses a CPU list like "0", "0-3", "0,2,4-5". Returns nullopt and sets
// *err on a malformed list or a CPU beyond `ncpu` (0: this machine's count;
// another host's list is checked for its form only, with a large ncpu).
std::optional<std::vector<int>> parse_cpu_list(const std::string& text, std::string* err,
                                               long ncpu = 0);

}  // namespace muxbench::harness
