// muxbench-server: one binary, every I/O strategy (see registry.cc).
//
//   muxbench-server --strategy epoll --port 0
//   READY strategy=epoll port=41234 pid=1234
//
// Signals: SIGTERM/SIGINT are blocked in every thread and taken by one
// sigwait() thread, which sets ctx.stopping, signals stop_fd and shuts the
// listeners down (waking a blocking accept()). The strategy then has 800 ms
// (times build::kTimeScale) to return before the process writes its stats,
// marked incomplete, and exits anyway.
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <new>
#include <thread>
#include <utility>
#include <vector>

#include "muxbench/build.h"
#include "muxbench/line_codec.h"
#include "muxbench/net.h"
#include "muxbench/wire.h"
#include "strategy.h"

namespace muxbench::server {
namespace {

pid_t g_server_pid = 0;
std::mutex g_listeners_mu;
std::vector<int> g_listeners;  // shut down on stop
std::uint16_t g_port = 0;

// Per-thread counters of multi-thread strategies (Context::add_thread), for
// the "per_thread" array of --stats. Threads only (never forked children).
struct ThreadEntry {
  int index;
  const char* role;
  Counters counters;
};
std::mutex g_threads_mu;
std::vector<ThreadEntry> g_thread_entries;

// Context::report_option(): settings in effect, in the order reported.
std::mutex g_options_mu;
std::vector<std::pair<std::string, std::string>> g_options;
// Context::report_counter(): the mechanism's own counters, in the order reported.
std::vector<std::pair<std::string, std::uint64_t>> g_mechanism;

// How long a strategy has to return after the stop signal.
constexpr std::chrono::milliseconds kStopGrace{800 * build::kTimeScale};

std::mutex g_done_mu;
std::condition_variable g_done_cv;
bool g_done = false;

nlohmann::json counters_json(const Counters& c) {
  using namespace wire::stats;
  return {
      {kAccepted, c.accepted},
      {kClosed, c.closed},
      {kRejected,
       {{wire::stats::kFdSetsize, c.rejected_fd_setsize}, {kFdExhausted, c.rejected_fd_exhausted}}},
      {kBytesIn, c.bytes_in},
      {kBytesOut, c.bytes_out},
      {kLines, c.lines},
      {kErrors, {{kReset, c.errors_reset}, {kIo, c.errors_io}, {kAccept, c.errors_accept}}},
  };
}

// One entry per thread that reported (in index order): its role and its
// counters; empty for single-thread and per-connection strategies.
nlohmann::json per_thread_json() {
  std::vector<ThreadEntry> entries;
  {
    std::lock_guard<std::mutex> lock(g_threads_mu);
    entries = g_thread_entries;
  }
  std::sort(entries.begin(), entries.end(),
            [](const ThreadEntry& a, const ThreadEntry& b) { return a.index < b.index; });
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& e : entries) {
    nlohmann::json t = counters_json(e.counters);
    t[wire::stats::kThread] = e.index;
    t[wire::stats::kRole] = e.role;
    arr.push_back(std::move(t));
  }
  return arr;
}

nlohmann::json options_json() {
  std::lock_guard<std::mutex> lock(g_options_mu);
  nlohmann::json o = nlohmann::json::object();
  for (const auto& [k, v] : g_options) o[k] = v;
  return o;
}

nlohmann::json mechanism_json() {
  std::lock_guard<std::mutex> lock(g_options_mu);
  nlohmann::json o = nlohmann::json::object();
  for (const auto& [k, v] : g_mechanism) o[k] = v;
  return o;
}

// complete: false when the strategy had not returned by the deadline; its
// counters were not merged yet, so none are written (rather than zeros).
void write_stats(const Options& opt, const SharedCounters& totals, int threads, bool complete) {
  if (opt.stats_path.empty()) return;
  using namespace wire::stats;
  nlohmann::json j = {
      {kSchemaVersion, 1},
      {kStrategy, opt.strategy},
      {kPid, g_server_pid},
      {kThreads, threads},
      {kBackend, opt.backend},
      {kOptions, options_json()},
      {kMechanism, mechanism_json()},
      {kComplete, complete},
      {kCounters, complete ? counters_json(totals.snapshot()) : nlohmann::json(nullptr)},
      {kPerThread, per_thread_json()},
  };
  std::string tmp = opt.stats_path + ".tmp";
  {
    std::ofstream f(tmp);
    f << j.dump(2) << "\n";
    if (!f) {
      std::fprintf(stderr, "muxbench-server: cannot write --stats %s\n", opt.stats_path.c_str());
      return;
    }
  }
  std::rename(tmp.c_str(), opt.stats_path.c_str());
}

// Called by the main thread when the strategy returns, or by the stop thread
// when it does not in time (complete: false); only the first caller writes the stats and
// exits, a second one waits for that _exit. (The stop thread also calls this
// holding g_done_mu, which keeps the main thread from reaching it; the flag
// makes "exactly once" hold without relying on that.)
[[noreturn]] void finish(const Options& opt, const SharedCounters& totals, int threads, int rc,
                         bool complete) {
  static std::atomic<bool> finishing{false};
  if (finishing.exchange(true)) {
    for (;;) ::pause();
  }
  write_stats(opt, totals, threads, complete);
  std::fflush(stdout);
  std::fflush(stderr);
  // _exit: threads of thread-per-connection strategies may still be blocked in
  // read(); running static destructors under them would be a race.
  ::_exit(rc);
}

std::string strategy_names() {
  std::string s;
  for (const Strategy* st : strategies()) {
    if (!s.empty()) s += ", ";
    s += st->name;
  }
  return s;
}

int cpu_count() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

std::string strategy_names_where(bool (*pred)(const Strategy&, std::string_view),
                                 std::string_view arg) {
  std::string s;
  for (const Strategy* st : strategies()) {
    if (!pred(*st, arg)) continue;
    if (!s.empty()) s += ", ";
    s += st->name;
  }
  return s;
}

bool takes_threads(const Strategy& st, std::string_view) { return st.threads != Threads::kNone; }

// Whether a strategy takes a strategy-only option ("--backend", "--uring-sqpoll").
bool takes_option(const Strategy& st, std::string_view option) {
  if (option == "--backend") return !st.backends.empty();
  for (const char* o : st.options) {
    if (option == o) return true;
  }
  return false;
}

// The strategy-only options given on this command line.
std::vector<std::string_view> strategy_options_given(const Options& opt) {
  std::vector<std::string_view> out;
  if (!opt.backend.empty()) out.push_back("--backend");
  if (opt.uring_fixed_files) out.push_back("--uring-fixed-files");
  if (opt.uring_sqpoll) out.push_back("--uring-sqpoll");
  if (!opt.uring_taskrun.empty()) out.push_back("--uring-taskrun");
  if (opt.uring_recv_bundle) out.push_back("--uring-recv-bundle");
  if (opt.uring_send_zc) out.push_back("--uring-send-zc");
  return out;
}

// Every --backend value some strategy takes, for the CLI's own check.
std::vector<std::string> all_backends() {
  std::vector<std::string> out;
  for (const Strategy* st : strategies()) {
    for (const Backend& b : st->backends) {
      if (std::find(out.begin(), out.end(), b.name) == out.end()) out.emplace_back(b.name);
    }
  }
  return out;
}

// The options given, checked against the strategy's registry entry: "" when
// they are fine, else the one-line complaint (exit 2).
std::string check_options(const Strategy& st, const Options& opt) {
  for (std::string_view option : strategy_options_given(opt)) {
    if (!takes_option(st, option)) {
      return std::string(option) + " applies only to --strategy " +
             strategy_names_where(takes_option, option);
    }
  }
  if (!opt.backend.empty()) {
    bool known = false;
    std::string names;
    for (const Backend& b : st.backends) {
      known = known || opt.backend == b.name;
      names += names.empty() ? b.name : std::string(", ") + b.name;
    }
    if (!known) {
      return "--backend " + opt.backend + " is not a backend of --strategy " + st.name +
             "; allowed: " + names;
    }
  }
  if (opt.threads != 0 && st.threads == Threads::kNone) {
    return std::string("--threads does not apply to --strategy ") + st.name +
           " (one thread by design); strategies that take it: " +
           strategy_names_where(takes_threads, "");
  }
  return st.check_options != nullptr ? st.check_options(opt) : "";
}

nlohmann::json limits_json(unsigned limits) {
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t bit = 0; bit < std::size(kLimitNames); ++bit) {
    if ((limits & (1u << bit)) != 0) out.push_back(kLimitNames[bit]);
  }
  return out;
}

nlohmann::json split_args(const char* args) {
  nlohmann::json out = nlohmann::json::array();
  std::string word;
  for (const char* p = args;; ++p) {
    if (*p == ' ' || *p == '\0') {
      if (!word.empty()) out.push_back(word);
      word.clear();
      if (*p == '\0') break;
    } else {
      word += *p;
    }
  }
  return out;
}

// One strategy's --list-json entry (docs/strategies.md, "What --list-json says").
nlohmann::json strategy_json(const Strategy& st) {
  const Family* fam = find_family(st.family);
  const char* lib = fam != nullptr ? fam->library : nullptr;
  const std::string version = lib != nullptr ? library_version(lib) : "";
  static const char* const kThreadsMeans[] = {nullptr, "loops", "pool"};
  const char* threads = kThreadsMeans[static_cast<int>(st.threads)];
  nlohmann::json backends = nlohmann::json::array();
  for (const Backend& b : st.backends) {
    backends.push_back({{"name", b.name}, {"limits", limits_json(st.limits | b.limits)}});
  }
  nlohmann::json modes = nlohmann::json::array();
  for (const Mode& m : st.modes) modes.push_back({{"name", m.name}, {"args", split_args(m.args)}});
  nlohmann::json options = nlohmann::json::array();
  if (!st.backends.empty()) options.push_back("--backend");
  for (const char* o : st.options) options.push_back(o);
  using namespace wire::list;
  return {{kName, st.name},
          {kFamily, st.family},
          {kSummary, st.summary},
          {kDefaultThreads, st.default_threads < 0 ? cpu_count() : st.default_threads},
          {kTakesThreads, st.threads != Threads::kNone},
          {kThreads, threads != nullptr ? nlohmann::json(threads) : nlohmann::json(nullptr)},
          {kLimits, limits_json(st.limits)},
          {kBackends, backends},
          {kOptions, options},
          {kModes, modes},
          {kLibrary, lib != nullptr ? nlohmann::json(lib) : nlohmann::json(nullptr)},
          {kLibraryVersion, version.empty() ? nlohmann::json(nullptr) : nlohmann::json(version)}};
}

void print_list(bool as_json) {
  if (as_json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const Strategy* st : strategies()) arr.push_back(strategy_json(*st));
    std::printf("%s\n", arr.dump(2).c_str());
    return;
  }
  for (const Strategy* st : strategies()) {
    std::printf("%-16s %-11s %s\n", st->name, st->family, st->summary);
  }
}

}  // namespace

void SharedCounters::add(const Counters& c) {
  const auto* f = reinterpret_cast<const std::uint64_t*>(&c);
  for (int i = 0; i < kFields; ++i) {
    if (f[i] != 0) v_[i].fetch_add(f[i], std::memory_order_relaxed);
  }
}

Counters SharedCounters::snapshot() const {
  Counters c;
  auto* f = reinterpret_cast<std::uint64_t*>(&c);
  for (int i = 0; i < kFields; ++i) f[i] = v_[i].load(std::memory_order_relaxed);
  return c;
}

void Context::ready() const {
  std::string extra;
  {
    std::lock_guard<std::mutex> lock(g_options_mu);
    for (const auto& [k, v] : g_options) extra += " " + k + "=" + v;
  }
  std::printf("%s%s\n", wire::ready_line(opt.strategy, g_port, g_server_pid).c_str(),
              extra.c_str());
  std::fflush(stdout);
}

void Context::report_option(const char* key, const std::string& value) const {
  std::lock_guard<std::mutex> lock(g_options_mu);
  g_options.emplace_back(key, value);
}

void Context::report_counter(const char* key, std::uint64_t value) const {
  std::lock_guard<std::mutex> lock(g_options_mu);
  for (auto& [k, v] : g_mechanism) {
    if (k == key) {
      v += value;
      return;
    }
  }
  g_mechanism.emplace_back(key, value);
}

int Context::extra_listener() const {
  ListenOptions lo;
  lo.bind = opt.bind;
  lo.port = g_port;
  lo.reuseport = true;
  std::string err;
  int fd = listen_tcp(lo, &err);
  if (fd < 0) {
    std::fprintf(stderr, "muxbench-server: extra listener: %s\n", err.c_str());
    return -1;
  }
  std::lock_guard<std::mutex> lock(g_listeners_mu);
  g_listeners.push_back(fd);
  if (stopping.load()) ::shutdown(fd, SHUT_RD);
  return fd;
}

void Context::add_thread(int index, const char* role, const Counters& c) const {
  totals.add(c);
  std::lock_guard<std::mutex> lock(g_threads_mu);
  g_thread_entries.push_back({index, role, c});
}

void Context::apply_test_aids(std::uint64_t n) const {
  if (opt.delay_us != 0) {
    // Short delays spin: a sleep would be stretched by the kernel's timer
    // slack (50 µs by default) and could not inject a 1-10 µs regression,
    // nor a fraction of one (0.3 µs: about 5 % of an epoll round trip).
    const auto delay = std::chrono::nanoseconds(std::llround(opt.delay_us * 1000.0 * double(n)));
    if (delay < std::chrono::microseconds(200)) {
      const auto until = std::chrono::steady_clock::now() + delay;
      while (std::chrono::steady_clock::now() < until) {
      }
    } else {
      std::this_thread::sleep_for(delay);
    }
  }
  if (opt.crash_after != 0 && totals.add_lines_for_crash(n) >= opt.crash_after) {
    std::fprintf(stderr, "muxbench-server: --crash-after %llu reached, killing the server\n",
                 static_cast<unsigned long long>(opt.crash_after));
    ::kill(g_server_pid, SIGKILL);
    ::raise(SIGKILL);
  }
}

namespace {

void add_options(CLI::App& app, Options& opt, bool& list, bool& list_json) {
  app.add_flag("--list", list, "List the strategies and exit");
  app.add_flag("--list-json", list_json, "List the strategies as JSON and exit");
  app.add_option("--strategy", opt.strategy, "I/O strategy: " + strategy_names());
  app.add_option("--port", opt.port,
                 "TCP port; 0 picks an ephemeral one (default " + std::to_string(kDefaultPort) +
                     ")")
      ->check(CLI::Range(0, 65535));
  app.add_option("--bind", opt.bind,
                 "Local address to listen on: IPv4, IPv6, 0.0.0.0 or :: (default 127.0.0.1)");
  app.add_option("--threads", opt.threads,
                 "Threads, for the strategies that take them (--list-json 'threads': loops = event "
                 "loops, default one per CPU; pool = workers): " +
                     strategy_names_where(takes_threads, ""))
      ->check(CLI::Range(1, 4096));
  app.add_option("--backend", opt.backend,
                 "The wait mechanism of a strategy that has backends (--list-json: backends): " +
                     strategy_names_where(takes_option, "--backend"))
      ->check(CLI::IsMember(all_backends()));
  app.add_flag("--uring-fixed-files", opt.uring_fixed_files,
               "io_uring strategy only: registered (fixed) file table, direct accept, "
               "IOSQE_FIXED_FILE (Linux 5.19+)");
  app.add_flag("--uring-sqpoll", opt.uring_sqpoll,
               "io_uring strategy only: a kernel thread polls the submission ring "
               "(IORING_SETUP_SQPOLL)");
  app.add_option("--uring-taskrun", opt.uring_taskrun,
                 "io_uring strategy only: completion task work mode: defer (6.1+), coop (5.19+) "
                 "or none (default: defer where available, else coop, else none)")
      ->check(CLI::IsMember({"defer", "coop", "none"}));
  app.add_flag("--uring-recv-bundle", opt.uring_recv_bundle,
               "io_uring strategy only: receive bundles, several provided buffers per "
               "completion (IORING_RECVSEND_BUNDLE, Linux 6.10+)");
  app.add_flag("--uring-send-zc", opt.uring_send_zc,
               "io_uring strategy only: zero-copy sends (IORING_OP_SEND_ZC, Linux 6.0+); a "
               "send's bytes stay put until the kernel's notification");
  app.add_option("--stats", opt.stats_path, "Write counters as JSON to FILE on exit");
  app.add_option("--delay-us", opt.delay_us,
                 "TEST AID: wait this many microseconds per reply line (0..1000000; "
                 "fractions such as 0.3 allowed, below 200 spin)")
      ->check(CLI::Range(0.0, 1000000.0));
  app.add_option("--crash-after", opt.crash_after,
                 "TEST AID: kill the server (SIGKILL) after this many reply lines");
}

// The registry's invariant: every strategy's family is listed (registry.cc).
void check_registry() {
  for (const Strategy* st : strategies()) {
    if (find_family(st->family) == nullptr) {
      std::fprintf(stderr, "muxbench-server: registry: strategy %s has family '%s', which is not "
                           "in the family table\n", st->name, st->family);
      std::abort();
    }
  }
}

// The strategy asked for, its options checked; null (the reason printed) when
// the command line is wrong.
const Strategy* choose_strategy(const Options& opt) {
  if (opt.strategy.empty()) {
    std::fprintf(stderr, "muxbench-server: --strategy is required; one of: %s\n",
                 strategy_names().c_str());
    return nullptr;
  }
  const Strategy* st = find_strategy(opt.strategy);
  if (st == nullptr) {
    std::fprintf(stderr, "muxbench-server: --strategy '%s' is unknown; allowed: %s\n",
                 opt.strategy.c_str(), strategy_names().c_str());
    return nullptr;
  }
  if (std::string complaint = check_options(*st, opt); !complaint.empty()) {
    std::fprintf(stderr, "muxbench-server: %s\n", complaint.c_str());
    return nullptr;
  }
  return st;
}

// The totals, in MAP_SHARED memory so forked children add into them; null
// (the reason printed) on failure.
SharedCounters* map_counters() {
  void* shm = ::mmap(nullptr, sizeof(SharedCounters), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shm == MAP_FAILED) {
    std::fprintf(stderr, "muxbench-server: mmap counters: %s\n", errno_string(errno).c_str());
    return nullptr;
  }
  return new (shm) SharedCounters();
}

// The first listener (-1, the reason printed, on failure).
int open_listener(const Options& opt, const Strategy& st) {
  ListenOptions lo;
  lo.bind = opt.bind;
  lo.port = opt.port;
  lo.reuseport = st.reuseport_listener;
  std::string err;
  int listen_fd = listen_tcp(lo, &err);
  if (listen_fd < 0) {
    std::fprintf(stderr, "muxbench-server: %s\n", err.c_str());
    return -1;
  }
  g_port = local_port(listen_fd);
  g_listeners.push_back(listen_fd);
  return listen_fd;
}

// The one thread that takes SIGTERM/SIGINT: sets `stopping`, signals
// stop_fd, shuts the listeners down, and finishes the process itself if the
// strategy has not returned within kStopGrace.
void start_stop_thread(const sigset_t& stop_signals, int stop_fd, const Options& opt,
                       SharedCounters* totals, int threads, std::atomic<bool>& stopping) {
  std::thread([stop_signals, stop_fd, &opt, totals, threads, &stopping] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    stopping.store(true);
    std::uint64_t one = 1;
    (void)!::write(stop_fd, &one, sizeof one);
    {
      std::lock_guard<std::mutex> lock(g_listeners_mu);
      for (int fd : g_listeners) ::shutdown(fd, SHUT_RD);
    }
    std::unique_lock<std::mutex> lock(g_done_mu);
    if (!g_done_cv.wait_for(lock, kStopGrace, [] { return g_done; })) {
      std::fprintf(stderr,
                   "muxbench-server: the strategy did not return within %lld ms of the stop "
                   "signal; exiting without its counters\n",
                   static_cast<long long>(kStopGrace.count()));
      finish(opt, *totals, threads, 0, false);
    }
  }).detach();
}

}  // namespace

}  // namespace muxbench::server

int main(int argc, char** argv) {
  using namespace muxbench;
  using namespace muxbench::server;

  Options opt;
  bool list = false;
  bool list_json = false;
  CLI::App app{"muxbench-server: a ROT13 line server (docs/protocol.md) for every I/O strategy"};
  add_options(app, opt, list, list_json);
  CLI11_PARSE(app, argc, argv);
  check_registry();
  if (list || list_json) {
    print_list(list_json);
    return 0;
  }
  const Strategy* st = choose_strategy(opt);
  if (st == nullptr) return 2;
  int threads = opt.threads;
  if (threads == 0) threads = st->default_threads < 0 ? cpu_count() : st->default_threads;

  g_server_pid = ::getpid();
  ignore_sigpipe();
  raise_nofile_limit();

  // Block the stop signals before any thread exists, so all inherit the mask
  // and only the sigwait() thread ever sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  SharedCounters* totals = map_counters();
  if (totals == nullptr) return 1;
  const int listen_fd = open_listener(opt, *st);
  if (listen_fd < 0) return 1;
  const int stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) {
    std::fprintf(stderr, "muxbench-server: eventfd: %s\n", errno_string(errno).c_str());
    return 1;
  }
  static std::atomic<bool> stopping{false};
  start_stop_thread(stop_signals, stop_fd, opt, totals, threads, stopping);

  Context ctx{opt, threads, listen_fd, stop_fd, *totals, stopping};
  int rc = st->run(ctx);
  {
    std::lock_guard<std::mutex> lock(g_done_mu);
    g_done = true;
  }
  g_done_cv.notify_all();
  finish(opt, *totals, threads, rc, true);
}
