// muxbench-loadgen internals: the configuration, what each worker thread
// measures, and how the main thread steers the workers through the phases.
//
// Threads. The main thread parses flags, raises limits, starts T workers and
// then only keeps time (progress, signals). Each worker owns a slice of the
// connections and its own epoll loop, histograms and counters; nothing is
// shared per request. After join the main thread merges the WorkerResults
// and writes the report (report.cc).
//
// Phases (docs/loadgen.md). Ramp: every worker opens its connections
// (connect latency recorded apart) and reports in; the main thread then fixes
// the start of the warm-up, T0, for all. Warm-up [T0, T0+warmup): requests
// flow, nothing is recorded but the time series. Measurement
// [T0+warmup, T0+warmup+duration): a request counts when its intended send
// time falls in it. Drain, at most --timeout: the requests still in flight
// complete; open loop, the backlog (requests due in the window but not yet
// sent, because the server or the client fell behind) is still sent, as wrk2
// does, so that every request due in the window gets a latency. What the
// drain could not send or bring back is *censored*: recorded with the time
// it had waited by the end, a lower bound of its latency (open loop only;
// without it the slowest requests of an overloaded run would be left out of
// the corrected latency: coordinated omission again).
#pragma once

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "muxbench/histogram.h"
#include "muxbench/line_codec.h"
#include "muxbench/net.h"
#include "muxbench/wire.h"

namespace muxbench::loadgen {

// Monotonic nanoseconds (CLOCK_MONOTONIC, a vDSO call: ~20 ns).
using Nanos = std::int64_t;
inline Nanos mono_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<Nanos>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
inline constexpr Nanos kNever = std::numeric_limits<Nanos>::max();

inline Nanos seconds_to_ns(double s) { return static_cast<Nanos>(s * 1e9 + 0.5); }

struct Config {
  std::string target_text = "127.0.0.1:" + std::to_string(kDefaultPort);  // as given
  SockAddr target;                 // resolved once at start (resolve_target)
  std::string target_resolved;     // target.to_string(); "" until resolved
  int connections = 1;
  int active = -1;                 // -1 until resolved: all connections
  int threads = 1;                 // as requested
  int threads_used = 1;            // min(threads, connections)
  std::size_t message_size = 64;   // bytes per request line, '\n' included
  int pipeline = 1;
  double warmup_s = 1.0;
  double duration_s = 10.0;
  double rate = 0;                 // requests/s in total; 0: closed loop
  bool reconnect = false;
  double connect_rate = 0;         // connections/s during the ramp; 0: unlimited
  double timeout_s = 5.0;
  std::string cpus_text;           // as given
  std::vector<int> cpus;           // parsed; empty: no pinning
  std::uint64_t seed = 1;
  double interval_s = 1.0;
  std::string json_path;           // "" no JSON, "-" stdout
  bool quiet = false;
  std::string dump_dir;            // tests: every measured latency into DIR/latency-rank<R>.txt
  // Where the ephemeral port range is read (tests give a file with odd values).
  std::string port_range_path = "/proc/sys/net/ipv4/ip_local_port_range";

  // Under mpirun the flags give totals over all ranks (ranks.h); connections,
  // active and rate above are then this rank's share (split_for_rank), which
  // is what the workers use, and these keep the totals for the report.
  int rank = 0;
  int ranks = 1;
  int total_connections = 1;
  int total_active = 1;
  double total_rate = 0;

  bool open_loop() const { return rate > 0; }
  // Open loop: this rank's schedule starts r/R after T0, so that the ranks'
  // sends interleave evenly at 1/R in total.
  double schedule_offset_ns() const { return ranks > 1 ? rank * 1e9 / total_rate : 0.0; }
};

// Error kinds, in the order of the JSON "errors" object.
enum Err : int {
  kConnectRefused,
  kConnectTimeout,
  kConnectOther,
  kReset,
  kUnexpectedEof,
  kMismatch,
  kShortReply,
  kRequestTimeout,
  kAddrNotAvailable,
  kOther,
  kErrKinds
};
// Their names in the report: one list, shared with the harness (wire.h).
inline constexpr const auto& kErrNames = wire::report::kErrorKinds;
static_assert(kErrNames.size() == kErrKinds, "an error kind without a name in wire.h");

struct ErrorCounts {
  std::array<std::uint64_t, kErrKinds> n{};
  std::uint64_t total() const {
    std::uint64_t t = 0;
    for (auto v : n) t += v;
    return t;
  }
  ErrorCounts& operator+=(const ErrorCounts& o) {
    for (int i = 0; i < kErrKinds; ++i) n[i] += o.n[i];
    return *this;
  }
};

enum PhaseId : int { kRamp, kWarmup, kMeasure, kDrain, kPhases };
inline constexpr std::array<const char*, kPhases> kPhaseNames = {"ramp", "warmup", "measure",
                                                                  "drain"};

// Sparse copy of a histogram: (bucket index, count) for non-empty buckets.
using SparseBuckets = std::vector<std::pair<std::uint32_t, std::uint64_t>>;

// One time-series interval as one worker saw it; the report merges workers.
struct IntervalSample {
  std::int64_t index = 0;  // interval number counted from the measurement start (< 0: warm-up)
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::uint64_t mismatches = 0;
  SparseBuckets latency;              // corrected in open loop
  SparseBuckets latency_uncorrected;  // open loop only
};

// CPU spent by one worker during the measurement.
struct ThreadCpu {
  double user_s = 0;
  double sys_s = 0;
  double run_delay_s = -1;  // time runnable but waiting for a CPU (schedstat); -1 unknown
  long involuntary_switches = 0;
  long voluntary_switches = 0;
};

struct WorkerResult {
  int rank = 0;  // the rank (process) that ran this worker
  int connections = 0;
  int active = 0;

  Histogram latency;              // measured requests: closed loop from send, open loop from intended send
                                  // (open loop: censored requests included, as lower bounds)
  Histogram latency_censored;     // open loop: the censored values alone (also in `latency`)
  Histogram latency_uncorrected;  // open loop: from the actual send (completed requests only)
  Histogram send_lag;             // open loop: actual minus intended send time
  Histogram connect_latency;      // every successful connect, all phases

  ErrorCounts errors[kPhases];    // see Worker::count_error for the attribution

  // Measured requests (intended send time in the measurement window).
  std::uint64_t sent = 0;
  std::uint64_t completed = 0;    // verified + mismatched
  std::uint64_t verified = 0;
  std::uint64_t mismatched = 0;
  std::uint64_t lost = 0;         // sent, never completed (failed, timed out, cut off by the drain)
  // Open loop. due = sent + unsent; sent = completed + lost; every due
  // request has a latency: completed ones their own, the others (unsent +
  // lost) a censored lower bound, so latency.count() == due.
  std::uint64_t due = 0;          // intended send time in the window
  std::uint64_t sent_in_drain = 0;  // measured, but sent after the window (the backlog)
  // Of those, sent later than kOnTimeSlack after their intended time: the
  // schedule slipped. A request due in the window's last instant and sent
  // just after its end (timer slack) is on schedule.
  std::uint64_t sent_late = 0;
  std::uint64_t unsent = 0;       // due in the window but never sent, not even in the drain
  std::uint64_t censored = 0;     // unsent + lost: recorded as (end - intended), a lower bound
  // Replies that completed while the measurement lasted, whatever their
  // intended send time: the achieved throughput (equal to `completed` up to
  // boundary effects, unless an open-loop client fell behind its schedule).
  std::uint64_t completed_in_window = 0;
  // Bytes moved while the measurement phase lasted (by syscall time).
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;

  std::uint64_t connect_attempted = 0;
  std::uint64_t connect_established = 0;
  std::uint64_t connect_failed = 0;
  std::uint64_t ramp_established = 0;

  int open_at_measure_start = 0;
  int active_open_at_measure_start = 0;
  int open_at_measure_end = 0;
  int active_open_at_measure_end = 0;

  std::vector<IntervalSample> intervals;

  std::vector<std::uint64_t> raw_latency;  // --dump-latencies only: every `latency` value

  Nanos drained_at = 0;  // when the drain ended (replies in, or the timeout)
  Nanos close_ns = 0;    // then closing every connection took this long

  bool cpu_valid = false;
  ThreadCpu cpu;
  double measure_wall_s = 0;

  bool saw_addr_not_available = false;
  // The first mismatching reply (hex-escaped, at most 64 bytes each).
  bool has_mismatch_sample = false;
  std::uint32_t mismatch_connection = 0;
  std::string mismatch_expected;
  std::string mismatch_received;
};

// Written by one worker, read by the main thread for progress lines.
struct alignas(64) Progress {
  std::atomic<std::uint64_t> completed{0};  // replies (warm-up and measured) so far
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> established{0};
};

// What the main thread shares with the workers. Written by the main thread
// only, read by workers once per loop iteration at most.
struct Control {
  explicit Control(const Config& c) : cfg(c) {}
  const Config& cfg;
  std::vector<SockAddr> sources;           // source addresses to bind; empty: the kernel's choice
  int wake_fd = -1;                        // eventfd written when stop_ns changes
  std::atomic<int> ramp_done{0};           // workers that finished their ramp
  std::atomic<int> finished{0};            // workers that finished everything
  std::atomic<Nanos> start_ns{0};          // T0; 0 until set, kAbortStart to abort
  std::atomic<Nanos> stop_ns{kNever};      // early end of the measurement (signal)
  std::unique_ptr<Progress[]> progress;
  pthread_t main_thread{};                 // woken with SIGUSR1 when every worker has ramped/finished
  static constexpr Nanos kAbortStart = -1;

  // Called by a worker after it bumped `counter`: the last one wakes the main thread.
  void report_in(std::atomic<int>& counter, int workers) {
    if (counter.fetch_add(1) + 1 == workers) ::pthread_kill(main_thread, SIGUSR1);
  }
};

// Runs worker `index` to completion (ramp, phases, drain) into `out`.
void run_worker(Control& ctl, int index, WorkerResult& out);

// Which connections a worker owns: global indices in increasing order, and
// whether each is active. Active connections are spread evenly over all N
// (not the first K) and dealt round-robin to the threads, as are idle ones.
struct Slice {
  std::vector<std::uint32_t> index;
  std::vector<bool> active;
  std::vector<std::uint32_t> active_rank;  // global rank among active connections (open-loop phase)
};
Slice slice_for(const Config& cfg, int thread_index);

// True when connection i of n is one of the k active ones (k spread over n).
inline bool is_active(std::uint64_t i, std::uint64_t n, std::uint64_t k) {
  return (i + 1) * k / n > i * k / n;
}

}  // namespace muxbench::loadgen
