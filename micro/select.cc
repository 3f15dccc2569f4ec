// select — select(2) over the watched read ends.
//
// Every call copies the interest set in (a bitmap up to the highest fd), the
// kernel polls each descriptor in it, and the caller scans all N for the bits
// that came back set: O(N) per call however few are ready. Registration is
// just FD_SET/FD_CLR on a user-space bitmap; the cost is all in the call.
// Limit: every descriptor must be below FD_SETSIZE (1024), so main.cc only
// registers the N whose 2N descriptors fit.
#include <sys/select.h>

#include <cerrno>

#include "mechanism.h"
#include "workload.h"

namespace muxbench::micro {
namespace {

bool fits(benchmark::State& state, const Pairs& pairs) {
  if (pairs.max_reader() < FD_SETSIZE) return true;
  const std::string msg = "fd " + std::to_string(pairs.max_reader()) + " >= FD_SETSIZE";
  state.SkipWithError(msg.c_str());
  return false;
}

void dispatch(benchmark::State& state, const Workload& w) {
  Pairs pairs;
  std::string err;
  if (!pairs.open(w.pairs, &err)) return state.SkipWithError(err.c_str());
  if (!fits(state, pairs)) return;

  fd_set interest;
  FD_ZERO(&interest);
  for (int i = 0; i < pairs.size(); ++i) FD_SET(pairs.reader(i), &interest);
  const int nfds = pairs.max_reader() + 1;

  Chain chain(pairs, w);
  run_rounds(state, chain, w, [&](std::string* error) {
    fd_set ready = interest;
    timeval zero{};
    int n = ::select(nfds, &ready, nullptr, nullptr, &zero);
    if (n < 0) {
      if (errno == EINTR) return true;
      *error = syscall_error("select", errno);
      return false;
    }
    for (int i = 0; i < pairs.size() && n > 0; ++i) {
      if (FD_ISSET(pairs.reader(i), &ready)) {
        --n;
        chain.read_one(i);
      }
    }
    return true;
  });
}

void registration(benchmark::State& state, int n) {
  Pairs pairs;
  std::string err;
  if (!pairs.open(n, &err)) return state.SkipWithError(err.c_str());
  if (!fits(state, pairs)) return;

  fd_set interest;
  FD_ZERO(&interest);
  int max_fd = -1;
  for (auto _ : state) {
    for (int i = 0; i < n; ++i) {
      const int fd = pairs.reader(i);
      FD_SET(fd, &interest);
      if (fd > max_fd) max_fd = fd;
    }
    benchmark::DoNotOptimize(interest);
    for (int i = 0; i < n; ++i) {
      const int fd = pairs.reader(i);
      FD_CLR(fd, &interest);
      // What a real loop pays to keep nfds tight (Redis's ae_select does this).
      while (max_fd >= 0 && !FD_ISSET(max_fd, &interest)) --max_fd;
    }
    benchmark::DoNotOptimize(interest);
    benchmark::DoNotOptimize(max_fd);
  }
  set_registration_counters(state, pairs);
}

}  // namespace

const Mechanism kSelect = {"select", "readiness", true, dispatch, registration};

}  // namespace muxbench::micro
