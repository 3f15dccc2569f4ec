// threadpool — a fixed pool of blocking worker threads fed by an accept loop.
//
// Mechanism: --threads workers (default 64) are started once; the accept
// loop pushes each new connection onto a queue (mutex + condition variable)
// and an idle worker takes it and serves it with blocking read()/write()
// until the peer closes. No thread is created per connection.
// Trade-offs: the creation cost of `thread` is paid once, and memory is
// bounded by the pool, but concurrency is capped at the pool size: a
// connection beyond it is accepted and then WAITS IN THE QUEUE, unanswered,
// until a worker frees up, i.e. until some earlier client disconnects. With
// long-lived connections (the load generator's), client N > pool size sees
// no reply at all until then; expect a latency cliff past --threads clients.
// Limits: --threads (1..4096); queued connections hold a descriptor each.
// Stop: queued connections are closed, served ones shut down (a blocked
// read() or write() returns); workers get 500 ms to finish.
// Try it: muxbench-server --strategy threadpool --threads 2 --port 40713 &
//         three nc 127.0.0.1 40713: the third gets replies once one quits.
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "conn.h"
#include "muxbench/net.h"

namespace muxbench::server {
namespace {

constexpr std::size_t kStackSize = 256 * 1024;

struct Pool {
  const Context* ctx = nullptr;
  std::mutex mu;
  std::condition_variable work_cv;  // a connection was queued, or closing
  std::condition_variable done_cv;  // a worker exited
  std::deque<int> queue;            // accepted, waiting for a worker
  std::vector<int> serving;         // per worker: fd being served, or -1
  bool closing = false;
  int exited = 0;
};

struct Worker {
  std::shared_ptr<Pool> pool;  // workers that miss the stop deadline outlive run()
  int index;
};

void* worker_main(void* arg) {
  std::unique_ptr<Worker> w(static_cast<Worker*>(arg));
  Pool& pool = *w->pool;  // kept alive by w
  Counters c;
  for (;;) {
    int fd;
    {
      std::unique_lock<std::mutex> lock(pool.mu);
      pool.work_cv.wait(lock, [&] { return pool.closing || !pool.queue.empty(); });
      if (pool.closing) break;
      fd = pool.queue.front();
      pool.queue.pop_front();
      pool.serving[static_cast<std::size_t>(w->index)] = fd;
    }
    serve_blocking(fd, c, *pool.ctx);
    // Only the accept thread creates descriptors and it is the one shutting
    // `serving` fds down on stop, so the just-closed fd cannot be reused yet.
    std::lock_guard<std::mutex> lock(pool.mu);
    pool.serving[static_cast<std::size_t>(w->index)] = -1;
  }
  pool.ctx->totals.add(c);
  {
    std::lock_guard<std::mutex> lock(pool.mu);
    ++pool.exited;
  }
  pool.done_cv.notify_all();
  return nullptr;
}

// Closes the queue, unblocks the workers and waits up to `wait` for them.
void shut_pool(Pool& pool, int started, Counters& c, std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(pool.mu);
  pool.closing = true;
  for (int fd : pool.queue) {
    close_fd(fd);
    ++c.closed;
  }
  pool.queue.clear();
  for (int fd : pool.serving) {
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }
  pool.work_cv.notify_all();
  pool.done_cv.wait_for(lock, wait, [&] { return pool.exited == started; });
}

int run(Context& ctx) {
  auto pool = std::make_shared<Pool>();
  pool->ctx = &ctx;
  pool->serving.assign(static_cast<std::size_t>(ctx.threads), -1);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, kStackSize);
  Counters c;  // the accept thread's
  for (int i = 0; i < ctx.threads; ++i) {
    pthread_t tid;
    auto* w = new Worker{pool, i};
    if (int err = pthread_create(&tid, &attr, worker_main, w); err != 0) {
      delete w;
      std::fprintf(stderr, "threadpool: starting worker %d of %d: %s\n", i + 1, ctx.threads,
                   errno_string(err).c_str());
      shut_pool(*pool, i, c, std::chrono::milliseconds(500));
      pthread_attr_destroy(&attr);
      return 1;
    }
  }
  pthread_attr_destroy(&attr);
  AcceptGuard acceptor;
  ctx.ready();

  for (;;) {
    int fd = acceptor.accept_blocking(ctx.listen_fd, c, ctx);
    if (fd < 0) break;  // stopping
    {
      std::lock_guard<std::mutex> lock(pool->mu);
      pool->queue.push_back(fd);
    }
    pool->work_cv.notify_one();
  }

  shut_pool(*pool, ctx.threads, c, std::chrono::milliseconds(500));
  ctx.totals.add(c);
  return 0;
}

}  // namespace

extern const Strategy threadpool_strategy = {
    .name = "threadpool",
    .family = "blocking",
    .summary = "fixed pool of blocking worker threads fed by a queue (--threads, default 64)",
    .default_threads = 64,
    .threads = Threads::kPool,
    .run = run,
};

}  // namespace muxbench::server
