// thread — one detached thread per connection, blocking I/O in each.
//
// Mechanism: a blocking accept() loop; each connection gets a new thread that
// serves it with blocking read()/write() and exits. The kernel scheduler is
// the multiplexer, as with fork, but threads share the address space, so
// creating one is a clone() without a page-table copy.
// Trade-offs: simple code and good latency at low concurrency; each
// connection costs a thread creation (~10-20 us) and a stack (256 KiB
// reserved here, a few pages touched), and thousands of runnable threads pay
// in context switches and scheduler work.
// Limits: RLIMIT_NPROC, threads-max, the pids cgroup, address space for the
// stacks. A failed pthread_create() closes that connection (counted in
// errors.accept) and the server keeps serving.
// Stop: the accept loop shuts every live connection down (a blocked read()
// or write() returns), then waits up to 500 ms for the threads to finish.
// Try it: muxbench-server --strategy thread --port 40713 &
//         nc 127.0.0.1 40713     (ls /proc/<pid>/task shows a thread per nc)
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "conn.h"
#include "muxbench/net.h"

namespace muxbench::server {
namespace {

constexpr std::size_t kStackSize = 256 * 1024;

struct Live;

struct Job {
  int fd;
  const Context* ctx;
  std::shared_ptr<Live> live;  // threads may outlive run() by a few ms
};

// The connections being served, by identity (their Job), not by fd number:
// a thread closes its fd before it leaves the set, and the acceptor may be
// handed that fd number for a new connection meanwhile; erasing by number
// would then drop the new connection, which SIGTERM would never shut down.
// Only the accept thread creates descriptors and it stops accepting before it
// shuts the listed ones down, so a listed fd whose thread has just closed it
// cannot have been reused by then.
struct Live {
  std::mutex mu;
  std::condition_variable cv;
  std::unordered_set<const Job*> jobs;
};

void* serve_thread(void* arg) {
  std::unique_ptr<Job> job(static_cast<Job*>(arg));
  Counters c;
  serve_blocking(job->fd, c, *job->ctx);
  job->ctx->totals.add(c);
  {
    std::lock_guard<std::mutex> lock(job->live->mu);
    job->live->jobs.erase(job.get());
  }
  job->live->cv.notify_all();
  return nullptr;
}

int run(Context& ctx) {
  auto live = std::make_shared<Live>();
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, kStackSize);
  AcceptGuard acceptor;
  Counters c;  // the accept thread's: accepts and thread-creation failures
  ctx.ready();

  for (;;) {
    int fd = acceptor.accept_blocking(ctx.listen_fd, c, ctx);
    if (fd < 0) break;  // stopping
    auto* job = new Job{fd, &ctx, live};
    {
      std::lock_guard<std::mutex> lock(live->mu);
      live->jobs.insert(job);
    }
    pthread_t tid;
    if (int err = pthread_create(&tid, &attr, serve_thread, job); err != 0) {
      {
        std::lock_guard<std::mutex> lock(live->mu);
        live->jobs.erase(job);
      }
      delete job;
      ++c.errors_accept;
      close_fd(fd);
      ++c.closed;
    }
  }

  {
    std::unique_lock<std::mutex> lock(live->mu);
    for (const Job* job : live->jobs) ::shutdown(job->fd, SHUT_RDWR);
    live->cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return live->jobs.empty(); });
  }
  pthread_attr_destroy(&attr);
  ctx.totals.add(c);
  return 0;
}

}  // namespace

extern const Strategy thread_strategy = {
    .name = "thread",
    .family = "blocking",
    .summary = "a detached thread per connection, blocking I/O in each",
    .run = run,
};

}  // namespace muxbench::server
