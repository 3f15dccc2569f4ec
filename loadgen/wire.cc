#include "wire.h"

#include <cstring>
#include <type_traits>

namespace muxbench::loadgen {
namespace {

class Writer {
 public:
  template <typename T>
  void put(const T& v) {
    static_assert(std::is_arithmetic_v<T>);
    buf_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void put(const std::string& s) {
    put(static_cast<std::uint64_t>(s.size()));
    buf_ += s;
  }
  void put(const std::vector<std::string>& v) {
    put(static_cast<std::uint64_t>(v.size()));
    for (const auto& s : v) put(s);
  }
  void put(const SparseBuckets& b) {
    put(static_cast<std::uint64_t>(b.size()));
    for (const auto& [i, n] : b) {
      put(i);
      put(n);
    }
  }
  void put(const Histogram& h) {
    const Histogram::Stats s = h.stats();
    put(s.count);
    put(s.sum);
    put(s.sum_sq);
    put(s.min);
    put(s.max);
    put(s.clamped);
    SparseBuckets b;
    h.for_each_bucket([&](std::size_t i, std::uint64_t n) {
      b.emplace_back(static_cast<std::uint32_t>(i), n);
    });
    put(b);
  }
  std::string take() { return std::move(buf_); }

 private:
  std::string buf_;
};

class Reader {
 public:
  explicit Reader(const std::string& s) : p_(s.data()), end_(s.data() + s.size()) {}
  bool ok() const { return ok_; }
  bool at_end() const { return p_ == end_; }

  template <typename T>
  void get(T& v) {
    static_assert(std::is_arithmetic_v<T>);
    if (!need(sizeof v)) return;
    std::memcpy(&v, p_, sizeof v);
    p_ += sizeof v;
  }
  void get(std::string& s) {
    std::uint64_t n = 0;
    get(n);
    if (!need(n)) return;
    s.assign(p_, n);
    p_ += n;
  }
  void get(std::vector<std::string>& v) {
    std::uint64_t n = 0;
    get(n);
    if (!need(n * sizeof n)) return;  // a lower bound: guards the resize
    v.resize(n);
    for (auto& s : v) get(s);
  }
  void get(SparseBuckets& b) {
    std::uint64_t n = 0;
    get(n);
    if (!need(n * 12)) return;
    b.resize(n);
    for (auto& [i, c] : b) {
      get(i);
      get(c);
    }
  }
  void get(Histogram& h) {
    Histogram::Stats s;
    get(s.count);
    get(s.sum);
    get(s.sum_sq);
    get(s.min);
    get(s.max);
    get(s.clamped);
    SparseBuckets b;
    get(b);
    if (ok_) h.merge(s, b);
  }

 private:
  bool need(std::uint64_t n) {
    if (!ok_ || static_cast<std::uint64_t>(end_ - p_) < n) ok_ = false;
    return ok_;
  }
  const char* p_;
  const char* end_;
  bool ok_ = true;
};

// One function for both directions keeps the field lists in step.
template <typename IO, typename W>
void each_worker_field(IO& io, W& w) {
  io(w.connections);
  io(w.active);
  io(w.latency);
  io(w.latency_uncorrected);
  io(w.send_lag);
  io(w.connect_latency);
  for (auto& e : w.errors) {
    for (auto& n : e.n) io(n);
  }
  io(w.sent);
  io(w.completed);
  io(w.verified);
  io(w.mismatched);
  io(w.lost);
  io(w.due);
  io(w.sent_in_drain);
  io(w.sent_late);
  io(w.unsent);
  io(w.censored);
  io(w.latency_censored);
  io(w.completed_in_window);
  io(w.bytes_sent);
  io(w.bytes_received);
  io(w.connect_attempted);
  io(w.connect_established);
  io(w.connect_failed);
  io(w.ramp_established);
  io(w.open_at_measure_start);
  io(w.active_open_at_measure_start);
  io(w.open_at_measure_end);
  io(w.active_open_at_measure_end);
  io(w.drained_at);
  io(w.close_ns);
  io(w.cpu_valid);
  io(w.cpu.user_s);
  io(w.cpu.sys_s);
  io(w.cpu.run_delay_s);
  io(w.cpu.involuntary_switches);
  io(w.cpu.voluntary_switches);
  io(w.measure_wall_s);
  io(w.saw_addr_not_available);
  io(w.has_mismatch_sample);
  io(w.mismatch_connection);
  io(w.mismatch_expected);
  io(w.mismatch_received);
}

template <typename IO, typename R>
void each_run_field(IO& io, R& r) {
  io(r.rank);
  io(r.host);
  io(r.pid);
  io(r.connections);
  io(r.active);
  io(r.rate);
  io(r.exit_code);
  io(r.start_realtime_ns);
  RunInfo& run = r.run;
  io(run.started_at);
  io(run.ramp_ns);
  io(run.warmup_ns);
  io(run.measure_ns);
  io(run.drain_ns);
  io(run.close_ns);
  io(run.ok);
  io(run.failure_reason);
  io(run.interrupted);
  io(run.warnings);
  io(run.nofile_soft);
  io(run.nofile_hard);
  io(run.source_addresses);
  io(run.source_address_list);
  io(run.port_range_lo);
  io(run.port_range_hi);
  io(run.process_cpu_user_s);
  io(run.process_cpu_sys_s);
  io(run.max_rss_kb);
}

}  // namespace

std::string encode(const RankResult& r) {
  Writer w;
  auto io = [&](const auto& v) { w.put(v); };
  each_run_field(io, const_cast<RankResult&>(r));
  w.put(static_cast<std::uint64_t>(r.workers.size()));
  for (const WorkerResult& wr : r.workers) {
    each_worker_field(io, const_cast<WorkerResult&>(wr));
    w.put(static_cast<std::uint64_t>(wr.intervals.size()));
    for (const IntervalSample& s : wr.intervals) {
      w.put(s.index);
      w.put(s.requests);
      w.put(s.errors);
      w.put(s.mismatches);
      w.put(s.latency);
      w.put(s.latency_uncorrected);
    }
  }
  return w.take();
}

bool decode(const std::string& bytes, RankResult* out) {
  Reader rd(bytes);
  auto io = [&](auto& v) { rd.get(v); };
  *out = RankResult{};
  each_run_field(io, *out);
  std::uint64_t n = 0;
  rd.get(n);
  if (!rd.ok() || n > bytes.size()) return false;
  out->workers.resize(n);
  for (WorkerResult& wr : out->workers) {
    wr.rank = out->rank;
    each_worker_field(io, wr);
    std::uint64_t k = 0;
    rd.get(k);
    if (!rd.ok() || k > bytes.size()) return false;
    wr.intervals.resize(k);
    for (IntervalSample& s : wr.intervals) {
      rd.get(s.index);
      rd.get(s.requests);
      rd.get(s.errors);
      rd.get(s.mismatches);
      rd.get(s.latency);
      rd.get(s.latency_uncorrected);
    }
  }
  return rd.ok() && rd.at_end();
}

}  // namespace muxbench::loadgen
