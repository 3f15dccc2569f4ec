// muxbench run: plans the cells of a suite and runs them one at a time,
// recording each in the results file as soon as it ends.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cell.h"
#include "commands.h"
#include "environment.h"
#include "hosts.h"
#include "muxbench/net.h"
#include "progress.h"
#include "report.h"
#include "results.h"
#include "spawn.h"

namespace muxbench::harness {
namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_stop_signal(int) { g_interrupted.store(true); }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

struct RunOpts {
  std::string suite;
  std::string strategies, workloads, connections;
  int repeat = -1;  // -1 (and -1.0): not given
  double duration = -1, warmup = -1;
  std::string out, resume;
  bool force = false;  // --out may overwrite an existing file
  bool allow_debug = false;
  std::string cpu_server, cpu_loadgen;
  std::vector<std::string> server_args;
  std::string bin_dir;
  std::string hosts;   // a host file: the server and load generators on other hosts
  int loadgen_ranks = -1;
  bool unpinned = false;
  bool dry_run = false;
};

bool has_overrides(const RunOpts& o) {
  return !o.suite.empty() || !o.strategies.empty() || !o.workloads.empty() ||
         !o.connections.empty() || o.repeat != -1 || o.duration != -1 || o.warmup != -1 ||
         !o.cpu_server.empty() || !o.cpu_loadgen.empty() || !o.server_args.empty() ||
         o.loadgen_ranks != -1 || o.unpinned;
}

json identity(json suite) {
  suite.erase("source");
  suite.erase("description");
  return suite;
}

// The first top-level key where two suites differ, for the resume error.
std::string first_difference(const json& a, const json& b) {
  for (const auto& [k, v] : a.items()) {
    if (!b.contains(k)) return k + " (only in the results file)";
    if (b[k] != v) return k + ": " + v.dump() + " in the results file, " + b[k].dump() + " now";
  }
  for (const auto& [k, v] : b.items()) {
    if (!a.contains(k)) return k + " (only now)";
  }
  return "?";
}

void apply_overrides(Suite& s, const RunOpts& o, const std::vector<StrategyInfo>& catalog) {
  if (!o.strategies.empty()) override_strategies(s, o.strategies, catalog);
  if (!o.workloads.empty()) override_workloads(s, o.workloads);
  if (!o.connections.empty()) override_connections(s, o.connections);
  if (o.repeat != -1) override_repeat(s, o.repeat);
  if (o.duration != -1) override_duration(s, o.duration);
  if (o.warmup != -1) override_warmup(s, o.warmup);
  if (o.loadgen_ranks != -1) override_loadgen_ranks(s, o.loadgen_ranks);
  override_placement(s, o.cpu_server, o.cpu_loadgen);
  if (!o.unpinned && o.hosts.empty()) default_placement(s, ::sysconf(_SC_NPROCESSORS_ONLN));
  override_server_args(s, o.server_args);
}

void print_plan(const std::vector<CellPlan>& cells, const Suite& s) {
  double total = 0;
  int run = 0;
  for (const auto& c : cells) {
    double est = estimate_cell_seconds(c, s);
    total += est;
    run += !c.skip_reason;
    if (c.skip_reason) {
      std::printf("  %-36s skip: %s\n", c.id.c_str(), c.skip_reason->c_str());
    } else {
      std::printf("  %-36s active %-6d ~%.1f s\n", c.id.c_str(), c.active, est);
    }
  }
  std::printf("%zu cells: %d to run, %zu skipped; estimated %s\n", cells.size(), run,
              cells.size() - static_cast<std::size_t>(run), format_duration(total).c_str());
}

bool sleep_interruptible(double seconds) {
  auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (g_interrupted.load()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return !g_interrupted.load();
}

// Runs `muxbench host-info` on one host of the host file through mpirun:
// that host's environment and benchmark interface, and proof that the
// launcher reaches it before any cell depends on it.
json remote_host_info(const HostFile& hf, const Host& h, const std::string& harness_path,
                      const std::string& work_dir) {
  std::string self = hf.launcher.bin_dir.empty() ? harness_path : hf.launcher.bin_dir + "/muxbench";
  SpawnOptions so;
  so.argv = mpirun_argv(hf.launcher, {{h.name, 1, {self, "host-info", "--address", h.address}}});
  so.env = launcher_env(hf.launcher);
  so.stdout_path = work_dir + "/host-info.stdout";
  so.stderr_path = work_dir + "/host-info.stderr";
  std::string err;
  auto c = Child::spawn(so, &err);
  if (!c) throw std::runtime_error(hf.path + ": cannot run mpirun for host " + h.name + ": " + err);
  if (!c->wait_until(Clock::now() + std::chrono::seconds(60))) {
    c->signal(SIGTERM);
    c->kill_group_and_reap(Clock::now() + std::chrono::seconds(5));
    throw std::runtime_error(hf.path + ": mpirun did not reach host " + h.name + " within 60 s: " +
                             file_tail(so.stderr_path, 500));
  }
  std::ifstream f(so.stdout_path);
  for (std::string line; std::getline(f, line);) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("kernel")) return j;
  }
  throw std::runtime_error(hf.path + ": host " + h.name + " did not answer through mpirun (" +
                           c->exit_info()->describe() + "): " + file_tail(so.stderr_path, 500));
}

// What the results file records about where the run happened: this machine
// (the harness's) as before, plus every host of a host file and the network
// path between load generators and server.
json run_environment(const std::string& server_path, const std::string& loadgen_path,
                     const HostFile* hf, const std::string& harness_path, const std::string& work_dir) {
  json e = collect_environment(server_path, loadgen_path);
  if (hf == nullptr) {
    e["network"] = {{"kind", "loopback"}, {"server_address", "127.0.0.1"},
                    {"path", json::array({{{"host", nullptr}, {"role", "server+loadgen"},
                                           {"interface", interface_for("127.0.0.1")}}})},
                    {"netem", nullptr}};
    return e;
  }
  json hosts = json::array(), path = json::array();
  for (const Host& h : hf->hosts) {
    json info = remote_host_info(*hf, h, harness_path, work_dir);
    json itf = info["interface"];
    info.erase("interface");
    hosts.push_back({{"name", h.name}, {"role", h.role}, {"address", h.address},
                     {"cpus", h.cpus.empty() ? json(nullptr) : json(h.cpus)}, {"environment", info}});
    path.push_back({{"host", h.name}, {"role", h.role}, {"interface", itf}});
  }
  e["hosts"] = hosts;
  json net = hf->network.is_object() ? hf->network : json::object();
  e["network"] = {{"kind", net.value("kind", std::string("hosts"))},
                  {"server_address", hf->server().address},
                  {"path", path},
                  {"netem", net.value("netem", json())},
                  {"host_file", hf->to_json()}};
  return e;
}

// Why an existing --out is not overwritten, and what to do instead: one line.
std::string existing_out_message(const std::string& path) {
  try {
    json d = ResultsFile::load(path);
    const std::string cells = std::to_string(d["cells"].size()) + " cells";
    if (d["finished"].is_string()) {
      return "--out " + path + ": a finished results file is there (" + cells +
             "); pass --force to overwrite it, or choose another --out";
    }
    return "--out " + path + ": an unfinished results file is there (" + cells +
           "); continue it with --resume " + path + ", or pass --force to overwrite it";
  } catch (const SuiteError&) {
  }
  return "--out " + path + ": the file exists (not a readable results file); pass --force to "
         "overwrite it, or choose another --out";
}

// run_main's steps. Each returns kExitOk to go on, or the exit status.

// Refuses a debug or sanitizer build, and an --out that exists.
int refuse_early(const RunOpts& o) {
  BuildInfo build = build_info();
  if (build.unfit_for_results() && !o.allow_debug && !o.dry_run) {
    error("refusing to record results from a " +
          (build.build_type.empty() ? std::string("build without a type") : build.build_type + " build") +
          " (sanitizer: " + build.sanitizer +
          "): its numbers mean nothing. Build the release preset (cmake --preset release && cmake "
          "--build build), or pass --allow-debug-build to record anyway (the file says which build).");
    return kExitUsage;
  }
  // A results file is never overwritten by accident (docs/results.md).
  if (!o.out.empty() && o.resume.empty() && !o.force && !o.dry_run &&
      ::access(o.out.c_str(), F_OK) == 0) {
    error(existing_out_message(o.out));
    return kExitUsage;
  }
  return kExitOk;
}

// Resuming: the suite recorded in the file, which the flags (if any) must
// match. Throws SuiteError.
int resumed_suite(const RunOpts& o, const std::vector<StrategyInfo>& catalog, Suite& suite,
                  json& resumed_doc) {
  if (!o.out.empty() && o.out != o.resume) {
    error("--out and --resume name different files; --resume continues the file it names");
    return kExitUsage;
  }
  resumed_doc = ResultsFile::load(o.resume);
  Suite recorded;
  try {
    recorded = parse_suite(resumed_doc["suite"], catalog, "resumed");
  } catch (const SuiteError& e) {
    throw SuiteError("--resume " + o.resume + ": the recorded suite no longer validates: " + e.what());
  }
  recorded.source = resumed_doc["suite"].value("source", "");
  if (!has_overrides(o)) {
    suite = recorded;
    return kExitOk;
  }
  suite = o.suite.empty() ? recorded : load_suite(o.suite, catalog);
  apply_overrides(suite, o, catalog);
  json a = identity(resumed_doc["suite"]);
  json b = identity(suite_to_json(suite));
  if (a != b) {
    error("--resume " + o.resume + ": the suite differs from the one recorded in the file (" +
          first_difference(a, b) + "); run `muxbench run --resume " + o.resume +
          "` without suite flags to continue it as it was");
    return kExitUsage;
  }
  return kExitOk;
}

// The suite: from the flags, or (resuming) from the results file.
int choose_suite(const RunOpts& o, const std::vector<StrategyInfo>& catalog, Suite& suite,
                 json& resumed_doc) {
  try {
    if (!o.resume.empty()) return resumed_suite(o, catalog, suite, resumed_doc);
    suite = load_suite(o.suite.empty() ? "default" : o.suite, catalog);
    apply_overrides(suite, o, catalog);
    return kExitOk;
  } catch (const SuiteError& e) {
    error(e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    error(e.what());
    return kExitError;
  }
}

// What the cells need before any runs: enough load-host slots, and a load
// generator when some cell is to run.
int check_runnable(const RunOpts& o, const Suite& suite, const std::vector<CellPlan>& cells,
                   const CellEnv& env) {
  if (env.hosts != nullptr) {
    int slots = 0;
    for (const Host* h : env.hosts->load_hosts()) slots += h->slots;
    if (suite.loadgen_ranks > slots) {
      error(o.hosts + ": " + std::to_string(suite.loadgen_ranks) + " load-generator ranks asked for, but the " +
            "load hosts have " + std::to_string(slots) + " slots; allowed: --loadgen-ranks up to " +
            std::to_string(slots) + ", or more slots in the host file");
      return kExitUsage;
    }
  }
  bool any_to_run = false;
  for (const auto& c : cells) any_to_run |= !c.skip_reason;
  if (any_to_run && ::access(env.loadgen_path.c_str(), X_OK) != 0) {
    error(env.loadgen_path + " is not there (or not executable): build it (cmake --build build "
          "--target muxbench-loadgen), or point --bin-dir at a build that has it");
    return kExitError;
  }
  return kExitOk;
}

// Resuming with another host, commit, build or network path is allowed, and
// said on stderr.
void warn_about_changes(const json& was, const json& now) {
  for (const char* k : {"host", "git_commit", "build_type", "sanitizer", "network"}) {
    json a = was.value(k, json()), b = now.value(k, json());
    if (std::string(k) == "network") {  // the path, not its live details
      a = a.is_object() ? json({a.value("kind", json()), a.value("server_address", json())}) : a;
      b = json({b.value("kind", json()), b.value("server_address", json())});
    }
    if (a != b) {
      std::fprintf(stderr, "muxbench: warning: resuming with a different %s (%s, was %s)\n", k,
                   b.dump().c_str(), a.dump().c_str());
    }
  }
}

// The results file, which exists from the start (with no cells yet), or the
// one being resumed.
int open_results(const RunOpts& o, const Suite& suite, const CellEnv& env, const json& resumed_doc,
                 const std::vector<std::string>& argv, std::optional<ResultsFile>& results) {
  try {
    json now = run_environment(env.server_path, env.loadgen_path, env.hosts, env.harness_path,
                               env.work_dir);
    if (!o.resume.empty()) {
      results.emplace(o.resume, resumed_doc);
      warn_about_changes(resumed_doc["environment"], now);
      results->note_resumed(now);
    } else {
      std::string path = o.out.empty() ? default_results_path(suite.name) : o.out;
      results.emplace(path, ResultsFile::new_document(now, suite_to_json(suite), argv));
      results->write();
    }
  } catch (const std::exception& e) {
    error(e.what());
    return kExitError;
  }
  return kExitOk;
}

// Runs (or records as skipped) every cell not yet in the file, in order, with
// a pause between cells; stops at SIGINT/SIGTERM. True when interrupted.
bool sweep(const std::vector<CellPlan>& cells, const Suite& suite, const CellEnv& env,
           ResultsFile& results, Progress& progress) {
  bool ran_one = false;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const CellPlan& c = cells[i];
    if (results.has_cell(c.id)) continue;
    if (g_interrupted.load()) return true;
    double est = estimate_cell_seconds(c, suite);
    if (c.skip_reason) {
      progress.begin_cell(static_cast<int>(i), c, est);
      json rec = skipped_cell(c, env);
      results.add_cell(rec);
      progress.end_cell(rec);
      continue;
    }
    // Let TIME_WAIT sockets and dying processes of the last cell settle.
    if (ran_one) {
      progress.phase("pause");
      if (!sleep_interruptible(suite.pause_s)) return true;
    }
    ran_one = true;
    progress.begin_cell(static_cast<int>(i), c, est);
    CellOutcome outcome = run_cell(c, env);
    if (outcome.interrupted) return true;
    results.add_cell(outcome.record);
    progress.end_cell(outcome.record);
  }
  return false;
}

// Sweeps the cells with live progress, then says how it ended.
int run_cells(const std::vector<CellPlan>& cells, const Suite& suite, CellEnv& env,
              ResultsFile& results) {
  install_signal_handlers();
  env.interrupted = &g_interrupted;
  int already = 0;
  double estimate = 0;
  for (const auto& c : cells) {
    if (results.has_cell(c.id)) {
      ++already;
    } else {
      estimate += estimate_cell_seconds(c, suite);
    }
  }
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  std::fprintf(stderr, "muxbench: suite %s: %zu cells (%d already recorded), about %s; results in %s\n",
               suite.name.c_str(), cells.size(), already, format_duration(estimate).c_str(),
               results.path().c_str());
  Progress progress(static_cast<int>(cells.size()), estimate, tty);
  env.on_phase = [&](const std::string& p) { progress.phase(p); };
  env.on_tick = [&] { progress.tick(); };

  bool interrupted = false;
  try {
    interrupted = sweep(cells, suite, env, results, progress);
    if (interrupted) {
      results.write();
    } else {
      results.set_finished();
    }
  } catch (const std::exception& e) {
    progress.clear();
    error(e.what());
    return kExitError;
  }
  progress.clear();
  if (interrupted) {
    std::fprintf(stderr,
                 "muxbench: interrupted; %zu cells are recorded in %s.\n"
                 "muxbench: continue with: muxbench run --resume %s\n",
                 results.cell_count(), results.path().c_str(), results.path().c_str());
    return kExitInterrupted;
  }
  std::printf("%s", summary_tables(results.doc()).c_str());
  std::printf("\nresults: %s\n", results.path().c_str());
  return kExitOk;
}

// Removes the run's scratch directory on every way out.
struct RemoveDir {
  std::string path;
  ~RemoveDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

int run_main(const RunOpts& o, const std::vector<std::string>& argv) {
  if (int rc = refuse_early(o); rc != kExitOk) return rc;
  const std::string bin = o.bin_dir.empty() ? default_bin_dir() : o.bin_dir;
  raise_nofile_limit();
  ignore_sigpipe();
  become_subreaper();

  std::optional<HostFile> hosts;
  if (!o.hosts.empty()) {
    try {
      hosts = load_host_file(o.hosts);
    } catch (const SuiteError& e) {
      error(e.what());
      return kExitUsage;
    }
  }
  std::string err;
  auto catalog = load_strategies(bin + "/muxbench-server", &err);
  if (!catalog) {
    error(err);
    return kExitError;
  }
  Suite suite;
  json resumed_doc;
  if (int rc = choose_suite(o, *catalog, suite, resumed_doc); rc != kExitOk) return rc;

  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  const long nofile_hard = rl.rlim_max == RLIM_INFINITY ? 0 : static_cast<long>(rl.rlim_max);
  std::vector<CellPlan> cells = plan_cells(suite, *catalog, nofile_hard);
  if (o.dry_run) {
    std::printf("suite %s (%s)\n", suite.name.c_str(), suite.source.c_str());
    print_plan(cells, suite);
    return kExitOk;
  }

  CellEnv env;
  env.harness_path = self_path();
  env.server_path = bin + "/muxbench-server";
  env.loadgen_path = bin + "/muxbench-loadgen";
  env.server_cpus_text = suite.placement.server_cpus;
  env.loadgen_cpus_text = suite.placement.loadgen_cpus;
  env.hosts = hosts ? &*hosts : nullptr;
  if (int rc = check_runnable(o, suite, cells, env); rc != kExitOk) return rc;

  char tmpl[] = "/tmp/muxbench-run-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    error("cannot create a scratch directory in /tmp: " + errno_string(errno));
    return kExitError;
  }
  env.work_dir = tmpl;
  RemoveDir remove_work_dir{env.work_dir};

  std::optional<ResultsFile> results;
  if (int rc = open_results(o, suite, env, resumed_doc, argv, results); rc != kExitOk) return rc;
  return run_cells(cells, suite, env, *results);
}

}  // namespace

CommandMain setup_run(CLI::App& sub) {
  auto o = std::make_shared<RunOpts>();
  std::string suites;
  for (const auto& [name, text] : builtin_suites()) suites += (suites.empty() ? "" : ", ") + name;
  sub.add_option("--suite", o->suite,
                 "A built-in suite (" + suites + ") or a suite JSON file (default: default)");
  sub.add_option("--strategies", o->strategies, "Comma-separated strategies, or all (overrides the suite)");
  sub.add_option("--workloads", o->workloads, "Comma-separated workloads: " + workload_names());
  sub.add_option("--connections", o->connections, "Comma-separated connection counts, for every workload");
  sub.add_option("--repeat", o->repeat, "Repetitions of every cell, interleaved across strategies");
  sub.add_option("--duration", o->duration, "Seconds measured per cell");
  sub.add_option("--warmup", o->warmup, "Seconds of warm-up per cell, not measured");
  sub.add_option("--out", o->out,
                 "Results file (default: results/<date>-<host>-<suite>.json); an existing one is "
                 "refused unless --force");
  sub.add_flag("--force", o->force, "Let --out overwrite an existing file");
  sub.add_option("--resume", o->resume, "Continue an interrupted results file, skipping recorded cells");
  sub.add_flag("--allow-debug-build", o->allow_debug, "Record results even from a Debug or sanitizer build");
  sub.add_option("--cpu-server", o->cpu_server, "Pin the server to these CPUs, e.g. 0 or 0-1");
  sub.add_option("--cpu-loadgen", o->cpu_loadgen, "Pin the load generator to these CPUs, e.g. 1");
  sub.add_flag("--unpinned", o->unpinned,
               "Do not pin by default (on 2+ CPUs, a suite without a placement runs the server on "
               "CPU 0 and the load generator on the others)");
  sub.add_option("--server-arg", o->server_args,
                 "An extra server flag for every strategy, e.g. --server-arg=--delay-us=200 "
                 "(repeatable; recorded in params.server_args)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub.add_option("--hosts", o->hosts,
                 "A host file (docs/distributed.md): the server and the load generators on the hosts "
                 "it names, launched through mpirun; scripts/testbed.sh writes one");
  sub.add_option("--loadgen-ranks", o->loadgen_ranks,
                 "Load-generator processes per cell (mpirun ranks; with --hosts spread over the load hosts)");
  sub.add_option("--bin-dir", o->bin_dir, "Directory of muxbench-server and muxbench-loadgen (default: next to muxbench)");
  sub.add_flag("--dry-run", o->dry_run, "Validate the suite, list its cells and the estimated time; run nothing");
  return [o]() -> int { return run_main(*o, command_line()); };
}

}  // namespace muxbench::harness
