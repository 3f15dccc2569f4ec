// asio — standalone Asio's reactor: posix::stream_descriptor::async_wait.
//
// Asio registers a descriptor with its epoll reactor once, edge-triggered
// (EPOLLIN|EPOLLPRI|EPOLLERR|EPOLLHUP|EPOLLET), when it is assigned; an
// async_wait(wait_read) queues a one-shot operation that the next edge
// completes, and the handler goes through the scheduler's queue before it
// runs. Each dispatch is io_context::poll_one(): one ready handler, after a
// zero-timeout reactor pass when none is queued (poll() would keep going
// until the whole chain of a round is done: one "dispatch" per round).
// The handler reads until EAGAIN (edge-
// triggered, as epoll-et) and waits again. Concurrency hint 1, as in the
// asio server: one thread, its locks uncontended. The difference to the
// "epoll-et" row is Asio's overhead: operation queues, handler allocation
// (recycled), the scheduler.
// Registration: assign() (epoll_ctl ADD) and release() (epoll_ctl DEL).
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "mechanism.h"
#include "workload.h"

namespace muxbench::micro {
namespace {

struct Waiter {
  asio::posix::stream_descriptor sd;
  Chain* chain = nullptr;
  int index = 0;
  std::string* error = nullptr;

  explicit Waiter(asio::io_context& ioc) : sd(ioc) {}
  ~Waiter() {
    if (sd.is_open()) sd.release();  // the descriptor belongs to Pairs
  }

  void arm() {
    sd.async_wait(asio::posix::stream_descriptor::wait_read, [this](const std::error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        if (error->empty()) *error = "async_wait: " + ec.message();
        return;
      }
      chain->read_all(index);
      arm();
    });
  }
};

// Descriptors assigned to the io_context (or the first failure in *err).
bool assign_all(const Pairs& pairs, std::vector<std::unique_ptr<Waiter>>& ws, std::string* err) {
  for (int i = 0; i < pairs.size(); ++i) {
    std::error_code ec;
    ws[static_cast<std::size_t>(i)]->sd.assign(pairs.reader(i), ec);
    if (ec) {
      *err = "stream_descriptor::assign: " + ec.message();
      return false;
    }
  }
  return true;
}

void dispatch(benchmark::State& state, const Workload& w) {
  Pairs pairs;
  std::string err;
  if (!pairs.open(w.pairs, &err)) return state.SkipWithError(err.c_str());
  Chain chain(pairs, w);
  asio::io_context ioc(1);
  std::string async_err;
  std::vector<std::unique_ptr<Waiter>> ws;  // destroyed before ioc: declared after it
  for (int i = 0; i < pairs.size(); ++i) {
    ws.push_back(std::make_unique<Waiter>(ioc));
    ws.back()->chain = &chain;
    ws.back()->index = i;
    ws.back()->error = &async_err;
  }
  if (!assign_all(pairs, ws, &err)) return state.SkipWithError(err.c_str());
  for (auto& wt : ws) wt->arm();

  run_rounds(state, chain, w, [&](std::string* error) {
    ioc.poll_one();
    if (ioc.stopped()) ioc.restart();
    if (!async_err.empty()) {
      *error = async_err;
      return false;
    }
    return true;
  });
}

void registration(benchmark::State& state, int n) {
  Pairs pairs;
  std::string err;
  if (!pairs.open(n, &err)) return state.SkipWithError(err.c_str());
  asio::io_context ioc(1);
  std::vector<std::unique_ptr<Waiter>> ws;
  for (int i = 0; i < n; ++i) ws.push_back(std::make_unique<Waiter>(ioc));

  for (auto _ : state) {
    if (!assign_all(pairs, ws, &err)) return state.SkipWithError(err.c_str());
    for (auto& wt : ws) wt->sd.release();
  }
  set_registration_counters(state, pairs);
}

}  // namespace

const Mechanism kAsio = {"asio", "asio", false, dispatch, registration};

}  // namespace muxbench::micro
