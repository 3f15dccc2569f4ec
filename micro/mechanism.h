// One readiness mechanism as the micro-benchmarks see it.
//
// Each mechanism lives in one file (select.cc, poll.cc, epoll.cc with its
// edge-triggered twin, io_uring_poll.cc, libevent.cc, libuv.cc, asio.cc) that
// writes its wait-and-dispatch loop out in full and exports only its
// Mechanism object(s). main.cc
// lists them in an explicit table and registers the benchmarks from it: a new
// mechanism is one file plus one line there, and the smoke test picks it up.
#pragma once

#include <benchmark/benchmark.h>

namespace muxbench::micro {

// The bench.c workload of one BM_Dispatch benchmark (see workload.h).
struct Workload {
  int pairs = 0;   // N: socketpairs whose read ends are watched
  int active = 0;  // A: pairs written to at the start of each round
  int writes = 0;  // W: chained writes per round; a round delivers A + W events
};

struct Mechanism {
  // Kebab-case name: the <mechanism> part of "BM_Dispatch/<mechanism>/<N>/<A>"
  // and "BM_Register/<mechanism>/<N>", hence the JSON key and the plot legend.
  const char* name;

  // The strategy family it belongs to (as in muxbench-server --list-json),
  // hence its colour family in the charts: "readiness", "libevent", ...
  const char* family;

  // True when every watched descriptor must be below FD_SETSIZE (select() and
  // libevent's select backend); main.cc registers only the N that fit.
  bool fd_setsize_bound;

  // BM_Dispatch: opens w.pairs socketpairs and registers their read ends
  // (untimed), then times rounds of the bench.c workload with run_rounds()
  // from workload.h. Failures end in state.SkipWithError(), never abort.
  void (*dispatch)(benchmark::State& state, const Workload& w);

  // BM_Register: opens n socketpairs (untimed), then times iterations that
  // each register all n read ends and unregister them again, the way the
  // mechanism's own API does it (FD_SET/FD_CLR, pollfd array insert/erase,
  // epoll_ctl ADD/DEL, io_uring POLL_ADD/POLL_REMOVE, event_add/event_del).
  // Reports ns_per_fd (one add plus one remove) and fds_per_s.
  void (*registration)(benchmark::State& state, int n);
};

extern const Mechanism kSelect;          // "select"
extern const Mechanism kPoll;            // "poll"
extern const Mechanism kEpoll;           // "epoll"
extern const Mechanism kEpollEt;         // "epoll-et"
extern const Mechanism kIoUringPoll;     // "io_uring-poll": POLL_ADD readiness, not the
                                         // servers' recv/send completions
extern const Mechanism kLibeventSelect;  // "libevent-select"
extern const Mechanism kLibeventPoll;    // "libevent-poll"
extern const Mechanism kLibeventEpoll;   // "libevent-epoll"
extern const Mechanism kLibuv;           // "libuv" (uv_poll_t)
extern const Mechanism kAsio;            // "asio" (stream_descriptor::async_wait)

// Whether the running kernel accepts IORING_POLL_ADD_MULTI (Linux 5.13+):
// "multishot", "oneshot", or "unavailable: <reason>". Probed once.
const char* io_uring_poll_mode();

// The codec and histogram benchmarks (codec.cc, histogram.cc).
void register_codec_benchmarks();      // BM_Rot13/<L>, BM_LineCodec/<L>
void register_histogram_benchmarks();  // BM_HistogramRecord

}  // namespace muxbench::micro
