// muxbench serve-cell: the server side of one cell, on the server's host
// (agent.h has the protocol). Not meant to be run by hand, but it can be:
//
//   muxbench serve-cell --cpus 0 -- build/bin/muxbench-server --strategy epoll --port 0
//   (type "stop" and Enter to end it)
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent.h"
#include "commands.h"
#include "muxbench/net.h"
#include "muxbench/wire.h"
#include "sampler.h"

namespace muxbench::harness {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_agent_signal(int) { g_stop.store(true); }

struct ServeOpts {
  std::string cpus;
  double ready_timeout_s = 10;
  double stop_grace_s = 2;
  std::vector<std::string> server_argv;
};

void emit(const json& event) {
  std::string line = event.dump() + "\n";
  (void)!::write(STDOUT_FILENO, line.data(), line.size());
}

double tv_seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

std::string last_line(const std::string& text) {
  auto nl = text.find_last_of('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

// True when stdin says "stop" or closes, or a stop signal arrived; waits at
// most `ms` for it.
bool stop_requested(int ms, std::string& pending) {
  if (g_stop.load()) return true;
  pollfd p{STDIN_FILENO, POLLIN, 0};
  if (::poll(&p, 1, ms) <= 0) return g_stop.load();
  char buf[256];
  ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
  if (n <= 0) return true;  // EOF: the harness is gone or done with us
  pending.append(buf, static_cast<std::size_t>(n));
  return pending.find("stop") != std::string::npos;
}

// Waits for the READY line; returns the port, or 0 with *why set.
int wait_ready(Child& server, const std::string& err_path, double timeout_s, std::string* why) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));
  std::string pending;
  for (;;) {
    auto slice = std::min(deadline, Clock::now() + std::chrono::milliseconds(100));
    if (auto line = server.read_line(slice)) {
      if (int port = wire::ready_port(*line); port > 0) return port;
      continue;
    }
    if (Clock::now() < slice) std::this_thread::sleep_for(std::chrono::milliseconds(10));  // EOF
    if (server.exited()) {
      *why = server.exit_info()->describe() + " before READY: " + last_line(file_tail(err_path, 300));
      return 0;
    }
    if (Clock::now() >= deadline) {
      std::ostringstream ss;
      ss << "no READY line within " << timeout_s << " s: " << last_line(file_tail(err_path, 300));
      *why = ss.str();
      return 0;
    }
    if (g_stop.load()) {
      *why = "stopped before READY";
      return 0;
    }
  }
}

// SIGTERM, a grace period, then SIGKILL to the group; the "done" event.
json stop_server(Child& server, const ServeOpts& o, const std::string& stats_path,
                 const std::string& err_path) {
  bool stop_hung = false;
  if (!server.exited()) {
    server.signal(SIGTERM);
    auto grace = std::chrono::milliseconds(static_cast<long>(o.stop_grace_s * 1000));
    if (!server.wait_until(Clock::now() + grace)) stop_hung = true;
  }
  auto left = server.kill_group_and_reap(Clock::now() + std::chrono::seconds(5));
  json done = {{"event", "done"}, {"exit", nullptr}, {"clean", false},
               {"stop_hung", stop_hung}, {"stop_grace_s", o.stop_grace_s},
               {"left", left.size()}, {"cpu_total_s", nullptr}, {"ctx_switches", nullptr}};
  if (const auto& ex = server.exit_info()) {
    done["exit"] = ex->describe();
    done["clean"] = ex->clean();
    // wait4(): exact, for the server, all its threads and the children it
    // reaped; plus the orphans reaped here as subreaper.
    const rusage& a = ex->usage;
    const rusage& orphans = server.orphan_usage();
    done["ctx_switches"] = a.ru_nvcsw + a.ru_nivcsw + orphans.ru_nvcsw + orphans.ru_nivcsw;
    done["cpu_total_s"] = tv_seconds(a.ru_utime) + tv_seconds(a.ru_stime) +
                          tv_seconds(orphans.ru_utime) + tv_seconds(orphans.ru_stime);
  }
  json stats = nullptr;
  std::ifstream f(stats_path);
  if (f) stats = json::parse(f, nullptr, false);
  done["stats"] = stats.is_discarded() ? json(nullptr) : stats;
  done["stderr_tail"] = file_tail(err_path, 2000);
  return done;
}

int serve_cell_main(const ServeOpts& o) {
  raise_nofile_limit();
  ignore_sigpipe();
  become_subreaper();
  struct sigaction sa {};
  sa.sa_handler = on_agent_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);

  char tmpl[] = "/tmp/muxbench-cell-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    emit({{"event", "failed"}, {"reason", "cannot create a scratch directory in /tmp"}});
    return kExitError;
  }
  const std::string dir = tmpl;
  struct RemoveDir {
    std::string path;
    ~RemoveDir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } remove_dir{dir};
  const std::string stats_path = dir + "/server-stats.json";
  const std::string err_path = dir + "/server.stderr";

  SpawnOptions so;
  so.argv = o.server_argv;
  so.argv.insert(so.argv.end(), {"--stats", stats_path});
  so.stderr_path = err_path;
  std::string err;
  if (!o.cpus.empty()) {
    auto cpus = parse_cpu_list(o.cpus, &err);
    if (!cpus) {
      emit({{"event", "failed"}, {"reason", "--cpus " + err}});
      return kExitError;
    }
    so.cpus = *cpus;
  }
  auto server = Child::spawn(so, &err);
  if (!server) {
    emit({{"event", "failed"}, {"reason", err}});
    emit({{"event", "done"}, {"exit", nullptr}, {"clean", false}, {"left", 0}});
    return kExitOk;
  }
  std::string why;
  const int port = wait_ready(*server, err_path, o.ready_timeout_s, &why);
  if (port == 0) {
    emit({{"event", "failed"}, {"reason", why}});
    emit(stop_server(*server, o, stats_path, err_path));
    return kExitOk;
  }
  const auto t_ready = Clock::now();
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  GroupSample idle = sample_group(server->pid());
  auto idle_pss = group_pss_bytes(server->pid());
  emit({{"event", "ready"}, {"port", port}, {"pid", server->pid()}, {"host", host},
        {"argv", so.argv},
        {"idle", {{"rss_bytes", idle.rss_bytes},
                  {"mem_available_bytes", idle.mem_available_bytes},
                  {"runtime_ns", process_runtime_ns(server->pid())},
                  {"pss_bytes", idle_pss ? json(*idle_pss) : json(nullptr)}}}});

  Sampler sampler(server->pid(), t_ready);
  std::size_t sent = 0;
  bool died = false;
  std::string pending;
  auto stream_samples = [&](const std::vector<GroupSample>& s) {
    for (const auto& x : s) {
      json e = sample_to_json(x);
      e["event"] = "sample";
      emit(e);
    }
    sent += s.size();
  };
  while (!stop_requested(100, pending)) {
    stream_samples(sampler.samples_from(sent));
    if (!died && server->exited()) {
      died = true;
      emit({{"event", "exited"},
            {"t_s", std::chrono::duration<double>(Clock::now() - t_ready).count()},
            {"exit", server->exit_info()->describe()}});
    }
  }
  auto all = sampler.stop();
  if (all.size() > sent) stream_samples({all.begin() + static_cast<std::ptrdiff_t>(sent), all.end()});
  json done = stop_server(*server, o, stats_path, err_path);
  Sampler::Stats st = sampler.stats();
  done["sampler"] = {{"samples", st.samples},
                     {"interval_ms_mean", std::round(st.interval_ms_mean * 10) / 10},
                     {"scan_ms_max", std::round(st.scan_ms_max * 100) / 100},
                     {"scan_cpu_ms_total", std::round(st.scan_cpu_ms_total * 100) / 100}};
  auto pss = sampler.pss_peak_bytes();
  done["pss_peak_bytes"] = pss ? json(*pss) : json(nullptr);
  emit(done);
  return kExitOk;
}

}  // namespace

CommandMain setup_serve_cell(CLI::App& sub) {
  auto o = std::make_shared<ServeOpts>();
  sub.add_option("--cpus", o->cpus, "Pin the server to these CPUs of this host, e.g. 0 or 0-3");
  sub.add_option("--ready-timeout", o->ready_timeout_s, "Seconds to wait for the READY line")
      ->check(CLI::Range(0.1, 600.0));
  sub.add_option("--stop-grace", o->stop_grace_s, "Seconds from SIGTERM to SIGKILL")
      ->check(CLI::Range(0.1, 60.0));
  sub.add_option("server", o->server_argv, "The server's command line, after --")
      ->required()
      ->expected(-1);
  return [o]() -> int { return serve_cell_main(*o); };
}

}  // namespace muxbench::harness
