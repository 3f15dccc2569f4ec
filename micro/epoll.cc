// epoll — level-triggered epoll(7); epoll-et — edge-triggered (EPOLLET).
//
// The interest set lives in the kernel (epoll_ctl once per descriptor), and
// readiness is pushed onto a ready list by the socket's wake-up callback, so
// epoll_wait() costs O(ready), not O(watched): the flat line in the chart.
// Level-triggered: a descriptor with unread bytes is reported again on every
// wait, so bench.c's one-byte read per callback is enough.
// Edge-triggered: same kernel data structures, but a descriptor is reported
// only when new bytes arrive, not again while old ones sit unread: each
// callback must read until EAGAIN or lose them. The difference shows in fewer
// re-reports and one extra read() (the one that returns EAGAIN) per
// notification. The two differ only in the registration flag and the read
// per event (the two places marked `kEdge` below).
// Registration is two system calls per descriptor (EPOLL_CTL_ADD, _DEL).
#include <sys/epoll.h>

#include <cerrno>

#include "mechanism.h"
#include "muxbench/net.h"
#include "workload.h"

namespace muxbench::micro {
namespace {

constexpr int kMaxEvents = 256;

// Closes the epoll descriptor on every path out of a benchmark.
struct EpollFd {
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  ~EpollFd() { close_fd(fd); }
};

template <bool kEdge>
bool add_all(const Pairs& pairs, int ep, std::string* err) {
  for (int i = 0; i < pairs.size(); ++i) {
    epoll_event ev{};
    ev.events = kEdge ? EPOLLIN | EPOLLET : EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, pairs.reader(i), &ev) != 0) {
      *err = syscall_error("epoll_ctl(ADD)", errno);
      return false;
    }
  }
  return true;
}

template <bool kEdge>
void dispatch(benchmark::State& state, const Workload& w) {
  Pairs pairs;
  std::string err;
  if (!pairs.open(w.pairs, &err)) return state.SkipWithError(err.c_str());
  EpollFd ep;
  if (ep.fd < 0) return state.SkipWithError(syscall_error("epoll_create1", errno).c_str());
  if (!add_all<kEdge>(pairs, ep.fd, &err)) return state.SkipWithError(err.c_str());

  epoll_event events[kMaxEvents];
  Chain chain(pairs, w);
  run_rounds(state, chain, w, [&](std::string* error) {
    const int n = ::epoll_wait(ep.fd, events, kMaxEvents, 0);
    if (n < 0) {
      if (errno == EINTR) return true;
      *error = syscall_error("epoll_wait", errno);
      return false;
    }
    for (int k = 0; k < n; ++k) {
      const int i = static_cast<int>(events[k].data.u32);
      if (kEdge) {
        chain.read_all(i);  // the edge will not come again for these bytes
      } else {
        chain.read_one(i);
      }
    }
    return true;
  });
}

template <bool kEdge>
void registration(benchmark::State& state, int n) {
  Pairs pairs;
  std::string err;
  if (!pairs.open(n, &err)) return state.SkipWithError(err.c_str());
  EpollFd ep;
  if (ep.fd < 0) return state.SkipWithError(syscall_error("epoll_create1", errno).c_str());

  for (auto _ : state) {
    if (!add_all<kEdge>(pairs, ep.fd, &err)) return state.SkipWithError(err.c_str());
    for (int i = 0; i < n; ++i) {
      if (::epoll_ctl(ep.fd, EPOLL_CTL_DEL, pairs.reader(i), nullptr) != 0) {
        return state.SkipWithError(syscall_error("epoll_ctl(DEL)", errno).c_str());
      }
    }
  }
  set_registration_counters(state, pairs);
}

}  // namespace

const Mechanism kEpoll = {"epoll", "readiness", false, dispatch<false>, registration<false>};
const Mechanism kEpollEt = {"epoll-et", "readiness", false, dispatch<true>, registration<true>};

}  // namespace muxbench::micro
