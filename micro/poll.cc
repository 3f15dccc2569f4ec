// poll — poll(2) over an array of N pollfd.
//
// No FD_SETSIZE limit, but the same shape of cost as select(): the whole
// array is copied into the kernel and every entry polled on every call, and
// the caller scans the array for non-zero revents. Registration is an append
// to the array, removal a swap with the last entry (libevent's poll.c does
// the same), both O(1) and entirely in user space.
#include <poll.h>

#include <cerrno>
#include <vector>

#include "mechanism.h"
#include "workload.h"

namespace muxbench::micro {
namespace {

void dispatch(benchmark::State& state, const Workload& w) {
  Pairs pairs;
  std::string err;
  if (!pairs.open(w.pairs, &err)) return state.SkipWithError(err.c_str());

  std::vector<pollfd> fds(static_cast<std::size_t>(pairs.size()));
  for (int i = 0; i < pairs.size(); ++i)
    fds[static_cast<std::size_t>(i)] = {pairs.reader(i), POLLIN, 0};

  Chain chain(pairs, w);
  run_rounds(state, chain, w, [&](std::string* error) {
    int n = ::poll(fds.data(), fds.size(), 0);
    if (n < 0) {
      if (errno == EINTR) return true;
      *error = syscall_error("poll", errno);
      return false;
    }
    for (std::size_t i = 0; i < fds.size() && n > 0; ++i) {
      const short revents = fds[i].revents;
      if (revents == 0) continue;
      --n;
      if (revents & (POLLERR | POLLHUP | POLLNVAL)) {
        *error = "poll: error condition on pair " + std::to_string(i);
        return false;
      }
      chain.read_one(static_cast<int>(i));
    }
    return true;
  });
}

void registration(benchmark::State& state, int n) {
  Pairs pairs;
  std::string err;
  if (!pairs.open(n, &err)) return state.SkipWithError(err.c_str());

  std::vector<pollfd> fds;
  fds.reserve(static_cast<std::size_t>(n));
  // fd -> index in fds, so removal does not search.
  std::vector<int> slot(static_cast<std::size_t>(pairs.max_reader()) + 1, -1);
  for (auto _ : state) {
    for (int i = 0; i < n; ++i) {
      const int fd = pairs.reader(i);
      slot[static_cast<std::size_t>(fd)] = static_cast<int>(fds.size());
      fds.push_back({fd, POLLIN, 0});
    }
    benchmark::DoNotOptimize(fds.data());
    for (int i = 0; i < n; ++i) {
      const int fd = pairs.reader(i);
      const auto at = static_cast<std::size_t>(slot[static_cast<std::size_t>(fd)]);
      fds[at] = fds.back();
      slot[static_cast<std::size_t>(fds[at].fd)] = static_cast<int>(at);
      fds.pop_back();
      slot[static_cast<std::size_t>(fd)] = -1;
    }
    benchmark::ClobberMemory();
  }
  set_registration_counters(state, pairs);
}

}  // namespace

const Mechanism kPoll = {"poll", "readiness", false, dispatch, registration};

}  // namespace muxbench::micro
