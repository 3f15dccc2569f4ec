// io_uring — readiness through io_uring poll requests (IORING_OP_POLL_ADD).
//
// One poll request per watched descriptor, multishot (IORING_POLL_ADD_MULTI,
// Linux 5.13+) where the kernel takes it, so a request stays armed and posts
// a completion on every wake-up; one-shot requests otherwise, re-armed after
// each completion. Like epoll, the interest set lives in the kernel and the
// cost is O(ready). Unlike epoll, completions land in a ring shared with user
// space: this loop enters the kernel (io_uring_enter) only when it has no
// completion to reap or re-arms to submit. Multishot poll fires on wake-ups
// (edge-like), so the callback reads until EAGAIN.
// A dispatch reaps the completions present when it starts, as one
// epoll_wait() would return them, so events_per_dispatch compares.
// Registration: one POLL_ADD and one POLL_REMOVE per descriptor, submitted in
// batches; the remove yields two completions (its own and the cancelled poll).
// Limits: io_uring may be disabled (sysctl kernel.io_uring_disabled, seccomp);
// the benchmarks then report the error.
#include <liburing.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "mechanism.h"
#include "muxbench/net.h"
#include "workload.h"

namespace muxbench::micro {
namespace {

constexpr unsigned kSqEntries = 4096;
constexpr unsigned kDispatchCqEntries = 8192;
constexpr std::uint64_t kRemoveTag = std::uint64_t{1} << 63;
constexpr unsigned kBatch = 256;

struct Ring {
  io_uring ring{};
  int init_error = 0;  // negative errno from io_uring_queue_init_params
  // cq_entries >= sq_entries, or the kernel says EINVAL.
  Ring(unsigned sq_entries, unsigned cq_entries) {
    io_uring_params p{};
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = cq_entries;
    init_error = io_uring_queue_init_params(sq_entries, &ring, &p);
  }
  ~Ring() {
    if (init_error == 0) io_uring_queue_exit(&ring);
  }
};

// An SQE, submitting what is queued first when the submission queue is full.
io_uring_sqe* next_sqe(io_uring* ring) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (sqe == nullptr) {
    io_uring_submit(ring);
    sqe = io_uring_get_sqe(ring);
  }
  return sqe;
}

bool arm(io_uring* ring, int fd, std::uint64_t tag, bool multishot) {
  io_uring_sqe* sqe = next_sqe(ring);
  if (sqe == nullptr) return false;
  if (multishot) {
    io_uring_prep_poll_multishot(sqe, fd, POLLIN);
  } else {
    io_uring_prep_poll_add(sqe, fd, POLLIN);
  }
  io_uring_sqe_set_data64(sqe, tag);
  return true;
}

std::string probe_mode() {
  Ring r(16, 16);
  if (r.init_error < 0) return "unavailable: io_uring_queue_init: " + errno_string(-r.init_error);
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return "unavailable: socketpair: " + errno_string(errno);
  }
  std::string mode = "oneshot";
  if (::send(sv[1], "e", 1, MSG_NOSIGNAL) == 1 && arm(&r.ring, sv[0], 0, true) &&
      io_uring_submit(&r.ring) == 1) {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec ts{1, 0};
    if (io_uring_wait_cqe_timeout(&r.ring, &cqe, &ts) == 0) {
      // An old kernel rejects the flag with -EINVAL; a new one keeps the
      // request armed and says so with IORING_CQE_F_MORE.
      if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_MORE)) mode = "multishot";
      io_uring_cqe_seen(&r.ring, cqe);
    }
  }
  close_fd(sv[0]);
  close_fd(sv[1]);
  return mode;
}

// Sets up the ring or explains why not.
bool open_ring(benchmark::State& state, const Ring& r, bool* multishot) {
  const std::string mode = io_uring_poll_mode();
  if (mode != "multishot" && mode != "oneshot") {
    state.SkipWithError(mode.c_str());
    return false;
  }
  if (r.init_error < 0) {
    state.SkipWithError(syscall_error("io_uring_queue_init", -r.init_error).c_str());
    return false;
  }
  *multishot = mode == "multishot";
  state.SetLabel(mode);
  return true;
}

void dispatch(benchmark::State& state, const Workload& w) {
  Pairs pairs;
  std::string err;
  if (!pairs.open(w.pairs, &err)) return state.SkipWithError(err.c_str());
  Ring r(kSqEntries, kDispatchCqEntries);
  bool multishot = false;
  if (!open_ring(state, r, &multishot)) return;
  io_uring* ring = &r.ring;
  for (int i = 0; i < pairs.size(); ++i) {
    if (!arm(ring, pairs.reader(i), static_cast<std::uint64_t>(i), multishot)) {
      return state.SkipWithError("io_uring: no SQE to arm a poll request");
    }
  }
  const int submitted = io_uring_submit(ring);
  if (submitted < 0)
    return state.SkipWithError(syscall_error("io_uring_submit", -submitted).c_str());
  if (io_uring_cq_ready(ring) != 0)
    return state.SkipWithError("io_uring: completion before any write");

  Chain chain(pairs, w);
  run_rounds(state, chain, w, [&](std::string* error) {
    if (io_uring_sq_ready(ring) > 0 || io_uring_cq_ready(ring) == 0) {
      const int rc = io_uring_submit_and_get_events(ring);
      if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
        *error = syscall_error("io_uring_submit_and_get_events", -rc);
        return false;
      }
    }
    io_uring_cqe* cqes[kBatch];
    const unsigned n = io_uring_peek_batch_cqe(ring, cqes, kBatch);
    for (unsigned k = 0; k < n; ++k) {
      const auto i = static_cast<int>(cqes[k]->user_data);
      if (cqes[k]->res < 0) {
        *error = syscall_error("io_uring poll", -cqes[k]->res);
        return false;
      }
      chain.read_all(i);
      if (!(cqes[k]->flags & IORING_CQE_F_MORE) &&
          !arm(ring, pairs.reader(i), static_cast<std::uint64_t>(i), multishot)) {
        *error = "io_uring: no SQE to re-arm a poll request";
        return false;
      }
    }
    io_uring_cq_advance(ring, n);
    return true;
  });
}

// Reaps `expected` completions of a registration iteration: each POLL_REMOVE
// must succeed and each poll it cancels must end with -ECANCELED.
bool reap(io_uring* ring, unsigned expected, std::string* err) {
  unsigned seen = 0;
  while (seen < expected) {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec ts{2, 0};
    const int rc = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
    if (rc < 0) {
      *err = syscall_error("io_uring_wait_cqe_timeout", -rc);
      return false;
    }
    io_uring_cqe* cqes[kBatch];
    const unsigned n = io_uring_peek_batch_cqe(ring, cqes, kBatch);
    for (unsigned k = 0; k < n; ++k) {
      const bool removal = cqes[k]->user_data & kRemoveTag;
      const int want = removal ? 0 : -ECANCELED;
      if (cqes[k]->res != want) {
        *err = std::string(removal ? "io_uring POLL_REMOVE: " : "io_uring poll: ") +
               (cqes[k]->res < 0 ? errno_string(-cqes[k]->res) : "completed while idle");
        return false;
      }
    }
    io_uring_cq_advance(ring, n);
    seen += n;
  }
  return true;
}

void registration(benchmark::State& state, int n) {
  Pairs pairs;
  std::string err;
  if (!pairs.open(n, &err)) return state.SkipWithError(err.c_str());
  unsigned cq = kSqEntries;
  while (cq < 2u * static_cast<unsigned>(n)) cq *= 2;  // all 2n completions fit
  Ring r(kSqEntries, cq);
  bool multishot = false;
  if (!open_ring(state, r, &multishot)) return;
  io_uring* ring = &r.ring;

  for (auto _ : state) {
    for (int i = 0; i < n; ++i) {
      if (!arm(ring, pairs.reader(i), static_cast<std::uint64_t>(i), multishot)) {
        return state.SkipWithError("io_uring: no SQE for POLL_ADD");
      }
    }
    for (int i = 0; i < n; ++i) {
      io_uring_sqe* sqe = next_sqe(ring);
      if (sqe == nullptr) return state.SkipWithError("io_uring: no SQE for POLL_REMOVE");
      io_uring_prep_poll_remove(sqe, static_cast<std::uint64_t>(i));
      io_uring_sqe_set_data64(sqe, kRemoveTag | static_cast<std::uint64_t>(i));
    }
    const int rc = io_uring_submit(ring);
    if (rc < 0) return state.SkipWithError(syscall_error("io_uring_submit", -rc).c_str());
    if (!reap(ring, 2u * static_cast<unsigned>(n), &err)) return state.SkipWithError(err.c_str());
  }
  set_registration_counters(state, pairs);
}

}  // namespace

const char* io_uring_poll_mode() {
  static const std::string mode = probe_mode();
  return mode.c_str();
}

const Mechanism kIoUringPoll = {"io_uring-poll", "completion", false, dispatch,
                                registration};

}  // namespace muxbench::micro
