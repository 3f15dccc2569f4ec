#include "report.h"

#include "ranks.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace muxbench::loadgen {
namespace {

using nlohmann::json;
namespace wr = wire::report;  // the keys the harness reads

json null_if(bool empty, std::uint64_t v) { return empty ? json(nullptr) : json(v); }

json rate_or_null(double num, double seconds) {
  return seconds > 0 ? json(num / seconds) : json(nullptr);
}

json error_json(const ErrorCounts& e) {
  json j = json::object();
  for (int i = 0; i < kErrKinds; ++i) j[kErrNames[static_cast<std::size_t>(i)]] = e.n[i];
  j[wr::kTotal] = e.total();
  return j;
}

Histogram from_sparse(const SparseBuckets& b) {
  Histogram h;
  for (const auto& [index, n] : b) h.record(Histogram::bucket_highest(index), n);
  return h;
}

}  // namespace

json latency_json(const Histogram& h) {
  const bool e = h.empty();
  json buckets = json::array();
  h.for_each_bucket([&](std::size_t i, std::uint64_t n) {
    buckets.push_back({Histogram::bucket_highest(i), n});
  });
  return {
      {wr::kCount, h.count()},
      {"min_ns", null_if(e, h.min())},
      {wr::kMeanNs, e ? json(nullptr) : json(h.mean())},
      {"stdev_ns", e ? json(nullptr) : json(h.stdev())},
      {wr::kP50Ns, null_if(e, h.percentile(50))},
      {wr::kP90Ns, null_if(e, h.percentile(90))},
      {wr::kP99Ns, null_if(e, h.percentile(99))},
      {wr::kP999Ns, null_if(e, h.percentile(99.9))},
      {"p9999_ns", null_if(e, h.percentile(99.99))},
      {wr::kMaxNs, null_if(e, h.max())},
      {wr::kHistogram,
       {{"lowest_ns", 1},
        {"highest_ns", Histogram::kHighestTrackable},
        {"sub_buckets", Histogram::kSubBuckets},
        {"significant_figures", 2},
        {"relative_error", Histogram::kRelativeError},
        {"bucket_value", "highest_equivalent_ns"},
        {"clamped", h.clamped()},
        {wr::kBuckets, std::move(buckets)}}},
  };
}

namespace {

// What report_of() sums over every worker of every rank.
struct Totals {
  Histogram latency, latency_unc, latency_censored, send_lag, connect_latency;
  ErrorCounts by_phase[kPhases];
  ErrorCounts errors;  // ramp and measurement
  std::uint64_t sent = 0, completed = 0, verified = 0, mismatched = 0, lost = 0, unsent = 0;
  std::uint64_t due = 0, sent_in_drain = 0, sent_late = 0, censored = 0;
  std::uint64_t in_window = 0;
  std::uint64_t bytes_sent = 0, bytes_received = 0;
  std::uint64_t c_attempted = 0, c_established = 0, c_failed = 0, c_ramp = 0;
  int open_start = 0, open_end = 0, active_open_start = 0, active_open_end = 0;
  const WorkerResult* mismatch_sample = nullptr;
  bool addr_not_available = false;
};

Totals sum_workers(const std::vector<WorkerResult>& workers) {
  Totals t;
  for (const WorkerResult& w : workers) {
    t.latency.merge(w.latency);
    t.latency_unc.merge(w.latency_uncorrected);
    t.latency_censored.merge(w.latency_censored);
    t.send_lag.merge(w.send_lag);
    t.connect_latency.merge(w.connect_latency);
    for (int p = 0; p < kPhases; ++p) t.by_phase[p] += w.errors[p];
    t.sent += w.sent;
    t.completed += w.completed;
    t.in_window += w.completed_in_window;
    t.verified += w.verified;
    t.mismatched += w.mismatched;
    t.lost += w.lost;
    t.unsent += w.unsent;
    t.due += w.due;
    t.sent_in_drain += w.sent_in_drain;
    t.sent_late += w.sent_late;
    t.censored += w.censored;
    t.bytes_sent += w.bytes_sent;
    t.bytes_received += w.bytes_received;
    t.c_attempted += w.connect_attempted;
    t.c_established += w.connect_established;
    t.c_failed += w.connect_failed;
    t.c_ramp += w.ramp_established;
    t.open_start += w.open_at_measure_start;
    t.open_end += w.open_at_measure_end;
    t.active_open_start += w.active_open_at_measure_start;
    t.active_open_end += w.active_open_at_measure_end;
    if (t.mismatch_sample == nullptr && w.has_mismatch_sample) t.mismatch_sample = &w;
    t.addr_not_available = t.addr_not_available || w.saw_addr_not_available;
  }
  t.errors = t.by_phase[kRamp];
  t.errors += t.by_phase[kMeasure];
  return t;
}

json config_json(const Config& cfg) {
  const bool open = cfg.open_loop();
  return {
      {"target", cfg.target_text},
      {"target_resolved", cfg.target_resolved.empty() ? json(nullptr) : json(cfg.target_resolved)},
      {"connections", cfg.total_connections},
      {"active", cfg.total_active},
      {"threads", cfg.threads},
      {"message_size_bytes", cfg.message_size},
      {"pipeline", cfg.pipeline},
      {"warmup_s", cfg.warmup_s},
      {"duration_s", cfg.duration_s},
      {"rate_per_s", open ? json(cfg.total_rate) : json(nullptr)},
      {"reconnect", cfg.reconnect},
      {"connect_rate_per_s", cfg.connect_rate > 0 ? json(cfg.connect_rate) : json(nullptr)},
      {wr::kTimeoutS, cfg.timeout_s},
      {"cpus", cfg.cpus_text.empty() ? json(nullptr) : json(cfg.cpus_text)},
      {"seed", cfg.seed},
      {"interval_s", cfg.interval_s},
      {"mode", open ? "open_loop" : "closed_loop"},
  };
}

json timeseries_json(const Config& cfg, const RunInfo& run, const std::vector<WorkerResult>& workers) {
  const bool open = cfg.open_loop();
  // Time series: every interval of the warm-up and the measurement, empty
  // ones included (a stall shows as zeros), workers merged.
  struct Merged {
    std::uint64_t requests = 0, errors = 0, mismatches = 0;
    Histogram lat, lat_unc;
  };
  std::map<std::int64_t, Merged> merged;
  for (const WorkerResult& w : workers) {
    for (const IntervalSample& s : w.intervals) {
      Merged& m = merged[s.index];
      m.requests += s.requests;
      m.errors += s.errors;
      m.mismatches += s.mismatches;
      m.lat.merge(from_sparse(s.latency));
      if (open) m.lat_unc.merge(from_sparse(s.latency_uncorrected));
    }
  }
  json series = json::array();
  const Nanos iv = std::max<Nanos>(seconds_to_ns(cfg.interval_s), 1'000'000);
  if (run.measure_ns > 0 || run.warmup_ns > 0) {
    // Intervals count from the planned end of the warm-up; an interrupted
    // warm-up ends early.
    const Nanos planned_warmup = seconds_to_ns(cfg.warmup_s);
    const std::int64_t first = -((planned_warmup + iv - 1) / iv);
    const std::int64_t last = (run.measure_ns + iv - 1) / iv - 1;
    for (std::int64_t k = first; k <= last; ++k) {
      const Nanos lo = std::max<Nanos>(k * iv, -planned_warmup);
      const Nanos hi =
          std::min<Nanos>((k + 1) * iv, k < 0 ? run.warmup_ns - planned_warmup : run.measure_ns);
      if (hi <= lo) continue;
      const double dur = static_cast<double>(hi - lo) / 1e9;
      auto it = merged.find(k);
      Merged empty;
      const Merged& m = it == merged.end() ? empty : it->second;
      json e = {
          {"t_s", static_cast<double>(lo) / 1e9},
          {"duration_s", dur},
          {"phase", k < 0 ? "warmup" : "measure"},
          {"requests", m.requests},
          {"requests_per_s", static_cast<double>(m.requests) / dur},
          {"errors", m.errors},
          {"mismatches", m.mismatches},
          {"p50_ns", null_if(m.lat.empty(), m.lat.percentile(50))},
          {"p99_ns", null_if(m.lat.empty(), m.lat.percentile(99))},
          {"max_ns", null_if(m.lat.empty(), m.lat.max())},
      };
      if (open) e["p99_uncorrected_ns"] = null_if(m.lat_unc.empty(), m.lat_unc.percentile(99));
      series.push_back(std::move(e));
    }
  }
  return series;
}

// The client watching itself: CPU, busy fraction, per thread.
struct ClientCpu {
  json report;
  bool known = false;   // some thread measured its CPU
  double busiest = 0;   // the busiest thread's busy fraction
};

ClientCpu client_json(const RunInfo& run, const std::vector<WorkerResult>& workers,
                      const Totals& totals) {
  json per_thread = json::array();
  double user = 0, sys = 0, busiest = 0, busy_sum = 0;
  bool delay_known = true;
  double run_delay = 0;
  long nivcsw = 0;
  int threads_with_cpu = 0;
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const WorkerResult& w = workers[i];
    json t = {{"thread", i},
              {"rank", w.rank},
              {"connections", w.connections},
              {"active", w.active},
              {"completed", w.completed}};
    if (w.cpu_valid && w.measure_wall_s > 0) {
      const double cpu = w.cpu.user_s + w.cpu.sys_s;
      const double delay = std::max(w.cpu.run_delay_s, 0.0);
      const double busy = std::min((cpu + delay) / w.measure_wall_s, 1.0);
      user += w.cpu.user_s;
      sys += w.cpu.sys_s;
      busiest = std::max(busiest, busy);
      busy_sum += busy;
      ++threads_with_cpu;
      if (w.cpu.run_delay_s < 0) delay_known = false;
      run_delay += delay;
      nivcsw += w.cpu.involuntary_switches;
      t["cpu_user_s"] = w.cpu.user_s;
      t["cpu_sys_s"] = w.cpu.sys_s;
      t["run_delay_s"] = w.cpu.run_delay_s < 0 ? json(nullptr) : json(w.cpu.run_delay_s);
      t["busy_fraction"] = busy;
      t["cpu_fraction"] = cpu / w.measure_wall_s;
      t["involuntary_context_switches"] = w.cpu.involuntary_switches;
      t["voluntary_context_switches"] = w.cpu.voluntary_switches;
    }
    per_thread.push_back(std::move(t));
  }
  const bool cpu_known = threads_with_cpu > 0;
  ClientCpu out;
  out.known = cpu_known;
  out.busiest = busiest;
  out.report = {
      {"threads", static_cast<int>(workers.size())},
      {"cpu_user_s", cpu_known ? json(user) : json(nullptr)},
      {"cpu_sys_s", cpu_known ? json(sys) : json(nullptr)},
      {"cpu_us_per_request",
       cpu_known && totals.in_window > 0
           ? json((user + sys) * 1e6 / static_cast<double>(totals.in_window))
           : json(nullptr)},
      {wr::kBusyFraction, cpu_known ? json(busiest) : json(nullptr)},
      {"busy_fraction_mean",
       cpu_known ? json(busy_sum / threads_with_cpu) : json(nullptr)},
      {wr::kClientSaturated, cpu_known && busiest >= kSaturatedBusyFraction},
      {"saturation_threshold", kSaturatedBusyFraction},
      {"run_delay_s", cpu_known && delay_known ? json(run_delay) : json(nullptr)},
      {"involuntary_context_switches", nivcsw},
      {"process_cpu_user_s", run.process_cpu_user_s},
      {"process_cpu_sys_s", run.process_cpu_sys_s},
      {"max_rss_bytes", run.max_rss_kb * 1024},
      {"per_thread", std::move(per_thread)},
  };
  return out;
}

std::vector<std::string> report_warnings(const Config& cfg, const RunInfo& run, const Totals& t,
                                         const ClientCpu& client) {
  const bool open = cfg.open_loop();
  std::vector<std::string> warnings = run.warnings;
  if (t.addr_not_available) {
    warnings.push_back(
        "connect failed with EADDRNOTAVAIL: no free local (address, port) pair for the target. "
        "Each source address has " +
        std::to_string(run.port_range_hi - run.port_range_lo + 1) +
        " ephemeral ports (net.ipv4.ip_local_port_range " + std::to_string(run.port_range_lo) +
        "-" + std::to_string(run.port_range_hi) +
        ") and a closed connection holds its port in TIME_WAIT for 60 s; this run used " +
        std::to_string(run.source_addresses) +
        " source address(es). Use fewer connections or a lower reconnect rate, or widen the "
        "port range.");
  }
  // Open loop: the schedule was missed by every request due in the window
  // that was sent late in the drain (beyond the on-time slack) or never.
  const std::uint64_t missed = t.sent_late + t.unsent;
  if (open && missed > 0) {
    char pct[32];
    std::snprintf(pct, sizeof pct, "%.2f",
                  t.due > 0 ? 100.0 * static_cast<double>(missed) / static_cast<double>(t.due)
                            : 100.0);
    warnings.push_back(std::to_string(missed) + " of " + std::to_string(t.due) +
                       " requests due in the measurement (" + pct +
                       " %) were not sent on schedule: " + std::to_string(t.sent_late) +
                       " sent late in the drain, " + std::to_string(t.unsent) +
                       " never sent (--pipeline limit with a slow server, or the client fell "
                       "behind): the target rate was not met");
  }
  if (open && t.censored > 0) {
    warnings.push_back(std::to_string(t.censored) +
                       " requests due in the measurement got no reply by the end of the drain "
                       "(never sent, or lost); their latency is censored: recorded as the time "
                       "they had waited, a lower bound (latency_censored)");
  }
  if (client.known && client.busiest >= kSaturatedBusyFraction) {
    warnings.push_back("client_saturated: a load-generator thread was busy " +
                       std::to_string(static_cast<int>(client.busiest * 100)) +
                       "% of the measurement; the result may be limited by the client, not the "
                       "server (try --threads or --cpu)");
  }
  const int idle_total = cfg.total_connections - cfg.total_active;
  if (run.ok && idle_total > 0 && t.open_end - t.active_open_end < idle_total) {
    warnings.push_back(std::to_string(idle_total - (t.open_end - t.active_open_end)) + " of " +
                       std::to_string(idle_total) +
                       " idle connections were not open at the end of the measurement");
  }
  return warnings;
}

// The report of one merged run: every worker of every rank.
json report_of(const Config& cfg, const RunInfo& run, const std::vector<WorkerResult>& workers) {
  const Totals t = sum_workers(workers);
  const double measure_s = static_cast<double>(run.measure_ns) / 1e9;
  const bool open = cfg.open_loop();
  ClientCpu client = client_json(run, workers, t);
  const std::uint64_t missed = t.sent_late + t.unsent;
  const int idle_total = cfg.total_connections - cfg.total_active;
  const int idle_lost = (t.open_start - t.active_open_start) - (t.open_end - t.active_open_end);

  json first_mismatch = nullptr;
  if (t.mismatch_sample != nullptr) {
    first_mismatch = {{"connection", t.mismatch_sample->mismatch_connection},
                      {"expected", t.mismatch_sample->mismatch_expected},
                      {"received", t.mismatch_sample->mismatch_received}};
  }

  json phases_errors = json::object();
  for (int p = 0; p < kPhases; ++p) {
    phases_errors[kPhaseNames[static_cast<std::size_t>(p)]] = error_json(t.by_phase[p]);
  }

  json sources = {{"count", run.source_addresses}};
  if (!run.source_address_list.empty()) sources["range"] = run.source_address_list;

  json report = {
      {"schema_version", kSchemaVersion},
      {"tool", "muxbench-loadgen"},
      {"started_at", run.started_at},
      {"argv", run.argv},
      {wr::kConfig, config_json(cfg)},
      {wr::kStatus, run.ok ? wr::kStatusOk : wr::kStatusFailed},
      {wr::kFailureReason, run.ok ? json(nullptr) : json(run.failure_reason)},
      {"interrupted", run.interrupted},
      {"warnings", report_warnings(cfg, run, t, client)},
      {wr::kPhases,
       {{wr::kRampNs, run.ramp_ns},
        {wr::kWarmupNs, run.warmup_ns},
        {wr::kMeasureNs, run.measure_ns},
        {wr::kDrainNs, run.drain_ns},
        {"close_ns", run.close_ns}}},
      {wr::kConnect,
       {{wr::kAttempted, t.c_attempted},
        {wr::kEstablished, t.c_established},
        {wr::kFailed, t.c_failed},
        {"established_in_ramp", t.c_ramp},
        {wr::kLatency, latency_json(t.connect_latency)}}},
      {"connections",
       {{"total", cfg.total_connections},
        {"active", cfg.total_active},
        {"idle", idle_total},
        {"open_at_measure_start", t.open_start},
        {"active_open_at_measure_start", t.active_open_start},
        {"open_at_measure_end", t.open_end},
        {"active_open_at_measure_end", t.active_open_end},
        {"idle_lost_during_measure", std::max(idle_lost, 0)}}},
      {wr::kRequests,
       {{wr::kSent, t.sent},
        {wr::kCompleted, t.completed},
        {wr::kCompletedInWindow, t.in_window},
        {"lost", t.lost},
        {wr::kCensored, t.censored},
        {"bytes_sent", t.bytes_sent},
        {"bytes_received", t.bytes_received}}},
      {wr::kThroughput,
       {{wr::kRequestsPerS, rate_or_null(static_cast<double>(t.in_window), measure_s)},
        {wr::kBytesPerS, rate_or_null(static_cast<double>(t.bytes_received), measure_s)},
        {"sent_bytes_per_s", rate_or_null(static_cast<double>(t.bytes_sent), measure_s)}}},
      {wr::kRate, open ? json{{wr::kTargetPerS, cfg.total_rate},
                           {wr::kAchievedPerS,
                            rate_or_null(static_cast<double>(t.in_window), measure_s)},
                           {"sent_per_s",
                            rate_or_null(static_cast<double>(t.sent - t.sent_in_drain), measure_s)},
                           {"per_connection_per_s",
                            cfg.total_active > 0 ? json(cfg.total_rate / cfg.total_active)
                                                 : json(nullptr)},
                           {wr::kDue, t.due},
                           {"sent_in_window", t.sent - t.sent_in_drain},
                           {"sent_in_drain", t.sent_in_drain},
                           {"sent_late", t.sent_late},
                           {wr::kUnsent, t.unsent},
                           {wr::kMissed, missed},
                           {"missed_fraction",
                            t.due > 0 ? json(static_cast<double>(missed) / static_cast<double>(t.due))
                                    : json(nullptr)},
                           {wr::kCensored, t.censored},
                           {"send_lag", latency_json(t.send_lag)}}
                    : json(nullptr)},
      {wr::kLatency, latency_json(t.latency)},
      {"latency_censored", open ? latency_json(t.latency_censored) : json(nullptr)},
      {wr::kLatencyUncorrected, open ? latency_json(t.latency_unc) : json(nullptr)},
      {wr::kErrors, error_json(t.errors)},
      {wr::kErrorsByPhase, std::move(phases_errors)},
      {wr::kVerification,
       {{wr::kVerifiedReplies, t.verified},
        {wr::kMismatchedReplies, t.mismatched},
        {"first_mismatch", std::move(first_mismatch)}}},
      {"timeseries", timeseries_json(cfg, run, workers)},
      {wr::kClient, std::move(client.report)},
      {"limits",
       {{"nofile_soft", run.nofile_soft},
        {"nofile_hard", run.nofile_hard},
        {"source_addresses", run.source_addresses},
        {"ephemeral_ports", {run.port_range_lo, run.port_range_hi}}}},
  };
  return report;
}

// The run as a whole from the ranks' runs: rank 0's schedule (warm-up and
// measurement are the same instants on every rank), the longest ramp, drain
// and close, failed if any rank failed, every rank's warnings (tagged with
// the rank when there are several), process CPU summed, the largest RSS.
RunInfo merge_runs(const std::vector<RankResult>& ranks) {
  RunInfo run = ranks.front().run;
  if (ranks.size() == 1) return run;
  auto tag = [](int rank, const std::string& text) {
    return "rank " + std::to_string(rank) + ": " + text;
  };
  run.warnings.clear();
  run.ok = true;
  run.process_cpu_user_s = run.process_cpu_sys_s = 0;
  for (const RankResult& r : ranks) {
    run.ramp_ns = std::max(run.ramp_ns, r.run.ramp_ns);
    run.drain_ns = std::max(run.drain_ns, r.run.drain_ns);
    run.close_ns = std::max(run.close_ns, r.run.close_ns);
    run.interrupted = run.interrupted || r.run.interrupted;
    if (!r.run.ok && run.ok) {
      run.ok = false;
      run.failure_reason = tag(r.rank, r.run.failure_reason);
    }
    for (const std::string& w : r.run.warnings) run.warnings.push_back(tag(r.rank, w));
    run.process_cpu_user_s += r.run.process_cpu_user_s;
    run.process_cpu_sys_s += r.run.process_cpu_sys_s;
    run.max_rss_kb = std::max(run.max_rss_kb, r.run.max_rss_kb);
  }
  return run;
}

// One entry per rank: who it was, its share, and how it fared.
json rank_json(const Config& cfg, const RankResult& r) {
  Histogram latency;
  std::uint64_t completed = 0, in_window = 0, errors = 0, due = 0, missed = 0, censored = 0;
  double user = 0, sys = 0, busiest = 0;
  bool cpu_known = false;
  for (const WorkerResult& w : r.workers) {
    latency.merge(w.latency);
    completed += w.completed;
    due += w.due;
    missed += w.sent_late + w.unsent;
    censored += w.censored;
    in_window += w.completed_in_window;
    errors += w.errors[kRamp].total() + w.errors[kMeasure].total();
    if (w.cpu_valid && w.measure_wall_s > 0) {
      cpu_known = true;
      user += w.cpu.user_s;
      sys += w.cpu.sys_s;
      const double busy = (w.cpu.user_s + w.cpu.sys_s + std::max(w.cpu.run_delay_s, 0.0)) /
                          w.measure_wall_s;
      busiest = std::max(busiest, std::min(busy, 1.0));
    }
  }
  const bool e = latency.empty();
  return {
      {"rank", r.rank},
      {"host", r.host},
      {"pid", r.pid},
      {"status", r.run.ok ? "ok" : "failed"},
      {"connections", r.connections},
      {"active", r.active},
      {"rate_per_s", cfg.open_loop() ? json(r.rate) : json(nullptr)},
      {"threads", r.workers.size()},
      {"completed", completed},
      {"completed_in_window", in_window},
      {"due", cfg.open_loop() ? json(due) : json(nullptr)},
      {"missed", cfg.open_loop() ? json(missed) : json(nullptr)},
      {"censored", cfg.open_loop() ? json(censored) : json(nullptr)},
      {"errors", errors},
      {"cpu_user_s", cpu_known ? json(user) : json(nullptr)},
      {"cpu_sys_s", cpu_known ? json(sys) : json(nullptr)},
      {"busy_fraction", cpu_known ? json(busiest) : json(nullptr)},
      {"client_saturated", cpu_known && busiest >= kSaturatedBusyFraction},
      {"p50_ns", null_if(e, latency.percentile(50))},
      {"p99_ns", null_if(e, latency.percentile(99))},
      {"start_realtime_ns", r.start_realtime_ns > 0 ? json(r.start_realtime_ns) : json(nullptr)},
  };
}

}  // namespace

json build_report(const Config& cfg, const std::vector<RankResult>& ranks, bool mpi_used) {
  std::vector<WorkerResult> workers;
  for (const RankResult& r : ranks) {
    for (const WorkerResult& w : r.workers) workers.push_back(w);
  }
  if (workers.empty()) workers.resize(1);  // failed before starting: an empty report
  json report = report_of(cfg, merge_runs(ranks), workers);
  json per_rank = json::array();
  std::int64_t first = 0, last = 0;
  bool all_started = true;
  for (const RankResult& r : ranks) {
    per_rank.push_back(rank_json(cfg, r));
    if (r.start_realtime_ns <= 0) {
      all_started = false;
      continue;
    }
    if (first == 0 || r.start_realtime_ns < first) first = r.start_realtime_ns;
    last = std::max(last, r.start_realtime_ns);
  }
  report["ranks"] = std::move(per_rank);
  report["start_skew_ns"] = all_started && first > 0 ? json(last - first) : json(nullptr);
  report["mpi"] = {{"used", mpi_used},
                   {"ranks", static_cast<int>(ranks.size())},
                   {"built_with_mpi", ranks_built_with_mpi()}};
  return report;
}

namespace {

std::string fmt_ns(const json& v) {
  if (v.is_null()) return "-";
  const double ns = v.get<double>();
  char buf[32];
  if (ns < 1e3) {
    std::snprintf(buf, sizeof buf, "%.0fns", ns);
  } else if (ns < 1e6) {
    std::snprintf(buf, sizeof buf, "%.1fus", ns / 1e3);
  } else if (ns < 1e9) {
    std::snprintf(buf, sizeof buf, "%.2fms", ns / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.3fs", ns / 1e9);
  }
  return buf;
}

std::string fmt_num(const json& v, const char* f = "%.0f") {
  if (v.is_null()) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, f, v.get<double>());
  return buf;
}

void print_latency(std::FILE* out, const char* label, const json& l) {
  std::fprintf(out, "  %-10s min %s  p50 %s  p90 %s  p99 %s  p99.9 %s  p99.99 %s  max %s\n", label,
               fmt_ns(l["min_ns"]).c_str(), fmt_ns(l["p50_ns"]).c_str(),
               fmt_ns(l["p90_ns"]).c_str(), fmt_ns(l["p99_ns"]).c_str(),
               fmt_ns(l["p999_ns"]).c_str(), fmt_ns(l["p9999_ns"]).c_str(),
               fmt_ns(l["max_ns"]).c_str());
}

}  // namespace

void print_summary(std::FILE* out, const json& r) {
  const json& c = r["config"];
  std::fprintf(out, "muxbench-loadgen: %s, %d connections (%d active), %d thread(s), %s, %zu-byte lines, pipeline %d%s\n",
               c["target"].get<std::string>().c_str(), c["connections"].get<int>(),
               c["active"].get<int>(), r["client"]["threads"].get<int>(),
               c["rate_per_s"].is_null()
                   ? "closed loop"
                   : ("open loop at " + fmt_num(c["rate_per_s"]) + " req/s").c_str(),
               c["message_size_bytes"].get<std::size_t>(), c["pipeline"].get<int>(),
               c["reconnect"].get<bool>() ? ", reconnect per request" : "");
  const json& ph = r["phases"];
  std::fprintf(out, "  phases     ramp %s, warm-up %s, measurement %s, drain %s, close %s\n",
               fmt_ns(ph["ramp_ns"]).c_str(), fmt_ns(ph["warmup_ns"]).c_str(),
               fmt_ns(ph["measure_ns"]).c_str(), fmt_ns(ph["drain_ns"]).c_str(),
               fmt_ns(ph["close_ns"]).c_str());
  std::fprintf(out, "  connect    %s established of %s attempted, p50 %s, max %s\n",
               fmt_num(r["connect"]["established"]).c_str(),
               fmt_num(r["connect"]["attempted"]).c_str(),
               fmt_ns(r["connect"]["latency"]["p50_ns"]).c_str(),
               fmt_ns(r["connect"]["latency"]["max_ns"]).c_str());
  std::fprintf(out, "  requests   %s measured, %s completed in the window: %s req/s, %s MB/s received\n",
               fmt_num(r["requests"]["completed"]).c_str(),
               fmt_num(r["requests"]["completed_in_window"]).c_str(),
               fmt_num(r["throughput"]["requests_per_s"]).c_str(),
               r["throughput"]["bytes_per_s"].is_null()
                   ? "-"
                   : fmt_num(json(r["throughput"]["bytes_per_s"].get<double>() / 1e6), "%.1f")
                         .c_str());
  if (!r["rate"].is_null()) {
    const json& rt = r["rate"];
    std::fprintf(out,
                 "  rate       target %s/s, achieved %s/s; due %s: sent %s in the window, %s in "
                 "the drain (%s of them late), %s never\n",
                 fmt_num(rt["target_per_s"]).c_str(), fmt_num(rt["achieved_per_s"]).c_str(),
                 fmt_num(rt["due"]).c_str(), fmt_num(rt["sent_in_window"]).c_str(),
                 fmt_num(rt["sent_in_drain"]).c_str(), fmt_num(rt["sent_late"]).c_str(),
                 fmt_num(rt["unsent"]).c_str());
    if (rt["censored"].get<std::uint64_t>() > 0) {
      std::fprintf(out,
                   "  censored   %s requests without a reply: latency recorded as at least the "
                   "time they waited\n",
                   fmt_num(rt["censored"]).c_str());
    }
    print_latency(out, "latency", r["latency"]);
    print_latency(out, "(uncorr.)", r["latency_uncorrected"]);
  } else {
    print_latency(out, "latency", r["latency"]);
  }
  std::string kinds;
  for (const auto& [k, v] : r["errors"].items()) {
    if (k != "total" && v.get<std::uint64_t>() > 0) {
      kinds += (kinds.empty() ? " (" : ", ") + k + " " + std::to_string(v.get<std::uint64_t>());
    }
  }
  if (!kinds.empty()) kinds += ")";
  std::fprintf(out, "  errors     %s%s; replies verified %s, mismatched %s\n",
               fmt_num(r["errors"]["total"]).c_str(), kinds.c_str(),
               fmt_num(r["verification"]["verified_replies"]).c_str(),
               fmt_num(r["verification"]["mismatched_replies"]).c_str());
  const json& cl = r["client"];
  std::fprintf(out, "  client     cpu %s s user + %s s sys, %s us/request, busiest thread %s%% busy%s\n",
               fmt_num(cl["cpu_user_s"], "%.2f").c_str(), fmt_num(cl["cpu_sys_s"], "%.2f").c_str(),
               fmt_num(cl["cpu_us_per_request"], "%.2f").c_str(),
               cl["busy_fraction"].is_null()
                   ? "-"
                   : fmt_num(json(cl["busy_fraction"].get<double>() * 100)).c_str(),
               cl["client_saturated"].get<bool>() ? "  << CLIENT SATURATED" : "");
  for (const auto& w : r["warnings"]) {
    std::fprintf(out, "  warning    %s\n", w.get<std::string>().c_str());
  }
  if (r["status"] != "ok") {
    std::fprintf(out, "  FAILED     %s\n", r["failure_reason"].get<std::string>().c_str());
  }
}

}  // namespace muxbench::loadgen
