#include "cell.h"

#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "sampler.h"
#include "spawn.h"

namespace muxbench::harness {
namespace {

using std::chrono::duration;

Clock::time_point after(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(duration<double>(seconds));
}

double seconds_since(Clock::time_point t0, Clock::time_point t) {
  return duration<double>(t - t0).count();
}

double tv_seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

std::string fmt_double(double v) {
  std::ostringstream ss;
  ss << v;
  return ss.str();
}

std::optional<json> read_json_file(const std::string& path, std::string* err) {
  std::ifstream f(path);
  if (!f) {
    *err = "no JSON written";
    return std::nullopt;
  }
  try {
    return json::parse(f);
  } catch (const std::exception& e) {
    *err = std::string("unreadable JSON: ") + e.what();
    return std::nullopt;
  }
}

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

std::string last_line(const std::string& text) {
  auto nl = text.find_last_of('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

json empty_metrics() {
  json m;
  for (const char* k :
       {"requests_per_s", "bytes_per_s", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns",
        "mean_ns", "errors_total", "mismatches", "client_saturated", "server_cpu_user_s",
        "server_cpu_sys_s", "server_cpu_us_per_request", "server_rss_peak_bytes",
        "server_memory_per_connection_bytes", "server_processes_max", "server_threads_max",
        "server_ctx_switches", "server_rss_idle_bytes", "server_cpu_total_s",
        "server_ctx_switches_per_request", "server_pss_peak_bytes", "server_pss_per_connection_bytes",
        "system_memory_delta_bytes",
        "server_lines", "requests_completed"}) {
    m[k] = nullptr;
  }
  return m;
}

json base_record(const CellPlan& plan, const CellEnv& env) {
  json r;
  r["id"] = plan.id;
  r["strategy"] = plan.strategy;
  r["family"] = plan.family;
  r["workload"] = plan.workload;
  r["connections"] = plan.connections;
  r["active"] = plan.active;
  r["repetition"] = plan.repetition;
  const CellParams& p = plan.params;
  r["params"] = {{"message_size_bytes", p.message_size_bytes},
                 {"pipeline", p.pipeline},
                 {"rate_per_s", p.rate_per_s ? json(*p.rate_per_s) : json(nullptr)},
                 {"reconnect", p.reconnect},
                 {"duration_s", p.duration_s},
                 {"warmup_s", p.warmup_s},
                 {"loadgen_threads", p.loadgen_threads ? json(*p.loadgen_threads) : json(nullptr)},
                 {"server_args", p.server_args}};
  r["placement"] = {
      {"server_cpus", env.server_cpus_text.empty() ? json(nullptr) : json(env.server_cpus_text)},
      {"loadgen_cpus", env.loadgen_cpus_text.empty() ? json(nullptr) : json(env.loadgen_cpus_text)}};
  r["status"] = "ok";
  r["reason"] = nullptr;
  r["started"] = iso_now();
  r["elapsed_s"] = 0.0;
  r["metrics"] = empty_metrics();
  r["loadgen"] = nullptr;
  r["server"] = {{"stats", nullptr}, {"exit", nullptr}, {"stderr_tail", ""}};
  return r;
}

}  // namespace

std::vector<std::string> loadgen_argv(const CellPlan& plan, const std::string& loadgen_path,
                                      int port, const std::string& json_path,
                                      const std::string& cpus) {
  const CellParams& p = plan.params;
  std::vector<std::string> a = {loadgen_path,
                                "--target", "127.0.0.1:" + std::to_string(port),
                                "--connections", std::to_string(plan.connections),
                                "--active", std::to_string(plan.active),
                                "--message-size", std::to_string(p.message_size_bytes),
                                "--pipeline", std::to_string(p.pipeline),
                                "--warmup", fmt_double(p.warmup_s),
                                "--duration", fmt_double(p.duration_s),
                                "--json", json_path,
                                "--quiet"};
  if (p.rate_per_s) {
    a.push_back("--rate");
    a.push_back(fmt_double(*p.rate_per_s));
  }
  if (p.reconnect) a.push_back("--reconnect");
  if (!cpus.empty()) {  // also pinned by the harness; this way the report says so too
    a.push_back("--cpu");
    a.push_back(cpus);
  }
  if (p.loadgen_threads) {
    a.push_back("--threads");
    a.push_back(std::to_string(*p.loadgen_threads));
  }
  return a;
}

double loadgen_timeout_s(const CellPlan& plan) {
  // Connecting 10,000 sockets to a slow strategy takes seconds; so does the
  // drain of an open-loop run that fell behind.
  return plan.params.warmup_s + plan.params.duration_s + kLoadgenMarginS +
         plan.connections / 1000.0;
}

json skipped_cell(const CellPlan& plan, const CellEnv& env) {
  json r = base_record(plan, env);
  r["status"] = "skipped";
  r["reason"] = *plan.skip_reason;
  return r;
}

CellOutcome run_cell(const CellPlan& plan, const CellEnv& env) {
  CellOutcome out;
  json& r = out.record;
  r = base_record(plan, env);
  const auto t_start = Clock::now();
  auto phase = [&](const std::string& name) {
    if (env.on_phase) env.on_phase(name);
  };
  auto interrupted = [&] { return env.interrupted != nullptr && env.interrupted->load(); };
  std::optional<std::string> failure;
  auto fail = [&](const std::string& why) {
    if (!failure) failure = why;
  };

  const std::string stats_path = env.work_dir + "/server-stats.json";
  const std::string server_err = env.work_dir + "/server.stderr";
  const std::string lg_json = env.work_dir + "/loadgen.json";
  const std::string lg_err = env.work_dir + "/loadgen.stderr";
  const std::string lg_out = env.work_dir + "/loadgen.stdout";
  for (const auto& f : {stats_path, lg_json}) std::remove(f.c_str());

  // 1. The server, in its own process group, pinned if asked.
  phase("start");
  SpawnOptions so;
  so.argv = {env.server_path, "--strategy", plan.strategy, "--port", "0", "--stats", stats_path};
  so.argv.insert(so.argv.end(), plan.params.server_args.begin(), plan.params.server_args.end());
  so.stderr_path = server_err;
  so.cpus = env.server_cpus;
  std::string err;
  auto server = Child::spawn(so, &err);
  auto finish_record = [&] {
    r["elapsed_s"] = std::round(seconds_since(t_start, Clock::now()) * 1000) / 1000;
    if (failure) {
      r["status"] = "failed";
      r["reason"] = *failure;
    }
  };
  if (!server) {
    fail("server did not start: " + err);
    finish_record();
    return out;
  }
  r["server"]["argv"] = so.argv;
  r["server"]["pid"] = server->pid();  // also its process group

  int port = 0;
  const Clock::time_point ready_deadline = after(kReadyTimeoutS);
  while (port == 0) {
    if (interrupted()) {
      out.interrupted = true;
      return out;
    }
    auto slice = std::min(ready_deadline, Clock::now() + std::chrono::milliseconds(100));
    auto line = server->read_line(slice);
    if (line) {
      auto pos = line->find(" port=");
      if (line->rfind("READY ", 0) == 0 && pos != std::string::npos) {
        port = std::atoi(line->c_str() + pos + 6);
      }
      continue;
    }
    if (Clock::now() < slice) std::this_thread::sleep_for(std::chrono::milliseconds(10));  // EOF
    if (server->exited()) {
      fail("server did not start: " + server->exit_info()->describe() + " before READY: " +
           last_line(file_tail(server_err, 300)));
      break;
    }
    if (Clock::now() >= ready_deadline) {
      fail("server did not start: no READY line within " + fmt_double(kReadyTimeoutS) +
           " s: " + last_line(file_tail(server_err, 300)));
      break;
    }
  }
  const auto t_ready = Clock::now();
  r["server"]["ready_s"] = std::round(seconds_since(t_start, t_ready) * 1000) / 1000;

  std::optional<json> lg;
  std::vector<GroupSample> samples;
  Sampler::Stats sampler_stats;
  double lg_start_s = 0, lg_end_s = 0;  // relative to t_ready
  GroupSample idle;
  std::uint64_t idle_runtime_ns = 0;  // the server's start-up CPU, at READY
  std::optional<std::uint64_t> idle_pss, measure_pss;
  bool server_died = false;

  if (!failure) {
    // 2. The idle baseline, right after READY.
    idle = sample_group(server->pid());
    idle_runtime_ns = process_runtime_ns(server->pid());
    idle_pss = group_pss_bytes(server->pid());
    r["metrics"]["server_rss_idle_bytes"] = idle.rss_bytes;

    // 3. The load generator, bounded by a hard timeout, while sampling the server.
    Sampler sampler(server->pid(), t_ready);
    SpawnOptions lo;
    lo.argv = loadgen_argv(plan, env.loadgen_path, port, lg_json, env.loadgen_cpus_text);
    lo.stdout_path = lg_out;
    lo.stderr_path = lg_err;
    lo.cpus = env.loadgen_cpus;
    auto t_lg = Clock::now();
    auto loadgen = Child::spawn(lo, &err);
    json lg_proc = {{"argv", lo.argv}, {"pid", loadgen ? json(loadgen->pid()) : json(nullptr)},
                    {"exit", nullptr}, {"stderr_tail", ""}};
    if (!loadgen) {
      fail("load generator did not start: " + err);
    } else {
      const double timeout = loadgen_timeout_s(plan);
      const double load_s = plan.params.warmup_s + plan.params.duration_s;
      const double ramp_guess = plan.params.reconnect ? 0 : plan.connections / 4000.0;
      std::string shown;
      bool timed_out = false;
      for (;;) {
        if (interrupted()) {
          loadgen->kill_group_and_reap(Clock::now() + std::chrono::seconds(2));
          out.interrupted = true;
          return out;  // ~Child and ~Sampler stop and reap the server
        }
        if (loadgen->exited()) break;
        if (!server_died && server->exited()) server_died = true;
        double t = seconds_since(t_lg, Clock::now());
        if (t > timeout) {
          timed_out = true;
          loadgen->kill_group_and_reap(Clock::now() + std::chrono::seconds(2));
          break;
        }
        std::string ph = t < ramp_guess ? "connect"
                         : t < ramp_guess + plan.params.warmup_s ? "warmup"
                         : t < ramp_guess + load_s               ? "measure"
                                                                 : "drain";
        if (server_died) ph = "server died";
        if (ph != shown) {
          phase(ph);
          shown = ph;
        }
        if (env.on_tick) env.on_tick();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      const auto t_lg_end = Clock::now();
      lg_start_s = seconds_since(t_ready, t_lg);
      lg_end_s = seconds_since(t_ready, t_lg_end);
      lg_proc["exit"] = loadgen->exit_info() ? json(loadgen->exit_info()->describe()) : json(nullptr);
      lg_proc["stderr_tail"] = file_tail(lg_err, 2000);
      if (!server_died && server->exited()) server_died = true;
      if (server_died) {
        fail("crashed: the server died during the run (" + server->exit_info()->describe() + ")");
      }
      if (timed_out) {
        fail("timed out: the load generator was still running " + fmt_double(std::round(timeout)) +
             " s after it started (killed); the server hung or is far too slow");
      }
      std::string jerr;
      lg = read_json_file(lg_json, &jerr);
      if (!lg && !timed_out) {
        fail("load generator failed: " + loadgen->exit_info()->describe() + ", " + jerr + ": " +
             last_line(file_tail(lg_err, 300)));
      }
    }
    r["loadgen_process"] = lg_proc;
    samples = sampler.stop();
    sampler_stats = sampler.stats();
    measure_pss = sampler.pss_peak_bytes();
  }

  // 4. Stop the server: SIGTERM, a grace period, then SIGKILL to the group;
  // make sure nothing of it is left.
  phase("stop");
  bool stop_hung = false;
  if (!server->exited()) {
    server->signal(SIGTERM);
    if (!server->wait_until(after(kStopGraceS))) stop_hung = true;
  }
  auto left = server->kill_group_and_reap(Clock::now() + std::chrono::seconds(5));
  const ExitInfo* ex = server->exit_info() ? &*server->exit_info() : nullptr;
  r["server"]["exit"] = ex ? json(ex->describe()) : json(nullptr);
  r["server"]["stderr_tail"] = file_tail(server_err, 2000);
  std::string serr;
  json stats = nullptr;
  if (auto st = read_json_file(stats_path, &serr)) stats = *st;
  r["server"]["stats"] = stats;

  // 5. Metrics. (Built in locals: an ordered_json reference dies when a key
  // is added to its parent.)
  json m = empty_metrics();
  m["server_rss_idle_bytes"] = r["metrics"]["server_rss_idle_bytes"];
  if (lg) {
    const json& j = *lg;
    m["requests_per_s"] = opt(num(j, {"throughput", "requests_per_s"}));
    m["bytes_per_s"] = opt(num(j, {"throughput", "bytes_per_s"}));
    for (const char* k : {"p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns", "mean_ns"}) {
      m[k] = opt(num(j, {"latency", k}));
    }
    m["errors_total"] = opt_int(num(j, {"errors", "total"}));
    m["mismatches"] = opt_int(num(j, {"verification", "mismatched_replies"}));
    if (j.contains("client") && j["client"].is_object() && j["client"].contains("client_saturated")) {
      m["client_saturated"] = j["client"]["client_saturated"];
    }
    m["requests_completed"] = opt_int(num(j, {"requests", "completed"}));
  }
  // CPU over the measurement phase (the window requests_per_s covers); the
  // whole load generator run when its phases are unknown.
  const json no_phases = json::object();
  const json& phases = lg ? *lg : no_phases;
  const double ramp = num(phases, {"phases", "ramp_ns"}).value_or(-1);
  const double warm = num(phases, {"phases", "warmup_ns"}).value_or(-1);
  const double meas = num(phases, {"phases", "measure_ns"}).value_or(-1);
  double w0 = lg_start_s, w1 = lg_end_s;
  std::string window = "loadgen run";
  if (ramp >= 0 && warm >= 0 && meas > 0) {
    w0 = lg_start_s + (ramp + warm) / 1e9;
    w1 = w0 + meas / 1e9;
    window = "measure";
  }
  std::optional<double> window_cpu;
  if (auto cpu = cpu_between(samples, w0, w1)) {
    m["server_cpu_user_s"] = cpu->first;
    m["server_cpu_sys_s"] = cpu->second;
    window_cpu = cpu->first + cpu->second;
  }
  if (!samples.empty()) {
    SampleSummary sum = summarize(samples, lg_start_s, lg_end_s + 1);
    m["server_rss_peak_bytes"] = sum.rss_peak_bytes;
    m["server_processes_max"] = sum.processes_max;
    m["server_threads_max"] = sum.threads_max;
    if (idle.mem_available_bytes > 0 && sum.mem_available_min_bytes > 0) {
      m["system_memory_delta_bytes"] =
          static_cast<double>(idle.mem_available_bytes) - static_cast<double>(sum.mem_available_min_bytes);
    }
    if (idle.rss_bytes > 0 && plan.connections > 0) {
      double grown = static_cast<double>(sum.rss_peak_bytes) - static_cast<double>(idle.rss_bytes);
      m["server_memory_per_connection_bytes"] = std::max(0.0, grown) / plan.connections;
    }
  }
  if (measure_pss) {
    m["server_pss_peak_bytes"] = *measure_pss;
    if (idle_pss && plan.connections > 0) {
      double grown = static_cast<double>(*measure_pss) - static_cast<double>(*idle_pss);
      m["server_pss_per_connection_bytes"] = std::max(0.0, grown) / plan.connections;
    }
  }
  if (ex) {
    // wait4(): exact, for the server, all its threads and the children it
    // reaped; plus the orphans the harness reaped as subreaper.
    const rusage& a = ex->usage;
    const rusage& o = server->orphan_usage();
    m["server_ctx_switches"] = a.ru_nvcsw + a.ru_nivcsw + o.ru_nvcsw + o.ru_nivcsw;
    m["server_cpu_total_s"] =
        tv_seconds(a.ru_utime) + tv_seconds(a.ru_stime) + tv_seconds(o.ru_utime) + tv_seconds(o.ru_stime);
  }
  m["server_lines"] = opt_int(num(stats, {"counters", "lines"}));
  // CPU per request: preferably everything the server used after READY
  // (wait4: microseconds, every process and thread) over every reply line it
  // produced (its own counter): exact, and not at the mercy of 10 ms ticks
  // in short cells. Otherwise (no stats: it crashed) the measurement window's
  // sampled CPU over the requests the load generator completed in it.
  std::string per_request_basis = "none";
  const double lines = num(stats, {"counters", "lines"}).value_or(0);
  const auto total_cpu = num(m, {"server_cpu_total_s"});
  const double completed = num(m, {"requests_completed"}).value_or(0);
  if (total_cpu && lines > 0) {
    double run_cpu = std::max(0.0, *total_cpu - static_cast<double>(idle_runtime_ns) / 1e9);
    m["server_cpu_us_per_request"] = run_cpu * 1e6 / lines;
    per_request_basis = "run cpu / server lines";
  } else if (window_cpu && completed > 0 && window == "measure") {
    m["server_cpu_us_per_request"] = *window_cpu * 1e6 / completed;
    per_request_basis = "measure cpu / completed requests";
  }
  const auto ctx = num(m, {"server_ctx_switches"});
  m["server_ctx_switches_per_request"] = ctx && lines > 0 ? json(*ctx / lines) : json(nullptr);
  r["metrics"] = m;
  r["measurement"] = {{"cpu_window", window},
                      {"window_start_s", std::round(w0 * 1000) / 1000},
                      {"window_end_s", std::round(w1 * 1000) / 1000},
                      {"samples", sampler_stats.samples},
                      {"sample_interval_ms_mean", std::round(sampler_stats.interval_ms_mean * 10) / 10},
                      {"sample_scan_ms_max", std::round(sampler_stats.scan_ms_max * 100) / 100},
                      {"sample_cpu_ms_total", std::round(sampler_stats.scan_cpu_ms_total * 100) / 100},
                      {"cpu_per_request_basis", per_request_basis},
                      {"server_startup_cpu_s", static_cast<double>(idle_runtime_ns) / 1e9}};

  // 6. The verdict, most specific first.
  if (lg) {
    const json& j = *lg;
    // Errors of every phase, not only the measured one: a request stuck since
    // the warm-up (a server that serves one connection at a time) only shows
    // up as a timeout in the drain.
    auto e = [&](const char* k) {
      if (j.contains("errors_by_phase") && j["errors_by_phase"].is_object()) {
        double t = 0;
        for (const auto& [phase_name, counts] : j["errors_by_phase"].items()) {
          t += num(counts, {k}).value_or(0);
        }
        return t;
      }
      return num(j, {"errors", k}).value_or(0);
    };
    double attempted = num(j, {"connect", "attempted"}).value_or(0);
    double cfailed = num(j, {"connect", "failed"}).value_or(0);
    double rejected = num(stats, {"counters", "rejected", "fd_setsize"}).value_or(0) +
                      num(stats, {"counters", "rejected", "fd_exhausted"}).value_or(0);
    double refused = e("connect_refused") + e("connect_timeout") + e("connect_other") +
                     e("addr_not_available");
    if (cfailed > 0 || refused > 0 || rejected > 0) {
      std::ostringstream ss;
      ss << "refused connections: " << static_cast<long long>(std::max(cfailed, refused)) << " of "
         << static_cast<long long>(attempted) << " connection attempts failed (refused "
         << e("connect_refused") << ", timeout " << e("connect_timeout") << ", no local address "
         << e("addr_not_available") << ", other " << e("connect_other") << ")";
      if (rejected > 0) ss << "; the server rejected " << rejected << " (fd limits)";
      fail(ss.str());
    }
    if (j.value("status", "") != "ok") {
      std::string why = j.contains("failure_reason") && j["failure_reason"].is_string()
                            ? j["failure_reason"].get<std::string>()
                            : "no reason given";
      fail("loadgen reported status failed: " + why);
    }
    if (e("reset") + e("unexpected_eof") > 0) {
      std::ostringstream ss;
      ss << "dropped connections: the server reset " << e("reset") << " and closed "
         << e("unexpected_eof") << " connections during the run";
      fail(ss.str());
    }
    double mism = num(j, {"verification", "mismatched_replies"}).value_or(0) + e("mismatch") +
                  e("short_reply");
    if (mism > 0) {
      std::ostringstream ss;
      ss << "verification errors: " << num(j, {"verification", "mismatched_replies"}).value_or(0)
         << " mismatched replies, " << e("short_reply") << " short replies";
      fail(ss.str());
    }
    if (e("request_timeout") > 0) {
      std::ostringstream ss;
      ss << "hung: " << e("request_timeout") << " requests got no reply within "
         << num(j, {"config", "timeout_s"}).value_or(0) << " s";
      fail(ss.str());
    }
    if (num(j, {"requests", "completed"}).value_or(0) <= 0) fail("zero completed requests");
  }
  if (stop_hung) {
    fail("hung: the server did not exit within " + fmt_double(kStopGraceS) +
         " s of SIGTERM (killed)");
  } else if (ex && !server_died && !ex->clean()) {
    fail("the server " + ex->describe() + " after SIGTERM");
  }
  if (!left.empty()) {
    fail("processes left running after stop: " + std::to_string(left.size()) +
         " of the server's group survived SIGKILL");
  }
  r["loadgen"] = lg ? *lg : json(nullptr);
  finish_record();
  return out;
}

}  // namespace muxbench::harness
