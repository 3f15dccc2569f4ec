// One load-generator worker: a slice of the connections on its own epoll
// loop (level-triggered), with its own histograms and counters.
//
// Hot path per reply: one read(), a memcmp against the transformed payload
// pool (see Verification), one histogram record,
// one write() for the next request(s). No allocation, nothing shared. Clock
// reads: one after every epoll wait (the receive time of every reply in that
// batch: their bytes were there by then) and one per write() (the send time).
//
// Verification. Replies are compared byte for byte, as they arrive, with what
// a correct server must send back (docs/protocol.md). While a request is
// shorter than a line may be (kMaxLine), that is a pure function of its
// payload: the ROT13 of its pool slice and a '\n', compared in place with a
// copy of the pool transformed once at start-up (by the shared rot13(), no
// second implementation); nothing is copied per request. Longer requests, which the protocol cuts into several
// lines, are fed to the connection's "mirror" LineCodec instead: what it
// emits is exactly what the server's codec must.
// Payloads are slices of a seeded random pool at a fresh offset per request
// (never the previous one on the same connection), so a server that echoes a
// stale buffer is caught.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "loadgen.h"
#include "muxbench/line_codec.h"

namespace muxbench::loadgen {

Slice slice_for(const Config& cfg, int t) {
  Slice s;
  const auto n = static_cast<std::uint64_t>(cfg.connections);
  const auto k = static_cast<std::uint64_t>(cfg.active);
  const auto threads = static_cast<std::uint64_t>(cfg.threads_used);
  std::uint64_t active_seen = 0;
  std::uint64_t idle_seen = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    const bool act = is_active(i, n, k);
    const std::uint64_t rank = act ? active_seen++ : idle_seen++;
    if (rank % threads != static_cast<std::uint64_t>(t)) continue;
    s.index.push_back(static_cast<std::uint32_t>(i));
    s.active.push_back(act);
    s.active_rank.push_back(act ? static_cast<std::uint32_t>(rank) : 0);
  }
  return s;
}

namespace {

constexpr std::size_t kIoBuf = 64 * 1024;     // one read(), one composed write()
constexpr std::size_t kPoolSpan = 64 * 1024;  // distinct payload start offsets
constexpr int kMaxEvents = 1024;
constexpr int kMaxConnecting = 256;           // connects in flight per worker (SYN queue)
constexpr int kMaxPieces = 64;                // requests composed into one write()
constexpr std::uint32_t kBackoffMinMs = 10;
constexpr std::uint32_t kBackoffMaxMs = 1000;
constexpr std::uint64_t kWakeTag = ~std::uint64_t{0};

enum class State : std::uint8_t {
  kNew,         // no socket (not yet connected, or between --reconnect cycles)
  kConnecting,  // non-blocking connect() in progress
  kOpen,
  kRetry,       // failed; reconnect at retry_at (active connections only)
  kDead,        // failed idle connection: not reopened
};

// A request in flight: from its first written byte until its reply is whole.
struct Slot {
  Nanos intended;
  Nanos sent;
  std::uint64_t end_pos;  // reply stream position just past its reply (valid once `whole`)
  std::uint32_t off;      // its payload's pool offset (short lines: its reply is rot_pool_'s)
  bool whole;             // every byte of the request has been written
  bool measured;
};

struct Conn {
  int fd = -1;
  std::uint32_t gen = 0;  // bumped on close: stale epoll events are ignored
  std::uint32_t id = 0;   // global connection index
  std::uint32_t local = 0;
  std::uint32_t active_rank = 0;
  bool active = false;
  State state = State::kNew;
  bool want_out = false;        // EPOLLOUT armed: part of a write is still owed
  bool reconnect_sent = false;  // --reconnect: this connection carried its request
  bool cycle_set = false;       // --reconnect: the request began at connect time
  bool reply_bad = false;       // the reply being received differs from the expected bytes
  char last_rx = 0;
  std::uint16_t ring_head = 0;
  std::uint16_t ring_count = 0;
  Slot* ring = nullptr;         // `pipeline` slots
  std::uint32_t tx_off = 0;     // pool offset of a partially written request
  std::uint32_t tx_pos = 0;     // its bytes written so far (0: none partial)
  std::uint32_t last_off = ~0u;
  std::uint32_t backoff_ms = kBackoffMinMs;
  std::uint64_t next_i = 0;     // open loop: index of the next request in this connection's schedule
  std::uint64_t end_i = 0;      // open loop, from the measurement's end: first index at or after it
  Nanos connect_start = 0;
  Nanos retry_at = 0;
  Nanos cycle_start = 0;
  Nanos cycle_intended = 0;
  std::uint64_t rx_pos = 0;     // reply bytes received (and compared) on this connection
  std::uint64_t done_pos = 0;   // where the last complete reply ended
  std::size_t exp_off = 0;      // expected[exp_off..] not received yet
  std::string expected;
  LineCodec mirror;
};

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

Err connect_error_kind(int err) {
  switch (err) {
    case ECONNREFUSED:
      return kConnectRefused;
    case ETIMEDOUT:
      return kConnectTimeout;
    case EADDRNOTAVAIL:
    case EADDRINUSE:
      return kAddrNotAvailable;
    default:
      return kConnectOther;
  }
}

SparseBuckets sparse(const Histogram& h) {
  SparseBuckets out;
  h.for_each_bucket([&](std::size_t i, std::uint64_t n) {
    out.emplace_back(static_cast<std::uint32_t>(i), n);
  });
  return out;
}

std::string hex_escape(const char* p, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n && i < 64; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      s.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      s += buf;
    }
  }
  return s;
}

bool read_run_delay(double* seconds) {
  int fd = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[128] = {};
  ssize_t r = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  unsigned long long run = 0, wait = 0;
  if (r <= 0 || std::sscanf(buf, "%llu %llu", &run, &wait) != 2) return false;
  *seconds = static_cast<double>(wait) / 1e9;
  return true;
}

double tv_seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

class Worker {
 public:
  Worker(Control& ctl, int index, WorkerResult& out)
      : ctl_(ctl), cfg_(ctl.cfg), index_(index), out_(out), progress_(ctl.progress[index]) {}
  ~Worker() {
    for (Conn& c : conns_) {
      if (c.fd >= 0) ::close(c.fd);
    }
    if (ep_ >= 0) ::close(ep_);
  }
  void run();

 private:
  // Set-up and phases.
  bool setup();
  bool ramp();
  void start_phases(Nanos t0);
  void tick_phases(Nanos now);
  void begin_measure(Nanos now);
  void end_measure(Nanos now);
  void finish();
  PhaseId phase_at(Nanos t) const;

  // Time series.
  void roll_interval(Nanos now);
  void flush_interval();

  // Connections.
  void start_connect(Conn& c, bool cycle, Nanos intended);
  void on_connect_ready(Conn& c, Nanos now);
  void on_established(Conn& c, Nanos now);
  void connect_failed(Conn& c, int err, Nanos now);
  void fail(Conn& c, Err kind, Nanos now);
  void drop(Conn& c, Nanos now);
  void close_conn(Conn& c);
  void schedule_retry(Conn& c, Nanos now);
  void maybe_start_cycle(Conn& c, Nanos now);
  void scan(Nanos now);
  void count_error(Err kind, Nanos now, bool measured_victim);

  // Requests.
  // Open loop: connection g (active_rank) of this rank's K sends its i-th
  // request at T0 + offset + (g + i*K) / rate, with rate this rank's share
  // R/N and offset r/R (ranks interleave: the whole job sends every 1/R).
  Nanos intended_of(const Conn& c, std::uint64_t i) const {
    return t0_ + static_cast<Nanos>(
                     offset_ns_ + (static_cast<double>(c.active_rank) +
                                   static_cast<double>(i) * static_cast<double>(cfg_.active)) *
                                      ns_per_request_);
  }
  // First schedule index of `c` whose intended time is >= t (exactly as
  // intended_of() computes it: the boundaries of "measured" and of `due`
  // agree to the request).
  std::uint64_t first_index_at(const Conn& c, Nanos t) const;
  // The drain (open loop): requests of the window still to send.
  bool has_backlog(const Conn& c) const { return drain_sends_ && c.next_i < c.end_i; }
  bool backlog_left(Nanos now) const;
  void kick_backlog(Conn& c, Nanos now);
  // Records a measured request that got no reply as waiting since its
  // intended time until `end`: a lower bound of its latency (open loop).
  void censor(Nanos intended, Nanos end);
  // How late a send may be and still count as on schedule: one period of
  // its connection's schedule (its successor was not due yet), and at
  // least 1 ms (timer and scheduler slack on a busy machine).
  Nanos on_time_slack() const {
    return std::max<Nanos>(1'000'000, static_cast<Nanos>(ns_per_request_ * cfg_.active));
  }
  Nanos tick_time(std::uint64_t n) const {
    const Conn& c = *actives_[n % actives_.size()];
    return intended_of(c, n / actives_.size());
  }
  void run_ticks(Nanos now);
  bool may_start(const Conn& c, std::uint32_t started, Nanos now, Nanos* intended) const;
  void pump(Conn& c);
  void compose(std::uint32_t off, std::uint32_t from, std::uint32_t n, char* dst) const;
  std::uint32_t choose_offset(std::uint32_t previous);
  void arm(Conn& c, std::uint32_t events);

  // Replies.
  void dispatch(const epoll_event& ev, Nanos now);
  void on_readable(Conn& c, Nanos now);
  void verify(Conn& c, const char* data, std::size_t n, Nanos now);
  void verify_short(Conn& c, const char* data, std::size_t n, Nanos now);
  std::string expected_short(const Conn& c) const;
  void complete(Conn& c, Nanos now);
  void note_mismatch(const Conn& c, const char* got, std::size_t n);

  int wait(Nanos timeout_ns);

  Control& ctl_;
  const Config& cfg_;
  const int index_;
  WorkerResult& out_;
  Progress& progress_;

  int ep_ = -1;
  bool wake_registered_ = false;
  bool pwait2_ok_ = true;
  bool dump_ = false;  // --dump-latencies (tests)
  std::vector<Conn> conns_;
  std::vector<Conn*> actives_;
  std::vector<Slot> slots_;
  std::vector<char> pool_;
  std::vector<char> rot_pool_;  // rot13(pool_): the expected replies (short lines)
  bool short_lines_ = false;    // every request is one line: expect from rot_pool_
  std::unique_ptr<char[]> wbuf_;
  std::unique_ptr<char[]> rbuf_;
  epoll_event events_[kMaxEvents];
  std::uint64_t rng_ = 0;
  std::uint32_t source_rr_ = 0;

  Nanos timeout_ns_ = 0;
  Nanos scan_every_ns_ = 0;
  Nanos next_scan_ = 0;
  Nanos interval_ns_ = 0;
  bool ramping_ = true;
  Nanos t0_ = kNever;
  Nanos warm_end_ = kNever;
  Nanos meas_end_ = kNever;
  Nanos drain_deadline_ = kNever;
  bool measuring_ = false;
  bool measure_begun_ = false;
  bool measure_done_ = false;
  bool drain_sends_ = false;          // open loop: the drain still sends the window's backlog
  Nanos measure_began_at_ = 0;

  int connecting_ = 0;
  std::uint64_t inflight_ = 0;        // requests with a slot
  std::uint64_t pending_cycles_ = 0;  // --reconnect: requests waiting for their connect

  double ns_per_request_ = 0;         // open loop: 1e9 / rate (this rank's)
  double offset_ns_ = 0;              // open loop: this rank's place in the job's schedule
  std::uint64_t next_tick_ = 0;

  bool iv_on_ = false;
  Nanos iv_end_ = 0;
  IntervalSample iv_;
  Histogram iv_hist_;
  Histogram iv_hist_unc_;

  rusage ru0_{};
  double delay0_ = -1;
};

bool Worker::setup() {
  if (!cfg_.cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cfg_.cpus[static_cast<std::size_t>(index_) % cfg_.cpus.size()], &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }
  // Sleep until the next scheduled send, not 50 us later (the default slack).
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

  ep_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) {
    std::fprintf(stderr, "muxbench-loadgen: epoll_create1: %s\n", errno_string(errno).c_str());
    return false;
  }
  epoll_event wev{};
  wev.events = EPOLLIN;
  wev.data.u64 = kWakeTag;
  wake_registered_ = ::epoll_ctl(ep_, EPOLL_CTL_ADD, ctl_.wake_fd, &wev) == 0;

  timeout_ns_ = seconds_to_ns(cfg_.timeout_s);
  dump_ = !cfg_.dump_dir.empty();
  scan_every_ns_ = std::clamp<Nanos>(timeout_ns_ / 4, 1'000'000, 100'000'000);
  interval_ns_ = std::max<Nanos>(seconds_to_ns(cfg_.interval_s), 1'000'000);
  if (cfg_.open_loop()) {
    ns_per_request_ = 1e9 / cfg_.rate;
    offset_ns_ = cfg_.schedule_offset_ns();
  }

  Slice s = slice_for(cfg_, index_);
  conns_.resize(s.index.size());
  std::size_t n_active = 0;
  for (bool a : s.active) n_active += a ? 1 : 0;
  slots_.resize(n_active * static_cast<std::size_t>(cfg_.pipeline));
  std::size_t next_slot = 0;
  for (std::size_t i = 0; i < conns_.size(); ++i) {
    Conn& c = conns_[i];
    c.id = s.index[i];
    c.local = static_cast<std::uint32_t>(i);
    c.active = s.active[i];
    c.active_rank = s.active_rank[i];
    if (c.active) {
      c.ring = &slots_[next_slot];
      next_slot += static_cast<std::size_t>(cfg_.pipeline);
      actives_.push_back(&c);
    }
  }
  out_.connections = static_cast<int>(conns_.size());
  out_.active = static_cast<int>(actives_.size());

  // Each rank its own payloads: rank 0 (and a standalone run) uses --seed as is.
  const std::uint64_t rank_seed =
      cfg_.seed + 0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(cfg_.rank);
  std::uint64_t seed_state = rank_seed ^ (0x51ed27ull * static_cast<std::uint64_t>(index_ + 1));
  rng_ = splitmix64(seed_state);
  if (!actives_.empty()) {
    // Printable ASCII (space..'~'): ROT13 changes the letters and must leave
    // the rest alone; a capture stays readable.
    std::mt19937_64 gen(splitmix64(seed_state));
    pool_.resize(kPoolSpan + cfg_.message_size);
    for (char& ch : pool_) ch = static_cast<char>(0x20 + gen() % 95);
    short_lines_ = cfg_.message_size - 1 < kMaxLine;
    if (short_lines_) {
      rot_pool_.resize(pool_.size());
      rot13(pool_.data(), rot_pool_.data(), pool_.size());
    }
    wbuf_.reset(new char[kIoBuf]);
    rbuf_.reset(new char[kIoBuf]);
  } else {
    rbuf_.reset(new char[kIoBuf]);  // idle connections still read (to notice a close)
  }
  return true;
}

PhaseId Worker::phase_at(Nanos t) const {
  if (t0_ == kNever || t < t0_) return kRamp;
  if (t < warm_end_ && t < meas_end_) return kWarmup;
  if (t < meas_end_) return kMeasure;
  return kDrain;
}

// Errors hitting a measured request count for the measurement whenever they
// are noticed (a reset in the drain of a request sent during the
// measurement); others count in the phase in which they happen.
void Worker::count_error(Err kind, Nanos now, bool measured_victim) {
  const PhaseId ph = measured_victim ? kMeasure : phase_at(now);
  ++out_.errors[ph].n[kind];
  if (iv_on_ && now < iv_end_) {
    ++iv_.errors;
    if (kind == kMismatch) ++iv_.mismatches;
  }
  progress_.errors.store(progress_.errors.load(std::memory_order_relaxed) + 1,
                         std::memory_order_relaxed);
}

int Worker::wait(Nanos timeout_ns) {
  if (timeout_ns < 0) timeout_ns = 0;
  if (pwait2_ok_) {
    timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000),
                static_cast<long>(timeout_ns % 1'000'000'000)};
    int n = ::epoll_pwait2(ep_, events_, kMaxEvents, &ts, nullptr);
    if (n >= 0 || errno != ENOSYS) return n < 0 ? 0 : n;
    pwait2_ok_ = false;  // kernel older than 5.11: millisecond timeouts
  }
  const auto ms = static_cast<int>(std::min<Nanos>((timeout_ns + 999'999) / 1'000'000, 1'000'000));
  int n = ::epoll_wait(ep_, events_, kMaxEvents, ms);
  return n < 0 ? 0 : n;
}

// ---------------------------------------------------------------- connections

void Worker::arm(Conn& c, std::uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = (static_cast<std::uint64_t>(c.gen) << 32) | c.local;
  ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
}

void Worker::start_connect(Conn& c, bool cycle, Nanos intended) {
  const Nanos now = mono_ns();
  int fd = ::socket(cfg_.target.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ++out_.connect_attempted;
  if (fd < 0) {
    connect_failed(c, errno, now);
    return;
  }
  set_nodelay(fd);
  if (!ctl_.sources.empty()) {
    // Port chosen at connect() time, against the full 4-tuple, not at bind().
    int one = 1;
    ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    const SockAddr& src = ctl_.sources[(c.id + source_rr_++) % ctl_.sources.size()];
    if (::bind(fd, src.get(), src.len) != 0) {
      const int err = errno;
      ::close(fd);
      connect_failed(c, err, now);
      return;
    }
  }
  c.fd = fd;
  c.connect_start = now;
  if (cycle) {
    c.cycle_set = true;
    c.cycle_start = now;
    c.cycle_intended = intended == kNever ? now : intended;
    ++pending_cycles_;
  }
  epoll_event ev{};
  ev.data.u64 = (static_cast<std::uint64_t>(c.gen) << 32) | c.local;
  if (::connect(fd, cfg_.target.get(), cfg_.target.len) == 0) {
    ev.events = EPOLLIN;
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    on_established(c, mono_ns());
    return;
  }
  if (errno != EINPROGRESS) {
    connect_failed(c, errno, now);
    return;
  }
  ev.events = EPOLLOUT;
  if (::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    connect_failed(c, errno, now);
    return;
  }
  c.state = State::kConnecting;
  ++connecting_;
}

void Worker::on_connect_ready(Conn& c, Nanos now) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    connect_failed(c, err, now);
    return;
  }
  --connecting_;
  c.state = State::kOpen;  // so close_conn() no longer counts it as connecting
  arm(c, EPOLLIN);
  on_established(c, now);
}

void Worker::on_established(Conn& c, Nanos now) {
  c.state = State::kOpen;
  ++out_.connect_established;
  if (ramping_) ++out_.ramp_established;
  out_.connect_latency.record(static_cast<std::uint64_t>(std::max<Nanos>(now - c.connect_start, 0)));
  progress_.established.store(out_.connect_established, std::memory_order_relaxed);
  if (c.active && !ramping_) pump(c);
}

void Worker::connect_failed(Conn& c, int err, Nanos now) {
  ++out_.connect_failed;
  const Err kind = connect_error_kind(err);
  if (kind == kAddrNotAvailable && !out_.saw_addr_not_available) {
    out_.saw_addr_not_available = true;
    std::fprintf(stderr,
                 "muxbench-loadgen: connect: %s: out of local (address, port) pairs; see the "
                 "warning in the report\n",
                 errno_string(err).c_str());
  }
  count_error(kind, now, false);
  close_conn(c);
  schedule_retry(c, now);
}

void Worker::fail(Conn& c, Err kind, Nanos now) {
  bool measured_victim = false;
  for (std::uint16_t k = 0; k < c.ring_count; ++k) {
    if (c.ring[(c.ring_head + k) % cfg_.pipeline].measured) measured_victim = true;
  }
  count_error(kind, now, measured_victim);
  drop(c, now);
}

// Closes a failed connection: its requests in flight are lost (open loop:
// censored at the time they had waited so far).
void Worker::drop(Conn& c, Nanos now) {
  for (std::uint16_t k = 0; k < c.ring_count; ++k) {
    const Slot& s = c.ring[(c.ring_head + k) % cfg_.pipeline];
    if (!s.measured) continue;
    ++out_.lost;
    censor(s.intended, now);
  }
  close_conn(c);
  schedule_retry(c, now);
}

void Worker::close_conn(Conn& c) {
  if (c.state == State::kConnecting) --connecting_;
  if (c.cycle_set && !c.reconnect_sent) {
    --pending_cycles_;
    // --reconnect, open loop: the request of this cycle (its schedule index
    // already taken) was never written: unsent, and censored.
    if (cfg_.open_loop() && c.cycle_intended >= warm_end_ && c.cycle_intended < meas_end_) {
      ++out_.unsent;
      censor(c.cycle_intended, mono_ns());
    }
  }
  if (c.fd >= 0) ::close(c.fd);  // also leaves the epoll set
  c.fd = -1;
  ++c.gen;
  c.state = State::kNew;
  c.want_out = false;
  inflight_ -= c.ring_count;
  c.ring_head = 0;
  c.ring_count = 0;
  c.tx_pos = 0;
  c.reconnect_sent = false;
  c.cycle_set = false;
  c.reply_bad = false;
  c.rx_pos = 0;
  c.done_pos = 0;
  c.exp_off = 0;
  c.expected.clear();
  c.mirror = LineCodec();
}

void Worker::schedule_retry(Conn& c, Nanos now) {
  if (!c.active) {
    c.state = State::kDead;  // idle connections are not reopened: the loss is reported
    return;
  }
  c.state = State::kRetry;
  c.retry_at = now + static_cast<Nanos>(c.backoff_ms) * 1'000'000;
  c.backoff_ms = std::min(c.backoff_ms * 2, kBackoffMaxMs);
}

// --reconnect: starts the next connect-request-close cycle when one is due.
void Worker::maybe_start_cycle(Conn& c, Nanos now) {
  if (c.state != State::kNew || t0_ == kNever) return;
  if (cfg_.open_loop()) {
    const Nanos t = intended_of(c, c.next_i);
    if (t > now || t >= meas_end_) return;
    if (measure_done_ && (!drain_sends_ || now >= drain_deadline_)) return;
    ++c.next_i;
    start_connect(c, true, t);
  } else {
    if (now >= meas_end_) return;
    start_connect(c, true, kNever);  // closed loop: intended = the connect start
  }
}

void Worker::scan(Nanos now) {
  auto check = [&](Conn& c) {
    switch (c.state) {
      case State::kConnecting:
        if (now - c.connect_start >= timeout_ns_) connect_failed(c, ETIMEDOUT, now);
        break;
      case State::kOpen:
        if (c.ring_count > 0 && now - c.ring[c.ring_head].sent >= timeout_ns_) {
          fail(c, kRequestTimeout, now);
        }
        break;
      case State::kRetry:
        if (now < c.retry_at || t0_ == kNever) break;
        if (now >= meas_end_ && !(has_backlog(c) && now < drain_deadline_)) break;
        if (cfg_.reconnect) {
          c.state = State::kNew;
          maybe_start_cycle(c, now);
        } else {
          start_connect(c, false, 0);
        }
        break;
      default:
        break;
    }
  };
  if (ramping_) {
    for (Conn& c : conns_) check(c);
  } else {
    for (Conn* c : actives_) {
      check(*c);
      if (measure_done_) kick_backlog(*c, now);
    }
  }
}

// ------------------------------------------------------------------- requests

bool Worker::may_start(const Conn& c, std::uint32_t started, Nanos now, Nanos* intended) const {
  if (t0_ == kNever) return false;
  if (c.ring_count + started >= static_cast<std::uint32_t>(cfg_.pipeline)) return false;
  if (cfg_.reconnect) {
    if (c.reconnect_sent || started > 0) return false;
    if (c.cycle_set) {  // began with its connect(), possibly just before the measurement ended
      *intended = c.cycle_intended;
      return true;
    }
  }
  if (cfg_.open_loop()) {
    // In the drain, only the window's backlog, and only until the deadline.
    if (measure_done_ && (!drain_sends_ || now >= drain_deadline_)) return false;
    const Nanos t = intended_of(c, c.next_i + started);
    if (t > now || t >= meas_end_) return false;
    *intended = t;
    return true;
  }
  if (measure_done_) return false;  // closed loop: the drain sends nothing new
  if (now < t0_ || now >= meas_end_) return false;
  *intended = now;
  return true;
}

void Worker::compose(std::uint32_t off, std::uint32_t from, std::uint32_t n, char* dst) const {
  const std::size_t content = cfg_.message_size - 1;
  if (from < content) {
    const std::size_t k = std::min<std::size_t>(n, content - from);
    std::memcpy(dst, pool_.data() + off + from, k);
  }
  if (from + n == cfg_.message_size) dst[n - 1] = '\n';
}

// A random pool offset, never `previous` (the one before it on the connection).
std::uint32_t Worker::choose_offset(std::uint32_t previous) {
  rng_ ^= rng_ << 13;  // xorshift64
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  auto off = static_cast<std::uint32_t>(rng_ % kPoolSpan);
  if (off == previous) off = static_cast<std::uint32_t>((off + 1) % kPoolSpan);
  return off;
}

// Writes everything this connection may send now: the rest of a partially
// written request, then new requests (closed loop: up to --pipeline in
// flight; open loop: those whose intended time has come), several per write().
void Worker::pump(Conn& c) {
  if (c.state != State::kOpen || !c.active || c.want_out) return;
  if (c.tx_pos == 0 && c.ring_count >= cfg_.pipeline) return;  // nothing to do: skip the clock
  struct Piece {
    std::uint32_t off, from, n;
    Nanos intended;
    bool starts;
  };
  Piece pieces[kMaxPieces];
  const auto msg = static_cast<std::uint32_t>(cfg_.message_size);
  for (;;) {
    const Nanos now = mono_ns();  // the send time of what this write() carries
    std::size_t len = 0;
    int np = 0;
    std::uint32_t started = 0;
    if (c.tx_pos > 0) {
      const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(msg - c.tx_pos, kIoBuf));
      compose(c.tx_off, c.tx_pos, n, wbuf_.get());
      pieces[np++] = {c.tx_off, c.tx_pos, n, 0, false};
      len = n;
    }
    Nanos intended = 0;
    std::uint32_t previous = c.last_off;
    bool exhausted = false;  // stopped because nothing more may start now
    while (np < kMaxPieces && len < kIoBuf) {
      if (!may_start(c, started, now, &intended)) {
        exhausted = true;
        break;
      }
      if (len > 0 && len + msg > kIoBuf) break;  // a request that does not fit starts the next write
      const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(msg, kIoBuf - len));
      const std::uint32_t off = choose_offset(previous);
      previous = off;
      compose(off, 0, n, wbuf_.get() + len);
      pieces[np++] = {off, 0, n, intended, true};
      len += n;
      ++started;
    }
    if (len == 0) return;

    ssize_t w = ::write(c.fd, wbuf_.get(), len);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c.want_out = true;
        arm(c, EPOLLIN | EPOLLOUT);
        return;
      }
      fail(c, (errno == EPIPE || errno == ECONNRESET) ? kReset : kOther, now);
      return;
    }
    if (measuring_) out_.bytes_sent += static_cast<std::uint64_t>(w);

    // Commit what the kernel took, piece by piece; composed requests it did
    // not take at all are forgotten (they were never sent).
    std::size_t left = static_cast<std::size_t>(w);
    const char* p = wbuf_.get();
    for (int k = 0; k < np && left > 0; ++k) {
      const Piece& pc = pieces[k];
      const std::uint32_t take = static_cast<std::uint32_t>(std::min<std::size_t>(left, pc.n));
      if (pc.starts) {
        c.last_off = pc.off;
        Slot& s = c.ring[(c.ring_head + c.ring_count) % cfg_.pipeline];
        ++c.ring_count;
        ++inflight_;
        s.intended = pc.intended;
        s.sent = now;
        s.off = pc.off;
        s.whole = false;
        s.end_pos = 0;
        s.measured = pc.intended >= warm_end_ && pc.intended < meas_end_;
        if (s.measured) {
          ++out_.sent;
          if (now >= meas_end_) {
            ++out_.sent_in_drain;
            if (now - pc.intended > on_time_slack()) ++out_.sent_late;
          }
        }
        if (cfg_.reconnect) {
          if (c.cycle_set) {
            s.sent = c.cycle_start;  // the request began with its connect()
            --pending_cycles_;
          } else if (cfg_.open_loop()) {
            ++c.next_i;
          }
          c.reconnect_sent = true;
        } else if (cfg_.open_loop()) {
          ++c.next_i;
        }
      }
      if (!short_lines_) c.mirror.feed(p, take, c.expected);
      if (pc.from + take == msg) {
        Slot& s = c.ring[(c.ring_head + c.ring_count - 1) % cfg_.pipeline];
        s.whole = true;
        s.end_pos = short_lines_ ? 0 : c.rx_pos + (c.expected.size() - c.exp_off);
        c.tx_pos = 0;
      } else {
        c.tx_off = pc.off;
        c.tx_pos = pc.from + take;
      }
      p += take;
      left -= take;
    }
    if (static_cast<std::size_t>(w) < len) {
      c.want_out = true;
      arm(c, EPOLLIN | EPOLLOUT);
      return;
    }
    if (exhausted && c.tx_pos == 0) return;
  }
}

void Worker::run_ticks(Nanos now) {
  if (actives_.empty()) return;
  // More than a round behind (a stalled or saturated client): one tick per
  // connection is enough, since pump() sends a connection's whole backlog
  // (intended_of() keeps it); skip the rest of the stale rounds.
  const std::uint64_t per_round = actives_.size();
  if (tick_time(next_tick_ + per_round) <= now) {
    const double round_ns = ns_per_request_ * static_cast<double>(cfg_.active);
    const auto behind = static_cast<std::uint64_t>(
        static_cast<double>(now - tick_time(next_tick_)) / round_ns);
    if (behind > 1) next_tick_ += (behind - 1) * per_round;
  }
  for (;;) {
    const Nanos t = tick_time(next_tick_);
    if (t > now || t >= meas_end_) return;
    Conn& c = *actives_[next_tick_ % actives_.size()];
    ++next_tick_;
    if (c.state == State::kOpen) {
      pump(c);
    } else if (cfg_.reconnect && c.state == State::kNew) {
      maybe_start_cycle(c, now);
    }
  }
}

std::uint64_t Worker::first_index_at(const Conn& c, Nanos t) const {
  const double x = ((static_cast<double>(t - t0_) - offset_ns_) / ns_per_request_ - c.active_rank) /
                   static_cast<double>(cfg_.active);
  std::uint64_t i = x <= 0 ? 0 : static_cast<std::uint64_t>(std::ceil(x));
  // The division rounds; intended_of() decides.
  while (i > 0 && intended_of(c, i - 1) >= t) --i;
  while (intended_of(c, i) < t) ++i;
  return i;
}

bool Worker::backlog_left(Nanos now) const {
  if (!drain_sends_ || now >= drain_deadline_) return false;
  for (const Conn* c : actives_) {
    if (!has_backlog(*c) || c->state == State::kDead) continue;
    if (c->state == State::kRetry && c->retry_at >= drain_deadline_) continue;
    return true;
  }
  return false;
}

// The drain: gets a connection with backlog sending again (a pump for an
// open one with room in its pipeline; --reconnect, the next cycle).
void Worker::kick_backlog(Conn& c, Nanos now) {
  if (!has_backlog(c) || now >= drain_deadline_) return;
  if (c.state == State::kOpen) {
    pump(c);
  } else if (cfg_.reconnect && c.state == State::kNew) {
    maybe_start_cycle(c, now);
  }
}

void Worker::censor(Nanos intended, Nanos end) {
  if (!cfg_.open_loop()) return;  // closed loop: no schedule, nothing was due
  const auto v = static_cast<std::uint64_t>(std::max<Nanos>(end - intended, 0));
  ++out_.censored;
  out_.latency.record(v);
  out_.latency_censored.record(v);
  if (dump_) out_.raw_latency.push_back(v);
}

// -------------------------------------------------------------------- replies

void Worker::dispatch(const epoll_event& ev, Nanos now) {
  if (ev.data.u64 == kWakeTag) {
    // The eventfd stays readable for every worker; stop watching it.
    ::epoll_ctl(ep_, EPOLL_CTL_DEL, ctl_.wake_fd, nullptr);
    wake_registered_ = false;
    return;
  }
  Conn& c = conns_[ev.data.u64 & 0xffffffffu];
  const auto gen = static_cast<std::uint32_t>(ev.data.u64 >> 32);
  if (c.gen != gen || c.fd < 0) return;  // closed (and maybe reopened) earlier in this batch
  if (c.state == State::kConnecting) {
    on_connect_ready(c, now);
    return;
  }
  if (ev.events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    on_readable(c, now);
    if (c.gen != gen) return;
  }
  if ((ev.events & EPOLLOUT) && c.want_out) {
    c.want_out = false;
    arm(c, EPOLLIN);
    pump(c);
  }
}

void Worker::on_readable(Conn& c, Nanos now) {
  ssize_t r = ::read(c.fd, rbuf_.get(), kIoBuf);
  if (r > 0) {
    if (measuring_) out_.bytes_received += static_cast<std::uint64_t>(r);
    const std::uint32_t gen = c.gen;
    verify(c, rbuf_.get(), static_cast<std::size_t>(r), now);
    if (c.gen == gen) pump(c);
    return;
  }
  if (r == 0) {
    fail(c, c.rx_pos > c.done_pos ? kShortReply : kUnexpectedEof, now);
    return;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
  fail(c, (errno == ECONNRESET || errno == EPIPE) ? kReset : kOther, now);
}

// Short lines: the rest of the reply the head request still expects ("" if
// none may arrive yet: no request, or its line not wholly written).
std::string Worker::expected_short(const Conn& c) const {
  if (c.ring_count == 0 || !c.ring[c.ring_head].whole) return {};
  const std::size_t msg = cfg_.message_size;
  const std::size_t pos = c.rx_pos - c.done_pos;
  std::string e(rot_pool_.data() + c.ring[c.ring_head].off, msg - 1);
  e.push_back('\n');
  return e.substr(std::min(pos, msg));
}

void Worker::note_mismatch(const Conn& c, const char* got, std::size_t n) {
  if (out_.has_mismatch_sample) return;
  out_.has_mismatch_sample = true;
  out_.mismatch_connection = c.id;
  if (short_lines_) {
    const std::string e = expected_short(c);
    out_.mismatch_expected = hex_escape(e.data(), std::min(e.size(), n));
  } else {
    const std::size_t avail = c.expected.size() - c.exp_off;
    out_.mismatch_expected = hex_escape(c.expected.data() + c.exp_off, std::min(avail, n));
  }
  out_.mismatch_received = hex_escape(got, n);
}

// Short lines: each reply is its request's pool slice transformed, and a
// '\n'; one memcmp against rot_pool_ per piece of a reply, nothing copied.
void Worker::verify_short(Conn& c, const char* data, std::size_t n, Nanos now) {
  const std::uint32_t gen = c.gen;
  const std::size_t msg = cfg_.message_size;
  while (n > 0) {
    if (c.ring_count == 0 || !c.ring[c.ring_head].whole) {
      // Bytes no request asked for (yet): the stream cannot be trusted any more.
      note_mismatch(c, data, n);
      fail(c, kMismatch, now);
      return;
    }
    const Slot& s = c.ring[c.ring_head];
    const std::size_t pos = c.rx_pos - c.done_pos;  // of this reply, received before
    const std::size_t k = std::min(n, msg - pos);
    const std::size_t body = pos < msg - 1 ? std::min(k, msg - 1 - pos) : 0;
    const bool ok = std::memcmp(data, rot_pool_.data() + s.off + pos, body) == 0 &&
                    (pos + k < msg || data[k - 1] == '\n');
    if (!ok) {
      if (!c.reply_bad) note_mismatch(c, data, k);
      c.reply_bad = true;
    }
    c.rx_pos += k;
    c.last_rx = data[k - 1];
    data += k;
    n -= k;
    if (pos + k == msg) {
      complete(c, now);
      if (c.gen != gen) return;  // closed: --reconnect, or a desynchronised stream
    }
  }
}

void Worker::verify(Conn& c, const char* data, std::size_t n, Nanos now) {
  if (short_lines_) return verify_short(c, data, n, now);
  const std::uint32_t gen = c.gen;
  while (n > 0) {
    const std::size_t avail = c.expected.size() - c.exp_off;
    if (avail == 0 || c.ring_count == 0) {
      // Bytes no request asked for: the stream cannot be trusted any more.
      note_mismatch(c, data, n);
      fail(c, kMismatch, now);
      return;
    }
    const Slot& s = c.ring[c.ring_head];
    std::size_t k = std::min(n, avail);
    if (s.whole) k = std::min<std::size_t>(k, s.end_pos - c.rx_pos);
    if (std::memcmp(data, c.expected.data() + c.exp_off, k) != 0) {
      if (!c.reply_bad) note_mismatch(c, data, k);
      c.reply_bad = true;
    }
    c.exp_off += k;
    c.rx_pos += k;
    c.last_rx = data[k - 1];
    data += k;
    n -= k;
    if (s.whole && c.rx_pos == s.end_pos) {
      complete(c, now);
      if (c.gen != gen) return;  // closed: --reconnect, or a desynchronised stream
    }
  }
  if (c.exp_off == c.expected.size()) {
    c.expected.clear();
    c.exp_off = 0;
  } else if (c.exp_off >= kIoBuf && c.exp_off * 2 >= c.expected.size()) {
    c.expected.erase(0, c.exp_off);
    c.exp_off = 0;
  }
}

void Worker::complete(Conn& c, Nanos now) {
  const Slot s = c.ring[c.ring_head];
  c.ring_head = static_cast<std::uint16_t>((c.ring_head + 1) % cfg_.pipeline);
  --c.ring_count;
  --inflight_;
  c.done_pos = c.rx_pos;
  const bool bad = c.reply_bad;
  c.reply_bad = false;

  const auto lat = static_cast<std::uint64_t>(std::max<Nanos>(now - s.intended, 0));
  const auto lat_unc = static_cast<std::uint64_t>(std::max<Nanos>(now - s.sent, 0));
  if (s.measured) {
    ++out_.completed;
    if (bad) {
      ++out_.mismatched;
    } else {
      ++out_.verified;
    }
    out_.latency.record(lat);
    if (dump_) out_.raw_latency.push_back(lat);
    if (cfg_.open_loop()) {
      out_.latency_uncorrected.record(lat_unc);
      out_.send_lag.record(static_cast<std::uint64_t>(std::max<Nanos>(s.sent - s.intended, 0)));
    }
  }
  if (measuring_) ++out_.completed_in_window;
  if (iv_on_ && now < iv_end_) {
    ++iv_.requests;
    iv_hist_.record(lat);
    if (cfg_.open_loop()) iv_hist_unc_.record(lat_unc);
  }
  if (bad) {
    // A wrong reply is the request's error: count it in the phase the request
    // was sent in, so errors.mismatch and mismatched_replies agree.
    count_error(kMismatch, s.measured ? now : s.intended, s.measured);
    if (c.last_rx != '\n') {  // the reply's framing is off: resynchronise on a new connection
      drop(c, now);
      return;
    }
  } else {
    c.backoff_ms = kBackoffMinMs;
  }
  if (cfg_.reconnect) {
    close_conn(c);  // the HTTP/1.0 pattern: one request per connection
    maybe_start_cycle(c, now);
  }
}

// --------------------------------------------------------------------- phases

bool Worker::ramp() {
  const Nanos start = mono_ns();
  const double gap = cfg_.connect_rate > 0
                         ? 1e9 * static_cast<double>(cfg_.threads_used) / cfg_.connect_rate
                         : 0.0;
  std::size_t next = 0;
  next_scan_ = start + scan_every_ns_;
  for (;;) {
    Nanos now = mono_ns();
    if (ctl_.stop_ns.load(std::memory_order_relaxed) != kNever) return false;
    while (next < conns_.size() && connecting_ < kMaxConnecting &&
           (gap == 0 || now >= start + static_cast<Nanos>(static_cast<double>(next) * gap))) {
      start_connect(conns_[next++], false, 0);
    }
    if (next == conns_.size() && connecting_ == 0) return true;
    if (now >= next_scan_) {
      scan(now);
      next_scan_ = now + scan_every_ns_;
    }
    Nanos wake = next_scan_;
    if (gap > 0 && next < conns_.size() && connecting_ < kMaxConnecting) {
      wake = std::min(wake, start + static_cast<Nanos>(static_cast<double>(next) * gap));
    }
    const int n = wait(wake - now);
    now = mono_ns();
    for (int i = 0; i < n; ++i) dispatch(events_[i], now);
  }
}

void Worker::start_phases(Nanos t0) {
  ramping_ = false;
  t0_ = t0;
  warm_end_ = t0 + seconds_to_ns(cfg_.warmup_s);
  meas_end_ = std::min(warm_end_ + seconds_to_ns(cfg_.duration_s),
                       std::max(ctl_.stop_ns.load(std::memory_order_relaxed), t0));
  next_scan_ = t0 + scan_every_ns_;
  iv_on_ = true;
  iv_.index = floor_div(t0 - warm_end_, interval_ns_);
  iv_end_ = std::min(warm_end_ + (iv_.index + 1) * interval_ns_, meas_end_);
  const Nanos now = mono_ns();
  tick_phases(now);
  if (!cfg_.open_loop()) {
    for (Conn* c : actives_) pump(*c);
  }
}

void Worker::tick_phases(Nanos now) {
  const Nanos stop = ctl_.stop_ns.load(std::memory_order_relaxed);
  if (stop < meas_end_ && !measure_done_) {
    meas_end_ = std::max(stop, t0_);
    if (iv_end_ > meas_end_) iv_end_ = meas_end_;
  }
  if (!measure_begun_ && now >= warm_end_ && now < meas_end_) begin_measure(now);
  roll_interval(now);
  if (!measure_done_ && now >= meas_end_) end_measure(now);
}

void Worker::begin_measure(Nanos now) {
  measure_begun_ = true;
  measuring_ = true;
  measure_began_at_ = now;
  ::getrusage(RUSAGE_THREAD, &ru0_);
  if (!read_run_delay(&delay0_)) delay0_ = -1;
  for (const Conn& c : conns_) {
    if (c.state != State::kOpen) continue;
    ++out_.open_at_measure_start;
    if (c.active) ++out_.active_open_at_measure_start;
  }
}

void Worker::end_measure(Nanos now) {
  measure_done_ = true;
  if (iv_on_) {
    flush_interval();
    iv_on_ = false;
  }
  drain_deadline_ = meas_end_ + timeout_ns_;
  if (!measuring_) return;  // stopped before the measurement began
  measuring_ = false;
  rusage ru1{};
  ::getrusage(RUSAGE_THREAD, &ru1);
  out_.cpu_valid = true;
  out_.cpu.user_s = tv_seconds(ru1.ru_utime) - tv_seconds(ru0_.ru_utime);
  out_.cpu.sys_s = tv_seconds(ru1.ru_stime) - tv_seconds(ru0_.ru_stime);
  out_.cpu.involuntary_switches = ru1.ru_nivcsw - ru0_.ru_nivcsw;
  out_.cpu.voluntary_switches = ru1.ru_nvcsw - ru0_.ru_nvcsw;
  double delay1 = -1;
  if (delay0_ >= 0 && read_run_delay(&delay1)) out_.cpu.run_delay_s = delay1 - delay0_;
  out_.measure_wall_s = static_cast<double>(now - measure_began_at_) / 1e9;
  for (const Conn& c : conns_) {
    if (c.state != State::kOpen) continue;
    ++out_.open_at_measure_end;
    if (c.active) ++out_.active_open_at_measure_end;
  }
  // Open loop: what was due in the window and is not sent yet goes out now,
  // as fast as the pipeline allows, until the drain's deadline.
  if (cfg_.open_loop() && meas_end_ > warm_end_) {
    for (Conn* c : actives_) c->end_i = first_index_at(*c, meas_end_);
    drain_sends_ = true;
    for (Conn* c : actives_) kick_backlog(*c, now);
  }
}

void Worker::roll_interval(Nanos now) {
  if (!iv_on_ || now < iv_end_) return;
  flush_interval();
  if (now >= meas_end_) {
    iv_on_ = false;
    return;
  }
  iv_.index = floor_div(now - warm_end_, interval_ns_);
  iv_end_ = std::min(warm_end_ + (iv_.index + 1) * interval_ns_, meas_end_);
}

void Worker::flush_interval() {
  if (iv_.requests != 0 || iv_.errors != 0) {
    IntervalSample s;
    s.index = iv_.index;
    s.requests = iv_.requests;
    s.errors = iv_.errors;
    s.mismatches = iv_.mismatches;
    s.latency = sparse(iv_hist_);
    if (cfg_.open_loop()) s.latency_uncorrected = sparse(iv_hist_unc_);
    out_.intervals.push_back(std::move(s));
  }
  progress_.completed.store(progress_.completed.load(std::memory_order_relaxed) + iv_.requests,
                            std::memory_order_relaxed);
  iv_.requests = iv_.errors = iv_.mismatches = 0;
  iv_hist_.reset();
  iv_hist_unc_.reset();
}

void Worker::finish() {
  const Nanos now = mono_ns();
  out_.drained_at = now;
  // Open loop: what was due in the window and never sent, not even in the
  // drain, waited from its intended time until now at least.
  if (cfg_.open_loop() && t0_ != kNever && meas_end_ > warm_end_) {
    for (Conn* c : actives_) {
      const std::uint64_t first = first_index_at(*c, warm_end_);
      const std::uint64_t end = first_index_at(*c, meas_end_);
      out_.due += end - first;
      for (std::uint64_t i = std::max(c->next_i, first); i < end; ++i) {
        ++out_.unsent;
        censor(intended_of(*c, i), now);
      }
    }
  }
  // Whatever the drain did not bring back is lost (open loop: censored). It
  // timed out when it had waited --timeout since its send; a request the
  // drain sent late may simply have been cut off by the drain's end.
  for (Conn& c : conns_) {
    if (c.state == State::kOpen && c.ring_count > 0) {
      bool measured = false;
      bool timed_out = !cfg_.open_loop();
      for (std::uint16_t k = 0; k < c.ring_count; ++k) {
        const Slot& s = c.ring[(c.ring_head + k) % cfg_.pipeline];
        if (!s.measured) continue;
        measured = true;
        ++out_.lost;
        censor(s.intended, now);
        if (now - s.sent >= timeout_ns_) timed_out = true;
      }
      if (measured && timed_out) count_error(kRequestTimeout, now, true);
    }
    if (c.fd >= 0) close_conn(c);
  }
  out_.close_ns = mono_ns() - now;
}

void Worker::run() {
  const int workers = cfg_.threads_used;
  if (!setup()) {
    ctl_.report_in(ctl_.ramp_done, workers);
    ctl_.report_in(ctl_.finished, workers);
    return;
  }
  ramp();  // false when interrupted: the main thread then aborts the start
  ctl_.report_in(ctl_.ramp_done, workers);
  ctl_.start_ns.wait(0);
  const Nanos t0 = ctl_.start_ns.load();
  if (t0 == Control::kAbortStart) {
    for (Conn& c : conns_) {
      if (c.fd >= 0) close_conn(c);
    }
    ctl_.report_in(ctl_.finished, workers);
    return;
  }
  start_phases(t0);
  Nanos now = mono_ns();
  for (;;) {
    tick_phases(now);
    if (measure_done_ && (now >= drain_deadline_ ||
                          (inflight_ == 0 && pending_cycles_ == 0 && !backlog_left(now)))) {
      break;
    }
    if (cfg_.open_loop() && !measure_done_) run_ticks(now);
    if (now >= next_scan_) {
      scan(now);
      next_scan_ = now + scan_every_ns_;
    }
    Nanos wake = next_scan_;
    if (iv_on_) wake = std::min(wake, iv_end_);
    if (!measure_begun_ && warm_end_ < meas_end_) wake = std::min(wake, warm_end_);
    wake = std::min(wake, measure_done_ ? drain_deadline_ : meas_end_);
    if (cfg_.open_loop() && !measure_done_ && !actives_.empty()) {
      wake = std::min(wake, tick_time(next_tick_));
    }
    const int n = wait(wake - now);
    now = mono_ns();  // the receive time of every reply in this batch
    tick_phases(now);
    for (int i = 0; i < n; ++i) dispatch(events_[i], now);
    // Closed loop: a slightly stale `now` only delays housekeeping. Open loop:
    // the next send must not wait for the time the batch took.
    if (n > 0 && cfg_.open_loop()) now = mono_ns();
  }
  finish();
  ctl_.report_in(ctl_.finished, workers);
}

}  // namespace

void run_worker(Control& ctl, int index, WorkerResult& out) {
  Worker w(ctl, index, out);
  w.run();
}

}  // namespace muxbench::loadgen
