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

#include "agent.h"
#include "cell_observation.h"
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

std::string fmt_double(double v) {
  std::ostringstream ss;
  ss << v;
  return ss.str();
}

json cell_placement(const CellPlan& plan, const CellEnv& env);  // below, with the layout

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
                 {"loadgen_ranks", p.loadgen_ranks},
                 {"server_args", p.server_args}};
  // Only when set, so that cells of suites without server_threads keep
  // matching older results in `compare`.
  if (p.server_threads) r["params"]["server_threads"] = *p.server_threads;
  r["placement"] = cell_placement(plan, env);
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
                                      const std::string& target, const std::string& json_path,
                                      const std::string& cpus) {
  const CellParams& p = plan.params;
  std::vector<std::string> a = {loadgen_path,
                                "--target", target,
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
  if (!cpus.empty()) {  // it pins itself, and its report says so
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

namespace {

// Where a cell's processes go, and the command lines that put them there.
struct CellLayout {
  SpawnOptions agent;      // the serve-cell agent (direct, or mpirun running it)
  std::string server_host;  // "" : this machine
  std::string server_address;
  std::vector<AppContext> loadgen_apps;  // one per load host; host "" : this machine
  bool loadgen_mpi = false;
  json placement;          // as recorded
};

std::string remote_path(const CellEnv& env, const std::string& local_path) {
  if (env.hosts == nullptr || env.hosts->launcher.bin_dir.empty()) return local_path;
  return env.hosts->launcher.bin_dir + local_path.substr(local_path.find_last_of('/'));
}

std::string host_port(const std::string& address, int port) {
  bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

// The load hosts that K ranks go to: round-robin, each within its slots.
std::vector<std::pair<const Host*, int>> spread_ranks(const HostFile& hf, int ranks) {
  std::vector<std::pair<const Host*, int>> out;
  for (const Host* h : hf.load_hosts()) out.emplace_back(h, 0);
  for (int r = 0; r < ranks; ++r) out[static_cast<std::size_t>(r) % out.size()].second++;
  std::erase_if(out, [](const auto& p) { return p.second == 0; });
  return out;
}

CellLayout layout_cell(const CellPlan& plan, const CellEnv& env) {
  CellLayout l;
  const int ranks = plan.params.loadgen_ranks;
  json lg_place = json::array();
  std::vector<std::string> agent = {remote_path(env, env.harness_path), "serve-cell",
                                    "--ready-timeout", fmt_double(kReadyTimeoutS),
                                    "--stop-grace", fmt_double(kStopGraceS)};
  std::string server_cpus = env.server_cpus_text;
  if (env.hosts != nullptr) {
    const Host& s = env.hosts->server();
    l.server_host = s.name;
    l.server_address = s.address;
    server_cpus = s.cpus;
    for (const auto& [h, n] : spread_ranks(*env.hosts, ranks)) {
      l.loadgen_apps.push_back({h->name, n, {}});
      lg_place.push_back({{"host", h->name}, {"address", h->address}, {"ranks", n},
                          {"cpus", h->cpus.empty() ? json(nullptr) : json(h->cpus)}});
    }
    l.loadgen_mpi = true;
  } else {
    l.server_address = "127.0.0.1";
    l.loadgen_apps.push_back({"", ranks, {}});
    lg_place.push_back({{"host", nullptr}, {"address", "127.0.0.1"}, {"ranks", ranks},
                        {"cpus", env.loadgen_cpus_text.empty() ? json(nullptr) : json(env.loadgen_cpus_text)}});
    l.loadgen_mpi = ranks > 1;
  }
  if (!server_cpus.empty()) agent.insert(agent.end(), {"--cpus", server_cpus});
  agent.insert(agent.end(), {"--", remote_path(env, env.server_path), "--strategy", plan.strategy,
                             "--port", "0", "--bind", l.server_address});
  if (plan.params.server_threads) {
    agent.insert(agent.end(), {"--threads", std::to_string(*plan.params.server_threads)});
  }
  agent.insert(agent.end(), plan.params.server_args.begin(), plan.params.server_args.end());
  if (env.hosts != nullptr) {
    l.agent.argv = mpirun_argv(env.hosts->launcher, {{l.server_host, 1, agent}});
    l.agent.env = launcher_env(env.hosts->launcher);
  } else {
    l.agent.argv = agent;
  }
  l.agent.stderr_path = env.work_dir + "/agent.stderr";
  l.placement = {
      {"server_cpus", server_cpus.empty() ? json(nullptr) : json(server_cpus)},
      {"loadgen_cpus", env.hosts ? json(nullptr)
                                 : env.loadgen_cpus_text.empty() ? json(nullptr) : json(env.loadgen_cpus_text)},
      {"server_host", env.hosts ? json(l.server_host) : json(nullptr)},
      {"server_address", l.server_address},
      {"loadgen", lg_place},
      {"loadgen_ranks", ranks}};
  if (env.hosts != nullptr && !lg_place.empty()) l.placement["loadgen_cpus"] = lg_place[0]["cpus"];
  return l;
}

json cell_placement(const CellPlan& plan, const CellEnv& env) { return layout_cell(plan, env).placement; }

// The load generator's command line: direct, or under mpirun (one context
// per load host, each pinned to that host's CPUs).
SpawnOptions loadgen_spawn(const CellPlan& plan, const CellEnv& env, const CellLayout& l, int port) {
  SpawnOptions o;
  const std::string target = host_port(l.server_address, port);
  const std::string path = l.loadgen_mpi ? remote_path(env, env.loadgen_path) : env.loadgen_path;
  if (!l.loadgen_mpi) {
    o.argv = loadgen_argv(plan, path, target, "-", env.loadgen_cpus_text);
  } else {
    std::vector<AppContext> apps = l.loadgen_apps;
    for (AppContext& a : apps) {
      std::string cpus = env.loadgen_cpus_text;
      if (env.hosts != nullptr) {
        for (const Host& h : env.hosts->hosts) {
          if (h.name == a.host) cpus = h.cpus;
        }
      }
      a.argv = loadgen_argv(plan, path, target, "-", cpus);
    }
    const Launcher launcher = env.hosts ? env.hosts->launcher : local_launcher();
    o.argv = mpirun_argv(launcher, apps);
    o.env = launcher_env(launcher);
  }
  o.stdout_path = env.work_dir + "/loadgen.stdout";
  o.stderr_path = env.work_dir + "/loadgen.stderr";
  return o;
}

// Rank 0's report from the load generator's stdout: the whole text, or else
// the last line that is a JSON object (mpirun may add lines of its own). A
// report that is not an object, or whose fields have the wrong type, is no
// report: *err names the field (check_loadgen_report).
std::optional<json> parse_report(const std::string& path, std::string* err) {
  std::ifstream f(path);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    *err = "no JSON written";
    return std::nullopt;
  }
  json j = json::parse(text, nullptr, false);
  std::optional<json> last;
  if (j.is_object()) {
    last = std::move(j);
  } else {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty() || line[0] != '{') continue;
      json x = json::parse(line, nullptr, false);
      if (x.is_object()) last = x;
    }
  }
  if (!last && j.is_discarded()) {
    *err = "unreadable JSON";
    return std::nullopt;
  }
  try {
    check_loadgen_report(last ? *last : j, "report");
  } catch (const SuiteError& e) {
    *err = std::string("an invalid report: ") + e.what();
    return std::nullopt;
  }
  return last;
}

void stop_process(Child& c) {
  c.signal(SIGTERM);  // mpirun relays it to its ranks; a lone loadgen ends early
  c.wait_until(Clock::now() + std::chrono::seconds(2));
  c.kill_group_and_reap(Clock::now() + std::chrono::seconds(3));
}

// Runs the load generator to its end (or the hard timeout), showing its
// phase and polling the server agent for a death. False: interrupted.
bool run_loadgen(const CellPlan& plan, const CellEnv& env, const CellLayout& layout, int port,
                 ServerAgent& agent, LoadgenObservation& lg, json& proc) {
  auto interrupted = [&] { return env.interrupted != nullptr && env.interrupted->load(); };
  SpawnOptions lo = loadgen_spawn(plan, env, layout, port);
  proc = {{"argv", lo.argv}, {"pid", nullptr}, {"exit", nullptr}, {"stderr_tail", ""}};
  std::string err;
  const auto t_lg = Clock::now();
  auto loadgen = Child::spawn(lo, &err);
  lg.start_s = seconds_since(agent.ready_at(), t_lg);
  if (!loadgen) {
    lg.start_error = err;
    return true;
  }
  lg.started = true;
  proc["pid"] = loadgen->pid();
  lg.timeout_s = loadgen_timeout_s(plan) + (layout.loadgen_mpi ? kLaunchMarginS : 0);
  const double load_s = plan.params.warmup_s + plan.params.duration_s;
  const double ramp_guess = plan.params.reconnect ? 0 : plan.connections / 4000.0;
  std::string shown;
  for (;;) {
    if (interrupted()) {
      stop_process(*loadgen);
      return false;
    }
    if (loadgen->exited()) break;
    const bool server_alive = agent.poll();
    double t = seconds_since(t_lg, Clock::now());
    if (t > lg.timeout_s) {
      lg.timed_out = true;
      stop_process(*loadgen);
      break;
    }
    std::string ph = !server_alive                       ? "server died"
                     : t < ramp_guess                    ? "connect"
                     : t < ramp_guess + plan.params.warmup_s ? "warmup"
                     : t < ramp_guess + load_s           ? "measure"
                                                         : "drain";
    if (ph != shown && env.on_phase) env.on_phase(ph);
    shown = ph;
    if (env.on_tick) env.on_tick();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  lg.end_s = seconds_since(agent.ready_at(), Clock::now());
  agent.poll();
  lg.exit = loadgen->exit_info() ? loadgen->exit_info()->describe() : "";
  lg.stderr_tail = file_tail(lo.stderr_path, 2000);
  proc["exit"] = lg.exit.empty() ? json(nullptr) : json(lg.exit);
  proc["stderr_tail"] = lg.stderr_tail;
  lg.report = parse_report(lo.stdout_path, &lg.report_error);
  return true;
}

}  // namespace

CellOutcome run_cell(const CellPlan& plan, const CellEnv& env) {
  CellOutcome out;
  json& r = out.record;
  r = base_record(plan, env);
  const auto t_start = Clock::now();
  auto phase = [&](const std::string& name) {
    if (env.on_phase) env.on_phase(name);
  };
  auto interrupted = [&] { return env.interrupted != nullptr && env.interrupted->load(); };
  const CellLayout layout = layout_cell(plan, env);
  r["placement"] = layout.placement;

  // 1. The server, through its agent, up to READY.
  phase("start");
  std::string err;
  auto agent = ServerAgent::start(layout.agent, &err);
  ServerObservation no_server;
  LoadgenObservation lg;
  json lg_proc = nullptr;
  int port = 0;
  if (!agent) {
    no_server.start_failure = "the server agent did not start: " + err;
  } else {
    const double launch = env.hosts ? kLaunchMarginS : 5;
    port = agent->wait_ready(after(kReadyTimeoutS + launch), interrupted);
    if (interrupted()) {
      agent->abandon();
      out.interrupted = true;
      return out;
    }
  }
  // 2. The load generator against it, while the agent samples the server.
  if (port != 0 && !run_loadgen(plan, env, layout, port, *agent, lg, lg_proc)) {
    agent->abandon();
    out.interrupted = true;
    return out;
  }
  // 3. Stop the server; the agent makes sure nothing of it is left.
  phase("stop");
  if (agent) agent->stop(after(kStopGraceS + 10 + (env.hosts ? 10 : 0)));
  const ServerObservation& so = agent ? agent->obs() : no_server;

  // 4. The record: what both sides saw, as metrics and a verdict.
  r["server"] = {{"host", layout.server_host.empty() ? json(nullptr) : json(layout.server_host)},
                 {"argv", so.ready.is_object() ? so.ready.value("argv", json()) : json()},
                 {"agent_argv", layout.agent.argv},
                 {"pid", so.ready.is_object() ? so.ready.value("pid", json()) : json()},
                 {"ready_s", agent && !so.ready.is_null()
                                 ? json(std::round(seconds_since(t_start, agent->ready_at()) * 1000) / 1000)
                                 : json(nullptr)},
                 {"stats", so.done.is_object() ? so.done.value("stats", json()) : json()},
                 {"exit", so.done.is_object() ? so.done.value("exit", json()) : json()},
                 {"stderr_tail", so.done.is_object() ? so.done.value("stderr_tail", std::string()) : ""}};
  if (!lg_proc.is_null()) r["loadgen_process"] = lg_proc;
  json measurement;
  r["metrics"] = cell_metrics(plan, so, lg, &measurement);
  r["measurement"] = measurement;
  r["loadgen"] = lg.report ? *lg.report : json(nullptr);
  r["elapsed_s"] = std::round(seconds_since(t_start, Clock::now()) * 1000) / 1000;
  const CellVerdict verdict = cell_verdict(so, lg);
  r["status"] = verdict.status;
  r["reason"] = verdict.reason ? json(*verdict.reason) : json(nullptr);
  out.launch_hung = layout.loadgen_mpi && loadgen_never_reached(so, lg);
  return out;
}

}  // namespace muxbench::harness
