// fork — one process per connection (the chapter's first server).
//
// Mechanism: a blocking accept() loop; each connection gets a fork()ed child
// that serves it with blocking read()/write() and _exit()s. The kernel
// scheduler is the multiplexer. A reaper thread in the parent waits for
// children (no zombies) and keeps the set of live pids, so that on stop the
// parent signals exactly its own children: SIGTERM (a child turns it into a
// shutdown() of its connection, so it still adds its counters to the shared
// totals and exits), then SIGKILL after 400 ms.
// Trade-offs: full isolation (a crash kills one connection), but each
// connection costs a fork() (page-table copy, ~100 us and up) plus a process:
// its own stack, page tables and kernel task (~100+ KiB resident).
// Limits: RLIMIT_NPROC / pid_max / the pids cgroup; a failed fork() closes
// that connection (counted in errors.accept) and the server keeps serving.
// Children set PR_SET_PDEATHSIG, so none outlives a parent that was killed.
// Try it: muxbench-server --strategy fork --port 40713 &
//         nc 127.0.0.1 40713     (ps --ppid <pid> shows one child per nc)
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "conn.h"
#include "muxbench/net.h"

namespace muxbench::server {
namespace {

// ---- the child -------------------------------------------------------------

// The child's connection; its SIGTERM/SIGINT handler shuts it down, so a
// blocked read()/write() returns, the child's counters still reach the totals
// and it exits on its own.
volatile sig_atomic_t g_child_fd = -1;

void on_child_stop(int) {
  const int saved = errno;
  if (g_child_fd >= 0) ::shutdown(g_child_fd, SHUT_RDWR);
  errno = saved;
}

[[noreturn]] void child_main(int fd, const Context& ctx, pid_t parent) {
  g_child_fd = fd;
  struct sigaction sa{};
  sa.sa_handler = on_child_stop;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  // main.cc blocked the stop signals in every thread; this child must see them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  ::sigprocmask(SIG_UNBLOCK, &stop_signals, nullptr);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(0);  // the parent died before prctl()

  ::close(ctx.listen_fd);
  ::close(ctx.stop_fd);
  Counters c;
  serve_blocking(fd, c, ctx);
  ctx.totals.add(c);  // MAP_SHARED: the parent's totals
  ::_exit(0);
}

// ---- the parent ------------------------------------------------------------

// Live children. A pid leaves the set only while it is still a zombie (see
// reap), so kill() under the mutex can never hit a recycled pid.
struct Children {
  std::mutex mu;
  std::condition_variable cv;  // "set changed" for both the reaper and stop()
  std::unordered_set<pid_t> live;
  bool stopping = false;

  void reap() {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return !live.empty() || stopping; });
        if (live.empty()) return;  // and stopping
      }
      // WNOWAIT: learn which child exited but leave it a zombie until it is
      // out of `live`.
      siginfo_t si{};
      if (::waitid(P_ALL, 0, &si, WEXITED | WNOWAIT) != 0) {
        if (errno != EINTR) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      std::lock_guard<std::mutex> lock(mu);
      ::waitpid(si.si_pid, nullptr, 0);
      live.erase(si.si_pid);
      cv.notify_all();
    }
  }

  // Signals every child and waits up to `wait` for all to be reaped.
  bool signal_and_wait(int sig, std::chrono::milliseconds wait) {
    std::unique_lock<std::mutex> lock(mu);
    for (pid_t pid : live) ::kill(pid, sig);
    return cv.wait_for(lock, wait, [&] { return live.empty(); });
  }
};

int run(Context& ctx) {
  const pid_t self = ::getpid();
  // On the heap: if a child refuses to die the reaper is detached and must
  // not outlive what it reads.
  auto owned = std::make_unique<Children>();
  Children& children = *owned;
  std::thread reaper([&children] { children.reap(); });
  AcceptGuard acceptor;
  Counters c;  // the parent's: accepts and fork failures
  ctx.ready();

  for (;;) {
    int fd = acceptor.accept_blocking(ctx.listen_fd, c, ctx);
    if (fd < 0) break;  // stopping
    std::unique_lock<std::mutex> lock(children.mu);  // held across fork: see Children
    const pid_t pid = ::fork();
    if (pid == 0) child_main(fd, ctx, self);
    if (pid < 0) {
      lock.unlock();
      ++c.errors_accept;
      close_fd(fd);
      ++c.closed;
      continue;
    }
    children.live.insert(pid);
    lock.unlock();
    children.cv.notify_all();
    close_fd(fd);  // the child owns it now
  }

  if (!children.signal_and_wait(SIGTERM, std::chrono::milliseconds(400))) {
    children.signal_and_wait(SIGKILL, std::chrono::milliseconds(200));
  }
  {
    std::lock_guard<std::mutex> lock(children.mu);
    children.stopping = true;
  }
  children.cv.notify_all();
  bool all_reaped;
  {
    std::lock_guard<std::mutex> lock(children.mu);
    all_reaped = children.live.empty();
  }
  if (all_reaped) {
    reaper.join();
  } else {
    std::fprintf(stderr, "fork: some children did not exit after SIGKILL\n");
    reaper.detach();  // main.cc exits the process shortly anyway
    (void)owned.release();  // leaked on purpose, see above
  }
  ctx.totals.add(c);
  return 0;
}

}  // namespace

extern const Strategy fork_strategy = {
    .name = "fork",
    .family = "blocking",
    .summary = "fork() a process per connection, blocking I/O in each",
    .run = run,
};

}  // namespace muxbench::server
