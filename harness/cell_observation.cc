#include "cell_observation.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "json_check.h"
#include "muxbench/wire.h"

namespace muxbench::harness {
namespace {

// The keys of the server's --stats file and of the load generator's report
// (muxbench/wire.h).
namespace ws = wire::stats;
namespace wr = wire::report;

// j[a][b]... as a number, or nullopt when missing/null/not a number.
std::optional<double> num(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object() || !cur->contains(k)) return std::nullopt;
    cur = &(*cur)[k];
  }
  if (!cur->is_number()) return std::nullopt;
  return cur->get<double>();
}

json opt(std::optional<double> v) { return v ? json(*v) : json(nullptr); }

json opt_int(std::optional<double> v) {
  return v ? json(static_cast<std::int64_t>(std::llround(*v))) : json(nullptr);
}

std::string str(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

}  // namespace

json empty_metrics() {
  json m;
  for (const char* k :
       {"requests_per_s", "bytes_per_s", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns",
        "mean_ns", "errors_total", "mismatches", "client_saturated", "server_busy_fraction",
        "client_busy_fraction", "bound", "server_cpu_user_s",
        "server_cpu_sys_s", "server_cpu_us_per_request", "server_rss_peak_bytes",
        "server_memory_per_connection_bytes", "server_processes_max", "server_threads_max",
        "server_ctx_switches", "server_rss_idle_bytes", "server_cpu_total_s",
        "server_ctx_switches_per_request", "server_pss_peak_bytes", "server_pss_per_connection_bytes",
        "system_memory_delta_bytes",
        "server_lines", "requests_completed", "requests_censored", "rate_met",
        "rate_missed_fraction"}) {
    m[k] = nullptr;
  }
  return m;
}

namespace {

// What the load generator measured, copied from its report.
void loadgen_metrics(const json& j, json& m) {
  m["requests_per_s"] = opt(num(j, {wr::kThroughput, wr::kRequestsPerS}));
  m["bytes_per_s"] = opt(num(j, {wr::kThroughput, wr::kBytesPerS}));
  for (const char* k : wr::kLatencyFields) {
    m[k] = opt(num(j, {wr::kLatency, k}));
  }
  m["errors_total"] = opt_int(num(j, {wr::kErrors, wr::kTotal}));
  m["mismatches"] = opt_int(num(j, {wr::kVerification, wr::kMismatchedReplies}));
  if (j.contains(wr::kClient) && j[wr::kClient].is_object() && j[wr::kClient].contains(wr::kClientSaturated)) {
    m["client_saturated"] = j[wr::kClient][wr::kClientSaturated];
  }
  m["requests_completed"] = opt_int(num(j, {wr::kRequests, wr::kCompleted}));
  m["requests_censored"] = opt_int(num(j, {wr::kRequests, wr::kCensored}));
  if (auto rate = rate_check(j)) {
    m["rate_met"] = rate->met();
    m["rate_missed_fraction"] = rate->missed_fraction();
  }
}

// Memory from the samples and the idle baseline at READY.
void memory_metrics(const CellPlan& plan, const ServerObservation& s, double from_s, double to_s,
                    json& m) {
  const double idle_rss = num(s.ready, {"idle", "rss_bytes"}).value_or(0);
  const double idle_avail = num(s.ready, {"idle", "mem_available_bytes"}).value_or(0);
  if (!s.samples.empty()) {
    SampleSummary sum = summarize(s.samples, from_s, to_s);
    m["server_rss_peak_bytes"] = sum.rss_peak_bytes;
    m["server_processes_max"] = sum.processes_max;
    m["server_threads_max"] = sum.threads_max;
    if (idle_avail > 0 && sum.mem_available_min_bytes > 0) {
      m["system_memory_delta_bytes"] = idle_avail - static_cast<double>(sum.mem_available_min_bytes);
    }
    if (idle_rss > 0 && plan.connections > 0) {
      double grown = static_cast<double>(sum.rss_peak_bytes) - idle_rss;
      m["server_memory_per_connection_bytes"] = std::max(0.0, grown) / plan.connections;
    }
  }
  if (auto pss = num(s.done, {"pss_peak_bytes"})) {
    m["server_pss_peak_bytes"] = *pss;
    if (auto idle_pss = num(s.ready, {"idle", "pss_bytes"}); idle_pss && plan.connections > 0) {
      m["server_pss_per_connection_bytes"] = std::max(0.0, *pss - *idle_pss) / plan.connections;
    }
  }
}

}  // namespace

json cell_metrics(const CellPlan& plan, const ServerObservation& server,
                  const LoadgenObservation& loadgen, json* measurement) {
  json m = empty_metrics();
  m["server_rss_idle_bytes"] = opt_int(num(server.ready, {"idle", "rss_bytes"}));
  const json no_report = json::object();
  const json& j = loadgen.report ? *loadgen.report : no_report;
  if (loadgen.report) loadgen_metrics(j, m);

  // CPU over the measurement phase (the window requests_per_s covers); the
  // whole load generator run when its phases are unknown.
  const double ramp = num(j, {wr::kPhases, wr::kRampNs}).value_or(-1);
  const double warm = num(j, {wr::kPhases, wr::kWarmupNs}).value_or(-1);
  const double meas = num(j, {wr::kPhases, wr::kMeasureNs}).value_or(-1);
  double w0 = loadgen.start_s, w1 = loadgen.end_s;
  std::string window = "loadgen run";
  if (ramp >= 0 && warm >= 0 && meas > 0) {
    w0 = loadgen.start_s + (ramp + warm) / 1e9;
    w1 = w0 + meas / 1e9;
    window = "measure";
  }
  std::optional<double> window_cpu;
  if (auto cpu = cpu_between(server.samples, w0, w1)) {
    m["server_cpu_user_s"] = cpu->first;
    m["server_cpu_sys_s"] = cpu->second;
    window_cpu = cpu->first + cpu->second;
  }
  memory_metrics(plan, server, loadgen.start_s, loadgen.end_s + 1, m);

  // Which side limited it: the server's busiest thread over the window (the
  // mean of the samples' per-interval figures inside it) against the load
  // generator's own figure.
  double busy_sum = 0;
  int busy_n = 0;
  for (const auto& x : server.samples) {
    if (x.t_s > w0 && x.t_s <= w1 + 0.05 && x.busy_max >= 0) {
      busy_sum += x.busy_max;
      ++busy_n;
    }
  }
  std::optional<double> server_busy;
  if (busy_n > 0) server_busy = busy_sum / busy_n;
  const std::optional<double> client_busy = num(j, {wr::kClient, wr::kBusyFraction});
  m["server_busy_fraction"] = busy_n > 0 ? json(busy_sum / busy_n) : json(nullptr);
  m["client_busy_fraction"] = opt(client_busy);
  auto bound = bound_side(server_busy, client_busy);
  m["bound"] = bound ? json(*bound) : json(nullptr);

  // wait4() on the agent's host: exact, for the server, all its threads and
  // the children it reaped, plus the orphans the agent reaped as subreaper.
  m["server_ctx_switches"] = opt_int(num(server.done, {"ctx_switches"}));
  m["server_cpu_total_s"] = opt(num(server.done, {"cpu_total_s"}));
  const json no_stats = nullptr;
  const json& stats = server.done.is_object() && server.done.contains("stats") ? server.done["stats"] : no_stats;
  m["server_lines"] = opt_int(num(stats, {ws::kCounters, ws::kLines}));

  // CPU per request: preferably everything the server used after READY
  // over every reply line it produced (its own counter): exact, and not at
  // the mercy of 10 ms ticks in short cells. Otherwise (no stats: it
  // crashed) the measurement window's sampled CPU over the requests the load
  // generator completed in it.
  std::string per_request_basis = "none";
  const double lines = num(stats, {ws::kCounters, ws::kLines}).value_or(0);
  const auto total_cpu = num(m, {"server_cpu_total_s"});
  const double completed = num(m, {"requests_completed"}).value_or(0);
  const double startup_cpu_s = num(server.ready, {"idle", "runtime_ns"}).value_or(0) / 1e9;
  if (total_cpu && lines > 0) {
    m["server_cpu_us_per_request"] = std::max(0.0, *total_cpu - startup_cpu_s) * 1e6 / lines;
    per_request_basis = "run cpu / server lines";
  } else if (window_cpu && completed > 0 && window == "measure") {
    m["server_cpu_us_per_request"] = *window_cpu * 1e6 / completed;
    per_request_basis = "measure cpu / completed requests";
  }
  const auto ctx = num(m, {"server_ctx_switches"});
  m["server_ctx_switches_per_request"] = ctx && lines > 0 ? json(*ctx / lines) : json(nullptr);

  const json sampler = server.done.is_object() && server.done.contains("sampler") ? server.done["sampler"] : json::object();
  *measurement = {{"cpu_window", window},
                  {"window_start_s", std::round(w0 * 1000) / 1000},
                  {"window_end_s", std::round(w1 * 1000) / 1000},
                  {"samples", static_cast<int>(server.samples.size())},
                  {"sample_interval_ms_mean", opt(num(sampler, {"interval_ms_mean"}))},
                  {"sample_scan_ms_max", opt(num(sampler, {"scan_ms_max"}))},
                  {"sample_cpu_ms_total", opt(num(sampler, {"scan_cpu_ms_total"}))},
                  {"cpu_per_request_basis", per_request_basis},
                  {"server_startup_cpu_s", startup_cpu_s}};
  return m;
}

void check_loadgen_report(const json& r, const std::string& path) {
  using namespace check;
  require_object(r, path, "the load generator's --json report, an object (docs/results.md)");
  const json& status = required(r, path, wr::kStatus, "ok, failed");
  if (status != wr::kStatusOk && status != wr::kStatusFailed) {
    fail(join_path(path, wr::kStatus), status, "is not a status; allowed: ok, failed");
  }
  check_string(r, path, wr::kFailureReason, true, "one line");
  // Counts stay below 2^53, where a double still holds every integer.
  constexpr double kMaxCount = 9007199254740992.0;
  constexpr double kMax = std::numeric_limits<double>::max();
  const std::string kCount = "a count from 0 to 2^53";
  const std::string kNumber = "a number of at least 0";
  auto object = [&](const json& o, const std::string& p, const char* key) {
    return check_object(o, p, key, true, "an object");
  };
  auto numbers = [&](const char* key, std::initializer_list<const char*> fields, double hi,
                     const std::string& allowed) {
    if (const json* o = object(r, path, key)) {
      for (const char* f : fields) check_number(*o, join_path(path, key), f, 0, hi, true, allowed);
    }
  };
  numbers(wr::kThroughput, {wr::kRequestsPerS, wr::kBytesPerS}, kMax, kNumber);
  numbers(wr::kPhases, {wr::kRampNs, wr::kWarmupNs, wr::kMeasureNs, wr::kDrainNs}, kMax, kNumber);
  numbers(wr::kConnect, {wr::kAttempted, wr::kEstablished, wr::kFailed}, kMaxCount, kCount);
  numbers(wr::kRequests, {wr::kCompleted, wr::kCompletedInWindow, wr::kSent}, kMaxCount, kCount);
  numbers(wr::kVerification, {wr::kVerifiedReplies, wr::kMismatchedReplies}, kMaxCount, kCount);
  numbers(wr::kConfig, {wr::kTimeoutS}, kMax, kNumber);
  for (const char* key : {wr::kLatency, wr::kLatencyUncorrected}) {
    const json* l = object(r, path, key);
    if (l == nullptr) continue;
    const std::string lp = join_path(path, key);
    for (const char* f : wr::kLatencyFields) {
      check_number(*l, lp, f, 0, kMax, true, kNumber);
    }
    check_number(*l, lp, wr::kCount, 0, kMaxCount, true, kCount);
    const json* h = object(*l, lp, wr::kHistogram);
    if (h == nullptr) continue;
    const std::string hp = join_path(lp, "histogram");
    const json* buckets = check_list(*h, hp, wr::kBuckets, "a list of [value_ns, count] pairs");
    for (std::size_t i = 0; buckets != nullptr && i < buckets->size(); ++i) {
      const json& b = (*buckets)[i];
      const std::string bp = join_path(hp, wr::kBuckets) + "[" + std::to_string(i) + "]";
      if (!b.is_array() || b.size() != 2) fail(bp, b, "is not a [value_ns, count] pair");
      get_number(b[0], bp + "[0]", 0, kMax, kNumber);
      get_number(b[1], bp + "[1]", 0, kMaxCount, kCount);
    }
  }
  auto error_counts = [&](const json& counts, const std::string& p) {
    for (const char* k : wr::kErrorKinds) check_number(counts, p, k, 0, kMaxCount, true, kCount);
    check_number(counts, p, wr::kTotal, 0, kMaxCount, true, kCount);
  };
  if (const json* e = object(r, path, wr::kErrors)) error_counts(*e, join_path(path, wr::kErrors));
  if (const json* by_phase = object(r, path, wr::kErrorsByPhase)) {
    const std::string bp = join_path(path, wr::kErrorsByPhase);
    for (const auto& [phase, counts] : by_phase->items()) {
      require_object(counts, join_path(bp, phase), "an object of error counts");
      error_counts(counts, join_path(bp, phase));
    }
  }
  if (const json* c = object(r, path, wr::kClient)) {
    check_bool(*c, join_path(path, wr::kClient), wr::kClientSaturated, true);
    check_number(*c, join_path(path, wr::kClient), wr::kBusyFraction, 0, kMax, true, kNumber);
  }
}

std::optional<std::string> bound_side(std::optional<double> server_busy,
                                      std::optional<double> client_busy) {
  if (!server_busy || !client_busy) return std::nullopt;
  const bool s = *server_busy >= kBoundBusyFraction, c = *client_busy >= kBoundBusyFraction;
  return s && c ? "both" : s ? "server-bound" : c ? "client-bound" : "neither";
}

namespace {

// The verdict from the load generator's report: errors of every phase, not
// only the measured one (a request stuck since the warm-up, at a server that
// serves one connection at a time, only shows up as a timeout in the drain).
std::optional<std::string> report_failure(const json& j, const json& stats) {
  auto e = [&](const char* k) {
    if (j.contains(wr::kErrorsByPhase) && j[wr::kErrorsByPhase].is_object()) {
      double t = 0;
      for (const auto& [phase_name, counts] : j[wr::kErrorsByPhase].items()) {
        t += num(counts, {k}).value_or(0);
      }
      return t;
    }
    return num(j, {wr::kErrors, k}).value_or(0);
  };
  double attempted = num(j, {wr::kConnect, wr::kAttempted}).value_or(0);
  double cfailed = num(j, {wr::kConnect, wr::kFailed}).value_or(0);
  double rejected = num(stats, {ws::kCounters, ws::kRejected, ws::kFdSetsize}).value_or(0) +
                    num(stats, {ws::kCounters, ws::kRejected, ws::kFdExhausted}).value_or(0);
  double refused = e("connect_refused") + e("connect_timeout") + e("connect_other") +
                   e("addr_not_available");
  if (cfailed > 0 || refused > 0 || rejected > 0) {
    std::ostringstream ss;
    ss << "refused connections: " << static_cast<long long>(std::max(cfailed, refused)) << " of "
       << static_cast<long long>(attempted) << " connection attempts failed (refused "
       << e("connect_refused") << ", timeout " << e("connect_timeout") << ", no local address "
       << e("addr_not_available") << ", other " << e("connect_other") << ")";
    if (rejected > 0) ss << "; the server rejected " << rejected << " (fd limits)";
    return ss.str();
  }
  if (str(j, wr::kStatus) != wr::kStatusOk) {
    std::string why = str(j, wr::kFailureReason);
    return "loadgen reported status failed: " + (why.empty() ? std::string("no reason given") : why);
  }
  if (e("reset") + e("unexpected_eof") > 0) {
    std::ostringstream ss;
    ss << "dropped connections: the server reset " << e("reset") << " and closed "
       << e("unexpected_eof") << " connections during the run";
    return ss.str();
  }
  if (num(j, {wr::kVerification, wr::kMismatchedReplies}).value_or(0) + e("mismatch") + e("short_reply") > 0) {
    std::ostringstream ss;
    ss << "verification errors: " << num(j, {wr::kVerification, wr::kMismatchedReplies}).value_or(0)
       << " mismatched replies, " << e("short_reply") << " short replies";
    return ss.str();
  }
  if (e("request_timeout") > 0) {
    std::ostringstream ss;
    ss << "hung: " << e("request_timeout") << " requests got no reply within "
       << num(j, {wr::kConfig, wr::kTimeoutS}).value_or(0) << " s";
    return ss.str();
  }
  if (num(j, {wr::kRequests, wr::kCompleted}).value_or(0) <= 0) return "zero completed requests";
  return std::nullopt;
}

// The last line that says something (mpirun frames its messages in dashes).
std::string last_line(const std::string& text) {
  std::istringstream in(text);
  std::string last;
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of("- \t\r") != std::string::npos) last = line;
  }
  return last;
}

}  // namespace

std::optional<RateCheck> rate_check(const json& j) {
  if (!j.is_object() || !j.contains(wr::kRate) || !j[wr::kRate].is_object()) return std::nullopt;
  RateCheck r;
  if (auto due = num(j, {wr::kRate, wr::kDue})) {
    r.due = *due;
    r.missed = num(j, {wr::kRate, wr::kMissed}).value_or(0);
    r.censored = num(j, {wr::kRate, wr::kCensored}).value_or(0);
    return r;
  }
  auto unsent = num(j, {wr::kRate, wr::kUnsent});
  auto target = num(j, {wr::kRate, wr::kTargetPerS});
  auto measure = num(j, {wr::kPhases, wr::kMeasureNs});
  if (!unsent || !target || !measure) return std::nullopt;
  r.due = std::round(*target * *measure / 1e9);
  r.missed = *unsent;
  return r;
}

CellVerdict cell_verdict(const ServerObservation& server, const LoadgenObservation& loadgen) {
  if (auto why = cell_failure(server, loadgen)) return {"failed", why};
  const auto rate = loadgen.report ? rate_check(*loadgen.report) : std::nullopt;
  if (!rate || rate->met()) return {"ok", std::nullopt};
  const json& j = *loadgen.report;
  char pct[64];
  std::snprintf(pct, sizeof pct, "%.1f %%, more than %g %%", 100 * rate->missed_fraction(),
                100 * kRateMissMaxFraction);
  std::ostringstream ss;
  ss << "rate not met: " << static_cast<long long>(rate->missed) << " of "
     << static_cast<long long>(rate->due) << " requests due (" << pct
     << ") were not sent on schedule; target " << num(j, {wr::kRate, wr::kTargetPerS}).value_or(0)
     << "/s, achieved " << std::lround(num(j, {wr::kRate, wr::kAchievedPerS}).value_or(0)) << "/s";
  if (rate->censored > 0) {
    ss << "; " << static_cast<long long>(rate->censored)
       << " got no reply by the end of the drain (latency censored: a lower bound)";
  }
  if (j.contains(wr::kClient) && j[wr::kClient].is_object() &&
      j[wr::kClient].value(wr::kClientSaturated, false)) {
    ss << "; the load generator was saturated: the miss may be the client's";
  }
  return {"rate_not_met", ss.str()};
}

bool loadgen_never_reached(const ServerObservation& server, const LoadgenObservation& loadgen) {
  auto accepted = num(server.done, {"stats", ws::kCounters, ws::kAccepted});
  return loadgen.timed_out && accepted && *accepted == 0;
}

std::optional<std::string> cell_failure(const ServerObservation& server,
                                        const LoadgenObservation& loadgen) {
  if (!server.start_failure.empty()) return "server did not start: " + server.start_failure;
  if (!loadgen.started) return "load generator did not start: " + loadgen.start_error;
  if (!server.died.empty()) return "crashed: the server died during the run (" + server.died + ")";
  if (loadgen.timed_out) {
    std::ostringstream ss;
    ss << "timed out: the load generator was still running " << std::round(loadgen.timeout_s)
       << " s after it started (killed); ";
    // Which side stalled: a server that accepted nothing never saw the load
    // generator (a launch that hung), one that did hung or is far too slow.
    if (loadgen_never_reached(server, loadgen)) {
      ss << "the server accepted no connection: the load generator never reached it";
    } else {
      ss << "the server hung or is far too slow";
    }
    return ss.str();
  }
  if (!loadgen.report) {
    const std::string err = last_line(loadgen.stderr_tail);
    return "load generator failed: " + loadgen.exit + ", " + loadgen.report_error +
           (err.empty() ? "" : ": " + err);
  }
  const json stats = server.done.is_object() && server.done.contains("stats") ? server.done["stats"] : json();
  if (auto why = report_failure(*loadgen.report, stats)) return why;
  if (!server.done.is_object()) return "the server agent ended without a final report";
  if (server.done.value("stop_hung", false)) {
    std::ostringstream ss;
    ss << "hung: the server did not exit within " << num(server.done, {"stop_grace_s"}).value_or(0)
       << " s of SIGTERM (killed)";
    return ss.str();
  }
  if (!server.done.value("clean", false)) {
    return "the server " + str(server.done, "exit") + " after SIGTERM";
  }
  if (auto left = num(server.done, {"left"}); left && *left > 0) {
    return "processes left running after stop: " + std::to_string(static_cast<long>(*left)) +
           " of the server's group survived SIGKILL";
  }
  return std::nullopt;
}

json sample_to_json(const GroupSample& s) {
  return {{"t_s", s.t_s},
          {"cpu_user_s", s.cpu_user_s},
          {"cpu_sys_s", s.cpu_sys_s},
          {"rss_bytes", s.rss_bytes},
          {"processes", s.processes},
          {"threads", s.threads},
          {"mem_available_bytes", s.mem_available_bytes},
          {"busy_max", s.busy_max >= 0 ? json(s.busy_max) : json(nullptr)},
          {"busy_total", s.busy_total >= 0 ? json(s.busy_total) : json(nullptr)}};
}

GroupSample sample_from_json(const json& j) {
  GroupSample s;
  s.t_s = num(j, {"t_s"}).value_or(0);
  s.cpu_user_s = num(j, {"cpu_user_s"}).value_or(0);
  s.cpu_sys_s = num(j, {"cpu_sys_s"}).value_or(0);
  s.rss_bytes = static_cast<std::uint64_t>(num(j, {"rss_bytes"}).value_or(0));
  s.processes = static_cast<int>(num(j, {"processes"}).value_or(0));
  s.threads = static_cast<int>(num(j, {"threads"}).value_or(0));
  s.mem_available_bytes = static_cast<std::uint64_t>(num(j, {"mem_available_bytes"}).value_or(0));
  s.busy_max = num(j, {"busy_max"}).value_or(-1);
  s.busy_total = num(j, {"busy_total"}).value_or(-1);
  return s;
}

ServerObservation server_observation_from_json(const json& j) {
  ServerObservation s;
  s.ready = j.value("ready", json());
  s.done = j.value("done", json());
  s.start_failure = str(j, "start_failure");
  s.died = str(j, "died");
  if (j.contains("samples") && j["samples"].is_array()) {
    for (const auto& x : j["samples"]) s.samples.push_back(sample_from_json(x));
  }
  return s;
}

LoadgenObservation loadgen_observation_from_json(const json& j) {
  LoadgenObservation l;
  l.started = j.value("started", true);
  l.start_error = str(j, "start_error");
  l.report_error = str(j, "report_error");
  if (j.contains("report") && !j["report"].is_null()) {
    try {
      check_loadgen_report(j["report"], "report");
      l.report = j["report"];
    } catch (const SuiteError& e) {
      l.report_error = std::string("an invalid report: ") + e.what();
    }
  }
  l.exit = str(j, "exit");
  l.stderr_tail = str(j, "stderr_tail");
  l.start_s = num(j, {"start_s"}).value_or(0);
  l.end_s = num(j, {"end_s"}).value_or(0);
  l.timed_out = j.value("timed_out", false);
  l.timeout_s = num(j, {"timeout_s"}).value_or(0);
  return l;
}

}  // namespace muxbench::harness
