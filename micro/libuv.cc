// libuv — uv_poll_t watchers on libuv's loop (epoll underneath on Linux).
//
// uv_poll is libuv's readiness interface: the same epoll as the "epoll" row,
// plus libuv's loop around it (timers, idle/prepare/check queues, the
// watcher queue whose epoll_ctl(ADD/MOD) calls are made lazily at the next
// poll). Each dispatch is uv_run(UV_RUN_NOWAIT), libevent's
// EVLOOP_ONCE|EVLOOP_NONBLOCK counterpart; the callback is bench.c's
// one-byte read. libuv's epoll is level-triggered, so one read per callback
// is enough. The difference to the "epoll" row is libuv's overhead.
// Registration: uv_poll_start() on every descriptor, one uv_run(NOWAIT)
// (where libuv makes its epoll_ctl(ADD)s: a start alone only queues the
// watcher), then uv_poll_stop() on every one (epoll_ctl(DEL) at once).
// uv_poll_init() puts the socket into non-blocking mode, which the pairs
// already are.
#include <uv.h>

#include <memory>
#include <string>

#include "mechanism.h"
#include "workload.h"

namespace muxbench::micro {
namespace {

struct Watcher {
  uv_poll_t handle;
  Chain* chain;
  int index;
};

void on_readable(uv_poll_t* h, int status, int) {
  auto* w = static_cast<Watcher*>(h->data);
  if (status == 0) w->chain->read_one(w->index);
}

// A loop with one uv_poll_t per watched descriptor, all closed (and the loop
// with them) on every path out of a benchmark.
class Loop {
 public:
  Loop() { ok_ = uv_loop_init(&loop_) == 0; }
  ~Loop() {
    for (int i = 0; i < inited_; ++i) uv_close(reinterpret_cast<uv_handle_t*>(&w_[i].handle), nullptr);
    if (ok_) {
      uv_run(&loop_, UV_RUN_DEFAULT);  // runs the close callbacks
      uv_loop_close(&loop_);
    }
  }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  bool init(const Pairs& pairs, Chain& chain, std::string* err) {
    if (!ok_) {
      *err = "uv_loop_init failed";
      return false;
    }
    w_ = std::make_unique<Watcher[]>(static_cast<std::size_t>(pairs.size()));
    for (int i = 0; i < pairs.size(); ++i) {
      Watcher& w = w_[i];
      w.chain = &chain;
      w.index = i;
      if (int rc = uv_poll_init(&loop_, &w.handle, pairs.reader(i)); rc != 0) {
        *err = std::string("uv_poll_init: ") + uv_strerror(rc);
        return false;
      }
      w.handle.data = &w;
      ++inited_;
    }
    return true;
  }

  bool start_all(std::string* err) {
    for (int i = 0; i < inited_; ++i) {
      if (int rc = uv_poll_start(&w_[i].handle, UV_READABLE, on_readable); rc != 0) {
        *err = std::string("uv_poll_start: ") + uv_strerror(rc);
        return false;
      }
    }
    return true;
  }

  bool stop_all(std::string* err) {
    for (int i = 0; i < inited_; ++i) {
      if (int rc = uv_poll_stop(&w_[i].handle); rc != 0) {
        *err = std::string("uv_poll_stop: ") + uv_strerror(rc);
        return false;
      }
    }
    return true;
  }

  uv_loop_t* get() { return &loop_; }

 private:
  uv_loop_t loop_{};
  bool ok_ = false;
  std::unique_ptr<Watcher[]> w_;
  int inited_ = 0;
};

void dispatch(benchmark::State& state, const Workload& w) {
  Pairs pairs;
  std::string err;
  if (!pairs.open(w.pairs, &err)) return state.SkipWithError(err.c_str());
  Chain chain(pairs, w);
  Loop loop;
  if (!loop.init(pairs, chain, &err) || !loop.start_all(&err)) {
    return state.SkipWithError(err.c_str());
  }
  uv_run(loop.get(), UV_RUN_NOWAIT);  // untimed: libuv's epoll_ctl(ADD)s happen here

  run_rounds(state, chain, w, [&](std::string*) {
    uv_run(loop.get(), UV_RUN_NOWAIT);  // returns "handles still active": not an error
    return true;
  });
}

void registration(benchmark::State& state, int n) {
  Pairs pairs;
  std::string err;
  if (!pairs.open(n, &err)) return state.SkipWithError(err.c_str());
  Workload unused{n, 1, 0};
  Chain chain(pairs, unused);  // never called: nothing becomes readable
  Loop loop;
  if (!loop.init(pairs, chain, &err)) return state.SkipWithError(err.c_str());

  for (auto _ : state) {
    if (!loop.start_all(&err)) return state.SkipWithError(err.c_str());
    uv_run(loop.get(), UV_RUN_NOWAIT);
    if (!loop.stop_all(&err)) return state.SkipWithError(err.c_str());
  }
  set_registration_counters(state, pairs);
}

}  // namespace

const Mechanism kLibuv = {"libuv", "libuv", false, dispatch, registration};

}  // namespace muxbench::micro
