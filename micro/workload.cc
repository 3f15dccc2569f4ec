#include "workload.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "muxbench/net.h"

namespace muxbench::micro {

namespace {

// Descriptors kept free above the watched ones for what a benchmark opens
// after its pairs (epoll, io_uring) and what the library may open.
constexpr int kSpareFds = 8;

std::string open_error(int n, const char* step, int err) {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  return "N=" + std::to_string(n) + ": " + step + ": " + errno_string(err) + " (RLIMIT_NOFILE " +
         std::to_string(rl.rlim_cur) + ")";
}

}  // namespace

Pairs::~Pairs() {
  close_all();
}

void Pairs::close_all() {
  for (int fd : reader_) close_fd(fd);
  for (std::size_t i = 0; i < writer_.size() && i < static_cast<std::size_t>(dedicated_); ++i) {
    close_fd(writer_[i]);
  }
  reader_.clear();
  writer_.clear();
  dedicated_ = 0;
}

bool Pairs::open(int n, std::string* err) {
  close_all();
  // The lowest free descriptor: the watched ends will be [low, low + n).
  const int low = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (low < 0) {
    *err = open_error(n, "open /dev/null", errno);
    return false;
  }
  close_fd(low);
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  const long limit = rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : static_cast<long>(rl.rlim_cur);
  const long writer_floor = static_cast<long>(low) + n + kSpareFds;
  long room = limit - writer_floor;
  if (room < 0) room = 0;
  dedicated_ = room >= n ? n : static_cast<int>(room);
  if ((n - dedicated_) % 2 != 0) --dedicated_;  // the rest pair up
  if (dedicated_ < 0) {
    dedicated_ = 0;
    *err = open_error(n, "no descriptor left for the writers", EMFILE);
    return false;
  }

  reader_.reserve(static_cast<std::size_t>(n));
  writer_.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
      *err = open_error(n, "socketpair", errno);
      close_all();
      return false;
    }
    if (i < dedicated_) {
      const int w = ::fcntl(sv[1], F_DUPFD_CLOEXEC, static_cast<int>(writer_floor));
      const int e = errno;
      close_fd(sv[1]);
      if (w < 0) {
        close_fd(sv[0]);
        *err = open_error(n, "fcntl(F_DUPFD) of a writer", e);
        close_all();
        return false;
      }
      reader_.push_back(sv[0]);
      writer_.push_back(w);
    } else {
      // Both ends watched, each the other's writer (see workload.h).
      reader_.insert(reader_.end(), {sv[0], sv[1]});
      writer_.insert(writer_.end(), {sv[1], sv[0]});
      ++i;
    }
  }
  return true;
}

int Pairs::max_reader() const {
  int m = -1;
  for (int fd : reader_) m = fd > m ? fd : m;
  return m;
}

bool Pairs::all_drained() const {
  for (int fd : reader_) {
    char c;
    if (::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0) return false;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
  }
  return true;
}

void Chain::seed() {
  read_ = 0;
  written_ = 0;
  writes_left_ = w_.writes;
  const int space = w_.pairs / w_.active;
  for (int k = 0; k < w_.active; ++k) {
    const int i = k * space;
    if (::send(pairs_.writer(i), "e", 1, MSG_NOSIGNAL) != 1) return fail("send", i, errno);
    ++written_;
  }
}

void Chain::chain_from(int i) {
  if (writes_left_ == 0) return;
  const int next = i + 1 == w_.pairs ? 0 : i + 1;
  if (next >= first_peer_watched_) ++peer_watched_writes_;
  if (::send(pairs_.writer(next), "e", 1, MSG_NOSIGNAL) != 1) return fail("send", next, errno);
  --writes_left_;
  ++written_;
}

void Chain::read_one(int i) {
  char c;
  const ssize_t n = ::recv(pairs_.reader(i), &c, 1, 0);
  if (n == 1) {
    ++read_;
    chain_from(i);
  } else if (n == 0) {
    fail("recv (unexpected EOF)", i, 0);
  } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    fail("recv", i, errno);
  }
  // EAGAIN: a spurious readiness report; counted by nobody, as in bench.c.
}

void Chain::read_all(int i) {
  char buf[256];
  for (;;) {
    const ssize_t n = ::recv(pairs_.reader(i), buf, sizeof buf, 0);
    if (n > 0) {
      read_ += n;
      for (ssize_t k = 0; k < n; ++k) chain_from(i);
      continue;
    }
    if (n == 0) return fail("recv (unexpected EOF)", i, 0);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) fail("recv", i, errno);
    return;
  }
}

void Chain::fail(const char* what, int i, int err) {
  if (!error_.empty()) return;
  error_ = std::string(what) + " on pair " + std::to_string(i);
  if (err != 0) error_ += ": " + errno_string(err);
}

namespace detail {

bool stalled(std::chrono::steady_clock::time_point since) {
  return std::chrono::steady_clock::now() - since > std::chrono::seconds(2);
}

void set_dispatch_counters(benchmark::State& state, const Chain& chain, const Workload& w,
                           long long dispatches) {
  if (state.error_occurred()) return;
  if (!chain.pairs().all_drained()) {
    state.SkipWithError("bytes left unread after the last round (accounting bug)");
    return;
  }
  using benchmark::Counter;
  const double events = static_cast<double>(state.iterations()) * chain.events_per_round();
  // kIsRate divides by the benchmark's measured time (CPU time of this thread,
  // which does all the work: nothing here ever sleeps); kInvert then turns
  // events/s into s/event, and the 1e-9 scale makes that nanoseconds.
  state.counters["events_per_s"] = Counter(events, Counter::kIsRate);
  state.counters["ns_per_event"] = Counter(events * 1e-9, Counter::kIsRate | Counter::kInvert);
  state.counters["events_per_dispatch"] =
      Counter(dispatches > 0 ? events / static_cast<double>(dispatches) : 0.0);
  state.counters["watched"] = Counter(w.pairs);
  state.counters["active"] = Counter(w.active);
  const int peer_watched = chain.pairs().peer_watched();
  if (peer_watched > 0) {
    state.counters["peer_watched"] = Counter(peer_watched);
    state.counters["peer_watched_writes"] =
        Counter(static_cast<double>(chain.peer_watched_writes()));
  }
}

}  // namespace detail

void set_registration_counters(benchmark::State& state, const Pairs& pairs) {
  if (state.error_occurred()) return;
  using benchmark::Counter;
  const double fds = static_cast<double>(state.iterations()) * pairs.size();
  state.counters["fds_per_s"] = Counter(fds, Counter::kIsRate);
  state.counters["ns_per_fd"] = Counter(fds * 1e-9, Counter::kIsRate | Counter::kInvert);
  state.counters["watched"] = Counter(pairs.size());
  if (pairs.peer_watched() > 0) state.counters["peer_watched"] = Counter(pairs.peer_watched());
}

std::string syscall_error(const char* what, int err) {
  return std::string(what) + ": " + errno_string(err);
}

}  // namespace muxbench::micro
