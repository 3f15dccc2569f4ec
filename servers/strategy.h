// The interface every server strategy implements, and the services main.cc
// offers them. One strategy = one .cc file exporting one `const Strategy`,
// plus one line in registry.cc. The strategy writes its own loop in full;
// only socket set-up (common/net.h), the codec (common/line_codec.h), the
// connection buffers (conn.h) and the counters below are shared.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "muxbench/line_codec.h"  // kDefaultPort

namespace muxbench::server {

// Command-line options, validated by main.cc before a strategy runs.
struct Options {
  std::string strategy;
  std::string bind = "127.0.0.1";
  std::uint16_t port = kDefaultPort;
  int threads = 0;          // 0: the strategy's default_threads
  std::string backend;      // "": the library's choice; else one of the strategy's backends
  // io_uring only (docs/strategies.md, "io_uring options"); main.cc refuses
  // them for strategies whose entry does not list them, and the strategy's
  // check_options refuses combinations the kernel never takes.
  bool uring_fixed_files = false;  // --uring-fixed-files: registered file table, direct accept
  bool uring_sqpoll = false;       // --uring-sqpoll: IORING_SETUP_SQPOLL
  std::string uring_taskrun;       // --uring-taskrun: "" (best available), "defer", "coop", "none"
  bool uring_recv_bundle = false;  // --uring-recv-bundle: IORING_RECVSEND_BUNDLE receives
  bool uring_send_zc = false;      // --uring-send-zc: IORING_OP_SEND_ZC for every send
  std::string stats_path;   // --stats FILE: counters as JSON on exit
  double delay_us = 0;             // test aid: wait this long per reply line (fractions spin)
  std::uint64_t crash_after = 0;   // test aid: SIGKILL itself after this many lines (0: never)
};

// Counters kept by one thread (or one connection) with plain integers and
// merged into SharedCounters when it finishes: nothing shared is touched per
// request (as wrk2 keeps one histogram per thread).
struct Counters {
  std::uint64_t accepted = 0;
  std::uint64_t closed = 0;
  std::uint64_t rejected_fd_setsize = 0;   // fd too large for an fd_set: closed at once
  std::uint64_t rejected_fd_exhausted = 0; // EMFILE/ENFILE on accept: shed via the reserve fd
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t lines = 0;                 // reply lines emitted (complete or cut at kMaxLine)
  std::uint64_t errors_reset = 0;          // ECONNRESET / EPIPE on a connection
  std::uint64_t errors_io = 0;             // any other read/write error on a connection
  std::uint64_t errors_accept = 0;         // accept() failures other than fd exhaustion
};

// SharedCounters adds Counters field by field as an array of integers: every
// field must be a std::uint64_t, with no padding.
static_assert(sizeof(Counters) % sizeof(std::uint64_t) == 0 &&
                  alignof(Counters) == alignof(std::uint64_t) &&
                  std::has_unique_object_representations_v<Counters> &&
                  std::is_trivially_copyable_v<Counters>,
              "Counters must hold std::uint64_t fields only");

// The process-wide totals. Lives in MAP_SHARED memory so that forked children
// add into the same totals as threads do.
class SharedCounters {
 public:
  void add(const Counters& c);
  Counters snapshot() const;
  // For --crash-after: counts lines process-wide (only when the aid is on).
  std::uint64_t add_lines_for_crash(std::uint64_t n) {
    return crash_lines_.fetch_add(n, std::memory_order_relaxed) + n;
  }

 private:
  static constexpr int kFields = sizeof(Counters) / sizeof(std::uint64_t);
  std::atomic<std::uint64_t> v_[kFields] = {};
  std::atomic<std::uint64_t> crash_lines_{0};
};

// What main.cc hands a strategy.
struct Context {
  const Options& opt;
  int threads;                  // opt.threads, or the strategy's default
  int listen_fd;                // bound and listening, blocking, CLOEXEC
  int stop_fd;                  // becomes readable (and stays so) on SIGTERM/SIGINT
  SharedCounters& totals;
  std::atomic<bool>& stopping;  // set on SIGTERM/SIGINT, before stop_fd is signalled

  // Prints the one READY line. Call once, when the loop is about to serve.
  void ready() const;

  // Records a setting in effect that changes what is measured (e.g.
  // "taskrun", "defer"), so that a run can record it: appended to the READY
  // line as key=value (after pid=) and listed in the "options" object of
  // --stats. Call before ready(); keys and values without spaces.
  void report_option(const char* key, const std::string& value) const;

  // Adds `value` to a counter of the strategy's own mechanism (e.g.
  // io_uring's "send_zc_notifs"), listed in the "mechanism" object of
  // --stats, so that a test or a run can see that an option was in effect.
  // Call once the loop has ended, before returning from run().
  void report_counter(const char* key, std::uint64_t value) const;
  bool stop_requested() const { return stopping.load(std::memory_order_relaxed); }

  // A further listener on the same address and port with SO_REUSEPORT (the
  // first one has it too when the strategy sets reuseport_listener). Returns
  // -1 and prints the reason on failure.
  int extra_listener() const;

  // Multi-thread strategies, instead of totals.add(): merges one thread's
  // counters into the totals and records them as entry `index` of the
  // "per_thread" array of --stats, with its `role` ("loop": serves
  // connections; "acceptor": only accepts and hands them on). A connection is
  // counted by the thread that served it, so the entries add up to the totals.
  void add_thread(int index, const char* role, const Counters& c) const;

  // Test aids, called with the number of reply lines just produced: sleeps
  // --delay-us per line; kills the process after --crash-after lines.
  void on_lines(std::uint64_t n) const {
    if (opt.delay_us != 0 || opt.crash_after != 0) apply_test_aids(n);
  }

 private:
  void apply_test_aids(std::uint64_t n) const;
};

// Behaviours a strategy (or one of its backends) has by design. --list-json
// exports them as "limits"; the conformance suite checks each documented
// behaviour in place of the general expectation, and never by name.
enum Limit : unsigned {
  kNoLimits = 0,
  kOneClientAtATime = 1u << 0,  // "one_client_at_a_time": serves connections one after another
  kFdSetsize = 1u << 1,         // "fd_setsize": closes a connection whose fd >= FD_SETSIZE at
                                // once, counted in rejected_fd_setsize
};

// The JSON name of each Limit bit, in bit order (--list-json "limits").
inline constexpr const char* kLimitNames[] = {"one_client_at_a_time", "fd_setsize"};

// What --threads means for a strategy.
enum class Threads {
  kNone,   // one thread (or one per connection) by design: --threads is refused
  kLoops,  // the number of event loops, one per thread
  kPool,   // the size of a worker pool: a cap on concurrency, not loops
};

// A --backend value a strategy takes (libevent's wait mechanisms), with the
// limits it adds to the strategy's own.
struct Backend {
  const char* name;   // the --backend value, e.g. "select"
  unsigned limits = kNoLimits;
};

// A setting that changes the mechanism a strategy measures (an io_uring
// option): the conformance suite runs the strategy once with each.
struct Mode {
  const char* name;   // test-name suffix, e.g. "fixed_files"
  const char* args;   // its command-line arguments, separated by spaces
};

// One I/O strategy: the registry entry. Everything the harness, the tests
// and the charts need to know about a strategy is here and exported by
// --list-json; nothing else checks strategy names.
struct Strategy {
  const char* name;             // CLI name, JSON key, test name and plot legend
  const char* family;           // one of families() below: "blocking", "readiness", ...
  const char* summary;          // one line for --list
  int default_threads = 0;      // -1: number of CPUs; 0 with Threads::kNone
  Threads threads = Threads::kNone;
  bool reuseport_listener = false;      // the first listener gets SO_REUSEPORT
  unsigned limits = kNoLimits;          // Limit bits
  std::span<const Backend> backends = {};    // --backend values; empty: --backend is refused
  std::span<const char* const> options = {}; // strategy-only options, e.g. "--uring-sqpoll"
  std::span<const Mode> modes = {};          // settings the conformance suite runs as variants
  // Checks the combination of its options that the CLI cannot: returns a
  // one-line complaint (main.cc exits 2 with it) or "" when they are fine.
  std::string (*check_options)(const Options& opt) = nullptr;
  // Serves until ctx.stopping; returns the process exit status. On a start-up
  // failure prints one line to stderr naming what failed and returns non-zero
  // without calling ctx.ready().
  int (*run)(Context& ctx) = nullptr;
};

// A family of strategies: one colour family in the charts, and the library
// its strategies are built on (null: system calls only).
struct Family {
  const char* name;      // "blocking", "readiness", "libevent", "libuv", "asio", "completion"
  const char* library;   // "libevent", "libuv", "asio", "liburing" or null
};

// The registry (registry.cc): every strategy, in presentation order, and
// every family, in the same order.
std::span<const Strategy* const> strategies();
const Strategy* find_strategy(std::string_view name);
std::span<const Family> families();
const Family* find_family(std::string_view name);

// The version of a family's library as this binary runs it, e.g. "2.1.12-stable"
// (libraries.cc); "" for none or unknown.
std::string library_version(const char* library);

}  // namespace muxbench::server
