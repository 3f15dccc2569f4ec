// muxbench-loadgen: a verifying, open- or closed-loop load generator for the
// ROT13 line protocol (docs/loadgen.md, schema in docs/results.md).
//
//   muxbench-loadgen --target 127.0.0.1:40713 --connections 100 --duration 10 --json -
//
// The main thread parses and checks the flags, raises RLIMIT_NOFILE, picks
// source addresses, starts the workers (worker.cc), then only keeps time:
// it fixes T0 once every worker has ramped, prints progress to stderr, turns
// SIGINT/SIGTERM into an early end of the measurement, and finally merges the
// workers' results into the report (report.cc). Exit status: 0 when a report
// was produced, 1 when no connection could be made, 2 for usage errors.
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include "loadgen.h"
#include "muxbench/net.h"
#include "muxbench/timestamp.h"
#include "port_range.h"
#include "ranks.h"
#include "report.h"
#include "wire.h"

namespace muxbench::loadgen {
namespace {

constexpr int kExitUsage = 2;
constexpr int kExitNoConnection = 1;
constexpr int kExitInterrupted = 3;  // internal: interrupted in the ramp, reported with status 0

RankWorld g_world;  // set once in main(), before anything else

// Every rank sees the same flags and so the same error: rank 0 says it.
[[noreturn]] void usage_error(const std::string& msg) {
  if (g_world.rank == 0) std::fprintf(stderr, "muxbench-loadgen: %s\n", msg.c_str());
  ranks_finalize();
  std::exit(kExitUsage);
}

// Rank r's share of a total over n ranks: the remainder goes to the first ranks.
int share(int total, int r, int n) { return total / n + (r < total % n ? 1 : 0); }

std::string cpu_set_text(const cpu_set_t& set) {
  std::string s;
  for (int i = 0; i < CPU_SETSIZE; ++i) {
    if (!CPU_ISSET(i, &set)) continue;
    int j = i;
    while (j + 1 < CPU_SETSIZE && CPU_ISSET(j + 1, &set)) ++j;
    if (!s.empty()) s += ",";
    s += std::to_string(i);
    if (j > i) s += "-" + std::to_string(j);
    i = j;
  }
  return s;
}

// "0,2-3" -> {0, 2, 3}, each available to this process.
std::vector<int> parse_cpu_list(const std::string& text) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  ::sched_getaffinity(0, sizeof allowed, &allowed);
  const std::string allowed_text = cpu_set_text(allowed);
  auto bad = [&](const std::string& why) {
    usage_error("--cpu '" + text + "': " + why + " (expected a list like 0,2-3 of CPUs in " +
                allowed_text + ")");
  };
  std::vector<int> cpus;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.empty()) bad("empty element");
    int lo = 0, hi = 0;
    char dash = 0;
    std::istringstream ps(part);
    if (!(ps >> lo)) bad("'" + part + "' is not a number");
    hi = lo;
    if (ps >> dash) {
      if (dash != '-' || !(ps >> hi)) bad("'" + part + "' is not N or N-M");
    }
    std::string rest;
    if (ps >> rest) bad("'" + part + "' is not N or N-M");
    if (lo < 0 || hi < lo || hi >= CPU_SETSIZE) bad("'" + part + "' is not a valid range");
    for (int c = lo; c <= hi; ++c) {
      if (!CPU_ISSET(c, &allowed)) bad("CPU " + std::to_string(c) + " is not available");
      if (std::find(cpus.begin(), cpus.end(), c) == cpus.end()) cpus.push_back(c);
    }
  }
  if (cpus.empty()) bad("no CPU given");
  return cpus;
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

// Under mpirun the flags are totals: this rank takes its share of the
// connections, the active ones and the rate (the schedule interleaves, see
// Config::schedule_offset_ns), and is quiet but for errors unless rank 0.
void split_for_rank(Config& cfg) {
  cfg.rank = g_world.rank;
  cfg.ranks = g_world.size;
  cfg.total_connections = cfg.connections;
  cfg.total_active = cfg.active;
  cfg.total_rate = cfg.rate;
  if (cfg.ranks == 1) return;
  const std::string n = std::to_string(cfg.ranks);
  if (cfg.connections < cfg.ranks) {
    usage_error("--connections " + std::to_string(cfg.connections) + " is fewer than the " + n +
                " ranks: each rank needs at least one connection");
  }
  if (cfg.open_loop() && cfg.active < cfg.ranks) {
    usage_error("--active " + std::to_string(cfg.active) + " with --rate is fewer than the " + n +
                " ranks: each rank needs at least one active connection");
  }
  cfg.connections = share(cfg.total_connections, cfg.rank, cfg.ranks);
  cfg.active = share(cfg.total_active, cfg.rank, cfg.ranks);
  cfg.rate = cfg.total_rate / cfg.ranks;
  cfg.threads_used = std::min(cfg.threads, cfg.connections);
  if (cfg.rank != 0) cfg.quiet = true;
}

Config parse_args(int argc, char** argv) {
  Config cfg;
  int active = -1;
  double rate = -1;
  CLI::App app{
      "muxbench-loadgen: load generator for the muxbench ROT13 line servers. Verifies every "
      "reply, records latency in log-linear histograms (open loop: corrected for coordinated "
      "omission), watches its own CPU. See docs/loadgen.md."};
  app.add_option("--target", cfg.target_text,
                 "HOST:PORT of the server: IPv4, [IPv6] or a host name (resolved once)")
      ->capture_default_str();
  app.add_option("--connections", cfg.connections, "Connections to open and keep open")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--active", active,
                 "How many connections send requests (default: all); the others stay open and "
                 "idle. Active ones are spread over the whole set")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--threads", cfg.threads, "Worker threads, each with its own epoll loop")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--message-size", cfg.message_size,
                 "Bytes per request line including the '\\n'")
      ->check(CLI::Range(std::size_t{1}, std::size_t{64} << 20))
      ->capture_default_str();
  app.add_option("--pipeline", cfg.pipeline, "Requests in flight per active connection")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--warmup", cfg.warmup_s, "Seconds of warm-up (not recorded)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app.add_option("--duration", cfg.duration_s, "Seconds of measurement")
      ->check(CLI::Range(0.001, 86400.0))
      ->capture_default_str();
  app.add_option("--rate", rate,
                 "Open loop: requests/s in total on a fixed schedule (absent: closed loop)")
      ->check(CLI::Range(0.001, 1e9));
  app.add_flag("--reconnect", cfg.reconnect,
               "A new connection per request (connect, send, receive, close)");
  app.add_option("--connect-rate", cfg.connect_rate,
                 "Connections/s while opening them (0: as fast as the server accepts)")
      ->check(CLI::Range(0.0, 1e7))
      ->capture_default_str();
  app.add_option("--timeout", cfg.timeout_s, "Seconds before a request or connect times out")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  app.add_option("--cpu", cfg.cpus_text, "Pin worker i to the i-th CPU of LIST (e.g. 1 or 0,2-3)");
  app.add_option("--seed", cfg.seed, "Seed of the request payloads")->capture_default_str();
  app.add_option("--interval", cfg.interval_s, "Seconds per time-series interval")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  app.add_option("--json", cfg.json_path, "Write the report as JSON to FILE ('-': stdout)");
  app.add_flag("--quiet", cfg.quiet, "No progress lines or summary on stderr/stdout");
  app.add_option("--port-range-file", cfg.port_range_path,
                 "Tests: read the ephemeral port range from FILE instead of the sysctl")
      ->group("");
  app.add_option("--dump-latencies", cfg.dump_dir,
                 "Tests: write every measured latency (ns, one per line) to "
                 "DIR/latency-rank<R>.txt, and the pid to DIR/pid-rank<R>.txt")
      ->group("");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::exit(app.exit(e));
  } catch (const CLI::ParseError& e) {
    usage_error(e.what());
  }

  std::string host, err;
  std::uint16_t port = 0;
  if (!split_host_port(cfg.target_text, &host, &port, &err)) {
    usage_error("--target " + cfg.target_text + ": " + err);
  }
  if (active > cfg.connections) {
    usage_error("--active " + std::to_string(active) + " is not in 0..--connections (" +
                std::to_string(cfg.connections) + ")");
  }
  cfg.active = active < 0 ? cfg.connections : active;
  if (rate > 0) {
    cfg.rate = rate;
    if (cfg.active == 0) usage_error("--rate needs at least one active connection (--active >= 1)");
  }
  if (cfg.reconnect && cfg.pipeline != 1) {
    usage_error("--pipeline must be 1 with --reconnect (one request per connection)");
  }
  if (!cfg.cpus_text.empty()) cfg.cpus = parse_cpu_list(cfg.cpus_text);
  cfg.threads_used = std::min(cfg.threads, cfg.connections);
  if (!cfg.json_path.empty() && cfg.json_path != "-" && g_world.rank == 0) {
    std::ofstream probe(cfg.json_path, std::ios::app);
    if (!probe) usage_error("--json " + cfg.json_path + ": cannot open for writing");
  }
  split_for_rank(cfg);
  return cfg;
}

enum class Woke { kTimeout, kStop, kWorkers };

// Blocks until `deadline`, a stop signal (SIGINT/SIGTERM) or the workers'
// SIGUSR1 (all of them ramped / finished), whichever comes first.
Woke sleep_until(Nanos deadline, const sigset_t& signals) {
  for (;;) {
    const Nanos left = deadline - mono_ns();
    if (left <= 0) return Woke::kTimeout;
    timespec ts{static_cast<time_t>(left / 1'000'000'000), static_cast<long>(left % 1'000'000'000)};
    int sig = ::sigtimedwait(&signals, nullptr, &ts);
    if (sig == SIGUSR1) return Woke::kWorkers;
    if (sig > 0) return Woke::kStop;
    if (sig < 0 && errno != EAGAIN && errno != EINTR) return Woke::kTimeout;
  }
}

class Runner {
 public:
  explicit Runner(Config& cfg) : cfg_(cfg), ctl_(cfg) {}
  int run(int argc, char** argv);

 private:
  // The steps of a run, in order; each returns an exit code (0: go on).
  int prepare();
  int ramp();
  bool agree_to_start(int exit_code);
  void abort_start();
  void start();
  void measure();
  void drain();
  int finish_report(int exit_code);

  void progress(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  void request_stop(Nanos when);
  std::uint64_t completed_so_far() const;
  std::uint64_t established_so_far() const;
  RankResult rank_result(int exit_code, bool with_workers);
  bool write_report(const std::vector<RankResult>& ranks);
  void dump_latencies() const;
  bool idle_a_little();
  [[noreturn]] void terminated(const char* during);
  [[noreturn]] void gave_up(const char* what);

  Config& cfg_;
  Control ctl_;
  RunInfo run_;
  std::vector<WorkerResult> results_;
  std::vector<std::thread> threads_;
  sigset_t signals_{};
  bool tty_ = false;
  bool stop_requested_ = false;
  bool signalled_ = false;        // a stop signal ended a collective (ranks.h)
  Nanos ramp_start_ = 0;
  Nanos t0_ = 0;
  Nanos meas_end_ = 0;
  std::int64_t start_realtime_ns_ = 0;
};

void Runner::progress(const char* fmt, ...) {
  if (cfg_.quiet) return;
  va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "muxbench-loadgen: ");
  std::vfprintf(stderr, fmt, ap);
  std::fprintf(stderr, "\n");
  va_end(ap);
}

void Runner::request_stop(Nanos when) {
  stop_requested_ = true;
  ctl_.stop_ns.store(when);
  std::uint64_t one = 1;
  (void)!::write(ctl_.wake_fd, &one, sizeof one);
}

std::uint64_t Runner::completed_so_far() const {
  std::uint64_t n = 0;
  for (int i = 0; i < cfg_.threads_used; ++i) {
    n += ctl_.progress[i].completed.load(std::memory_order_relaxed);
  }
  return n;
}

std::uint64_t Runner::established_so_far() const {
  std::uint64_t n = 0;
  for (int i = 0; i < cfg_.threads_used; ++i) {
    n += ctl_.progress[i].established.load(std::memory_order_relaxed);
  }
  return n;
}

Nanos realtime_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<Nanos>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// How long ranks wait for each other (ranks.h) before the run is failed:
// a rank that is dead or hung must not hang the others.
constexpr Nanos kStartWait = 10'000'000'000;   // for the start instant, once all ramped
constexpr Nanos kReportWait = 30'000'000'000;  // for every rank's results, beyond --timeout
constexpr Nanos kStartLead = 100'000'000;      // start instant: this far after the broadcast

int Runner::run(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) run_.argv.emplace_back(argv[i]);
  run_.started_at = iso_now();
  tty_ = ::isatty(STDERR_FILENO) != 0;
  ignore_sigpipe();
  // Stop signals (and the workers' SIGUSR1) go to the main thread only,
  // through sigtimedwait(); main() blocked them before any thread existed.
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  sigaddset(&signals_, SIGUSR1);
  ctl_.main_thread = pthread_self();

  int code = prepare();
  if (code == 0) code = ramp();
  if (!agree_to_start(code)) {
    abort_start();
    if (run_.ok) {
      run_.ok = false;
      run_.failure_reason = "the run did not start: another rank failed before it (see ranks)";
    }
    return finish_report(code == kExitInterrupted ? 0 : code);
  }
  start();
  measure();
  drain();
  if (run_.measure_ns == 0) {
    run_.ok = false;
    run_.failure_reason = "interrupted before the measurement began";
  }
  return finish_report(0);
}

// Limits, the target's address, source addresses, the workers' shared state.
int Runner::prepare() {
  if (!cfg_.dump_dir.empty()) {
    std::ofstream(cfg_.dump_dir + "/pid-rank" + std::to_string(cfg_.rank) + ".txt")
        << ::getpid() << "\n";
  }
  // Descriptors: raise the soft limit to the hard one; refuse before starting
  // if N connections still do not fit.
  run_.nofile_soft = raise_nofile_limit();
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  run_.nofile_hard = rl.rlim_max == RLIM_INFINITY ? -1 : static_cast<long>(rl.rlim_max);
  const long need = static_cast<long>(cfg_.connections) + 32 + 2L * cfg_.threads_used;
  const PortRange ports = read_port_range(cfg_.port_range_path);
  run_.port_range_lo = ports.lo;
  run_.port_range_hi = ports.hi;
  if (!ports.problem.empty()) {
    run_.warnings.push_back(ports.problem);
    std::fprintf(stderr, "muxbench-loadgen: %s\n", ports.problem.c_str());
  }
  if (run_.nofile_soft >= 0 && run_.nofile_soft < need) {
    run_.ok = false;
    run_.failure_reason = "--connections " + std::to_string(cfg_.connections) + " needs about " +
                          std::to_string(need) + " file descriptors but RLIMIT_NOFILE is " +
                          std::to_string(run_.nofile_soft) + " (hard limit " +
                          std::to_string(run_.nofile_hard) +
                          "); use fewer connections or raise the hard limit (ulimit -Hn)";
    std::fprintf(stderr, "muxbench-loadgen: %s\n", run_.failure_reason.c_str());
    return kExitUsage;
  }

  // The target: a name is resolved once, here; failing that, no connection
  // can be made (exit 1, a failed report).
  std::string err;
  if (!resolve_host_port(cfg_.target_text, &cfg_.target, &err)) {
    run_.ok = false;
    run_.failure_reason = "--target " + cfg_.target_text + ": " + err;
    std::fprintf(stderr, "muxbench-loadgen: %s\n", run_.failure_reason.c_str());
    return kExitNoConnection;
  }
  cfg_.target_resolved = cfg_.target.to_string();

  // Source addresses: one (the kernel's choice) unless the ephemeral ports of
  // one address could run out, which --reconnect does within a minute
  // (TIME_WAIT). The whole of 127.0.0.0/8 is local, so spread over 127.x.y.z,
  // a /16 per rank (127.1/16 for rank 0, 127.2/16 for rank 1, ...); a remote
  // target gets the kernel's choice of source.
  const int want_sources =
      source_addresses_needed(cfg_.connections, ports.count(), cfg_.reconnect);
  if (want_sources > 1 && is_loopback(cfg_.target)) {
    if (cfg_.target.family() == AF_INET) {
      const std::uint32_t base = 0x7f000001u + (static_cast<std::uint32_t>(1 + cfg_.rank % 254) << 16);
      for (int i = 0; i < want_sources; ++i) {
        SockAddr a;
        auto* sin = reinterpret_cast<sockaddr_in*>(&a.storage);
        sin->sin_family = AF_INET;
        sin->sin_port = 0;
        sin->sin_addr.s_addr = htonl(base + static_cast<std::uint32_t>(i));
        a.len = sizeof(sockaddr_in);
        ctl_.sources.push_back(a);
      }
      run_.source_addresses = want_sources;
      auto host = [](const SockAddr& a) {
        std::string t = a.to_string();
        return t.substr(0, t.rfind(':'));
      };
      run_.source_address_list = {host(ctl_.sources.front()), host(ctl_.sources.back())};
    } else {
      run_.warnings.push_back(
          "IPv6 loopback has a single address (::1): with this many connections or "
          "--reconnect the ephemeral ports may run out (EADDRNOTAVAIL); use a 127.x target");
    }
  }
  if (cfg_.threads_used < cfg_.threads) {
    run_.warnings.push_back("--threads " + std::to_string(cfg_.threads) + " reduced to " +
                            std::to_string(cfg_.threads_used) + " (one per connection at most)");
  }

  ctl_.wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ctl_.wake_fd < 0) {
    run_.ok = false;
    run_.failure_reason = "eventfd: " + errno_string(errno);
    std::fprintf(stderr, "muxbench-loadgen: %s\n", run_.failure_reason.c_str());
    return kExitNoConnection;
  }
  ctl_.progress.reset(new Progress[static_cast<std::size_t>(cfg_.threads_used)]);
  results_.resize(static_cast<std::size_t>(cfg_.threads_used));
  for (WorkerResult& w : results_) w.rank = cfg_.rank;
  if (!cfg_.cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : cfg_.cpus) CPU_SET(c, &set);
    ::sched_setaffinity(0, sizeof set, &set);  // the main thread; workers pin themselves
  }
  return 0;
}

// Starts the workers and waits until every one has opened its connections.
int Runner::ramp() {
  ramp_start_ = mono_ns();
  progress("ramp: opening %d connections to %s (%d active, %d thread(s))", cfg_.connections,
           cfg_.target_text.c_str(), cfg_.active, cfg_.threads_used);
  for (int i = 0; i < cfg_.threads_used; ++i) {
    threads_.emplace_back([this, i] { run_worker(ctl_, i, results_[static_cast<std::size_t>(i)]); });
  }
  const Nanos tick = tty_ ? 1'000'000'000 : 5'000'000'000;
  Nanos next_print = ramp_start_ + tick;
  while (ctl_.ramp_done.load() < cfg_.threads_used) {
    if (sleep_until(std::min(mono_ns() + 100'000'000, next_print), signals_) == Woke::kStop) {
      if (g_world.mpi) terminated("the ramp");
      request_stop(mono_ns());
      progress("interrupted during the ramp");
    }
    if (mono_ns() >= next_print) {
      progress("ramp: %llu/%d connections established (%.1f s)",
               static_cast<unsigned long long>(established_so_far()), cfg_.connections,
               static_cast<double>(mono_ns() - ramp_start_) / 1e9);
      next_print += tick;
    }
  }
  run_.ramp_ns = mono_ns() - ramp_start_;
  const std::uint64_t ramp_established = established_so_far();
  if (stop_requested_) {
    run_.ok = false;
    run_.interrupted = true;
    run_.failure_reason = "interrupted during the ramp";
    return kExitInterrupted;
  }
  if (ramp_established == 0) {
    // Name the most frequent error (the workers are waiting: their counts are final).
    ErrorCounts ramp_errors;
    std::uint64_t attempted = 0;
    for (const auto& w : results_) {
      ramp_errors += w.errors[kRamp];
      attempted += w.connect_attempted;
    }
    int top = kConnectOther;
    for (int k = 0; k < kErrKinds; ++k) {
      if (ramp_errors.n[k] > ramp_errors.n[top]) top = k;
    }
    run_.ok = false;
    run_.failure_reason = "no connection could be made to " + cfg_.target_text + " (" +
                          std::to_string(attempted) + " attempted; " +
                          kErrNames[static_cast<std::size_t>(top)] + ": " +
                          std::to_string(ramp_errors.n[top]) + ")";
    std::fprintf(stderr, "muxbench-loadgen: %s\n", run_.failure_reason.c_str());
    return kExitNoConnection;
  }
  if (ramp_established < static_cast<std::uint64_t>(cfg_.connections)) {
    run_.warnings.push_back("only " + std::to_string(ramp_established) + " of " +
                            std::to_string(cfg_.connections) +
                            " connections could be opened in the ramp");
  }
  return 0;
}

// True when this rank and every other one ramped: the run may start. Under
// mpirun, this is where the ranks meet after their ramps (a bounded
// all-reduce of "not ready"); a rank that never arrives fails the run.
bool Runner::agree_to_start(int exit_code) {
  std::int64_t not_ready = exit_code != 0 ? 1 : 0;
  const Nanos ramp_took = ramp_start_ > 0 ? mono_ns() - ramp_start_ : 0;
  const Nanos deadline = mono_ns() + 60'000'000'000 + 2 * ramp_took;
  if (!ranks_max(&not_ready, deadline, [this] { return idle_a_little(); })) {
    if (signalled_) terminated("the ramp");
    gave_up("finish its ramp");
  }
  return not_ready == 0;
}

void Runner::abort_start() {
  ctl_.start_ns.store(Control::kAbortStart);
  ctl_.start_ns.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

// Fixes T0, the start of the warm-up. Standalone: now. Under mpirun: rank 0
// broadcasts an instant (CLOCK_REALTIME) kStartLead ahead, every rank turns
// it into its own monotonic time and releases its workers then.
void Runner::start() {
  if (g_world.mpi) {
    std::int64_t start_real = realtime_ns() + kStartLead;
    if (!ranks_broadcast(&start_real, mono_ns() + kStartWait, [this] { return idle_a_little(); })) {
      if (signalled_) terminated("the start");
      gave_up("agree on the start instant");
    }
    t0_ = mono_ns() + (start_real - realtime_ns());
    while (mono_ns() < t0_) {
      if (sleep_until(t0_, signals_) == Woke::kStop) terminated("the start");
    }
  } else {
    t0_ = mono_ns();
  }
  ctl_.start_ns.store(t0_);
  ctl_.start_ns.notify_all();
  start_realtime_ns_ = realtime_ns();  // as observed: the workers are released now
}

// Warm-up and measurement: the workers keep their own time from T0; this
// thread prints progress and turns a stop signal into an early end.
void Runner::measure() {
  const Nanos t0 = t0_;
  const Nanos warm_end = t0 + seconds_to_ns(cfg_.warmup_s);
  Nanos meas_end = warm_end + seconds_to_ns(cfg_.duration_s);
  progress("ramp done in %.3f s: %llu connections; warm-up %s, measurement %s", run_.ramp_ns / 1e9,
           static_cast<unsigned long long>(established_so_far()),
           seconds_text(cfg_.warmup_s).c_str(), seconds_text(cfg_.duration_s).c_str());
  const Nanos tick = tty_ ? 1'000'000'000 : 5'000'000'000;
  const bool long_run = cfg_.warmup_s + cfg_.duration_s >= 5 || tty_;
  Nanos next_print = t0 + tick;
  std::uint64_t last_completed = 0;
  Nanos last_at = t0;
  bool announced_measure = false;
  Nanos stop_at = kNever;
  for (;;) {
    const Nanos now = mono_ns();
    if (now >= meas_end) break;
    Nanos until = meas_end;
    if (long_run) until = std::min(until, next_print);
    if (!announced_measure && warm_end > now) until = std::min(until, warm_end);
    if (sleep_until(until, signals_) == Woke::kStop) {
      if (g_world.mpi) terminated("the measurement");
      stop_at = mono_ns();
      request_stop(stop_at);
      progress("interrupted: ending the measurement now");
      break;
    }
    const Nanos t = mono_ns();
    if (!announced_measure && t >= warm_end) {
      announced_measure = true;
      if (long_run) progress("measure: %s", seconds_text(cfg_.duration_s).c_str());
    }
    if (long_run && t >= next_print) {
      const std::uint64_t done = completed_so_far();
      const double secs = static_cast<double>(t - last_at) / 1e9;
      const char* phase = t < warm_end ? "warm-up" : "measure";
      const Nanos phase_start = t < warm_end ? t0 : warm_end;
      const Nanos phase_end = t < warm_end ? warm_end : meas_end;
      progress("%s %.1f/%.1f s, %.1f s left, ~%.0f req/s", phase,
               static_cast<double>(t - phase_start) / 1e9,
               static_cast<double>(phase_end - phase_start) / 1e9,
               static_cast<double>(meas_end - t) / 1e9,
               secs > 0 ? static_cast<double>(done - last_completed) / secs : 0.0);
      last_completed = done;
      last_at = t;
      next_print += tick;
    }
  }
  if (stop_at != kNever && stop_at < meas_end) {
    meas_end = std::max(stop_at, t0);
    run_.interrupted = true;
  }
  meas_end_ = meas_end;
  run_.warmup_ns = std::min(warm_end, meas_end) - t0;
  run_.measure_ns = std::max<Nanos>(meas_end - warm_end, 0);
}

// The workers stop by themselves within --timeout; a signal here is noted
// (the report follows anyway), a second one abandons the report.
void Runner::drain() {
  progress("drain: waiting for replies in flight%s (at most %s)",
           cfg_.open_loop() ? " and sending the backlog" : "", seconds_text(cfg_.timeout_s).c_str());
  while (ctl_.finished.load() < cfg_.threads_used) {
    if (sleep_until(mono_ns() + 100'000'000, signals_) == Woke::kStop) {
      if (g_world.mpi) terminated("the drain");
      if (stop_requested_) {
        std::fprintf(stderr, "muxbench-loadgen: second signal: exiting without a report\n");
        std::_Exit(130);
      }
      stop_requested_ = true;
      progress("signal during the drain: the report follows when the drain ends");
    }
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  Nanos drained = meas_end_;
  for (const WorkerResult& w : results_) {
    drained = std::max(drained, w.drained_at);
    run_.close_ns = std::max(run_.close_ns, w.close_ns);
  }
  run_.drain_ns = drained - meas_end_;
}

// A stop signal under mpirun: Open MPI sends SIGTERM to every rank when one
// of them died (or mpirun itself was interrupted). No further MPI call (the
// peers may be gone); rank 0 writes a failed report from what it knows
// without the workers' results (they are still running), and all leave.
void Runner::terminated(const char* during) {
  if (cfg_.rank == 0) {
    run_.ok = false;
    run_.interrupted = true;
    run_.failure_reason = std::string("terminated by a signal during ") + during +
                          " (another rank failed, or mpirun was interrupted)";
    std::fprintf(stderr, "muxbench-loadgen: %s\n", run_.failure_reason.c_str());
    write_report({rank_result(1, false)});
  }
  std::fflush(nullptr);
  std::_Exit(1);
}

// A collective did not complete in time: some rank is dead or hung. Rank 0
// writes a failed report from its own results; MPI_Abort ends the job.
void Runner::gave_up(const char* what) {
  if (cfg_.rank == 0) {
    run_.ok = false;
    run_.failure_reason = std::string("a rank did not ") + what + " in time (dead or hung?)";
    std::fprintf(stderr, "muxbench-loadgen: %s\n", run_.failure_reason.c_str());
    write_report({rank_result(1, threads_.empty())});  // running workers: not ours to read
  }
  std::fflush(nullptr);
  ranks_abort(1);
}

bool Runner::idle_a_little() {
  if (sleep_until(mono_ns() + 2'000'000, signals_) == Woke::kStop) signalled_ = true;
  return signalled_;
}

// This rank's results; the workers' only once they are joined.
RankResult Runner::rank_result(int exit_code, bool with_workers) {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  run_.process_cpu_user_s = static_cast<double>(ru.ru_utime.tv_sec) + ru.ru_utime.tv_usec / 1e6;
  run_.process_cpu_sys_s = static_cast<double>(ru.ru_stime.tv_sec) + ru.ru_stime.tv_usec / 1e6;
  run_.max_rss_kb = ru.ru_maxrss;
  RankResult r;
  r.rank = cfg_.rank;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  r.host = host;
  r.pid = ::getpid();
  r.connections = cfg_.connections;
  r.active = cfg_.active;
  r.rate = cfg_.rate;
  r.exit_code = exit_code;
  r.start_realtime_ns = start_realtime_ns_;
  r.run = run_;
  if (with_workers) r.workers = results_;
  return r;
}

// Tests (--dump-latencies): every measured latency of this rank, one per line.
void Runner::dump_latencies() const {
  if (cfg_.dump_dir.empty()) return;
  const std::string path = cfg_.dump_dir + "/latency-rank" + std::to_string(cfg_.rank) + ".txt";
  std::string text;
  for (const WorkerResult& w : results_) {
    for (std::uint64_t v : w.raw_latency) text += std::to_string(v) + "\n";
  }
  std::ofstream f(path + ".tmp", std::ios::trunc);
  f << text;
  f.close();
  std::rename((path + ".tmp").c_str(), path.c_str());
}

// Every rank sends its results to rank 0 (bounded), which merges them and
// writes the one report. Rank 0's exit code is the worst of all ranks'.
int Runner::finish_report(int exit_code) {
  dump_latencies();
  const std::string mine = encode(rank_result(exit_code, true));
  std::vector<std::string> all;
  const Nanos deadline = mono_ns() + seconds_to_ns(cfg_.timeout_s) + kReportWait;
  if (!ranks_gather(mine, &all, deadline, [this] { return idle_a_little(); })) {
    if (signalled_) terminated("the exchange of results");
    gave_up("send its results");
  }
  if (cfg_.rank != 0) {
    ranks_finalize();
    return exit_code;
  }
  std::vector<RankResult> ranks(all.size());
  for (std::size_t r = 0; r < all.size(); ++r) {
    if (!decode(all[r], &ranks[r])) {
      std::fprintf(stderr, "muxbench-loadgen: rank %zu sent results that do not decode\n", r);
      ranks_abort(1);
    }
    exit_code = std::max(exit_code, ranks[r].exit_code);
  }
  if (!write_report(ranks) && exit_code == 0) exit_code = 1;
  ranks_finalize();
  return exit_code;
}

// Rank 0: the report to --json and the summary. False when --json FILE failed.
bool Runner::write_report(const std::vector<RankResult>& ranks) {
  const nlohmann::json report = build_report(cfg_, ranks, g_world.mpi);
  const std::string text = report.dump(2) + "\n";
  bool ok = true;
  if (cfg_.json_path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  } else if (!cfg_.json_path.empty()) {
    const std::string tmp = cfg_.json_path + ".tmp";
    std::ofstream f(tmp, std::ios::trunc);
    f << text;
    f.close();
    if (!f || std::rename(tmp.c_str(), cfg_.json_path.c_str()) != 0) {
      std::fprintf(stderr, "muxbench-loadgen: cannot write --json %s\n", cfg_.json_path.c_str());
      ok = false;
    }
  }
  if (!cfg_.quiet) print_summary(cfg_.json_path == "-" ? stderr : stdout, report);
  return ok;
}

}  // namespace
}  // namespace muxbench::loadgen

int main(int argc, char** argv) {
  using namespace muxbench::loadgen;
  // Block the stop signals before any thread exists (MPI's own included), so
  // that only the main thread takes them, through sigtimedwait().
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  g_world = ranks_init(&argc, &argv);
  Config cfg = parse_args(argc, argv);
  Runner runner(cfg);
  return runner.run(argc, argv);
}
