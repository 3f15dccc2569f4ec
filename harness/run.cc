// muxbench run: plans the cells of a suite and runs them one at a time,
// recording each in the results file as soon as it ends.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "cell.h"
#include "commands.h"
#include "environment.h"
#include "hosts.h"
#include "muxbench/net.h"
#include "progress.h"
#include "report.h"
#include "results.h"
#include "runner.h"
#include "spawn.h"

namespace muxbench::harness {
namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_stop_signal(int) { g_interrupted.store(true); }


struct RunOpts {
  SuiteFlags flags;
  std::string out, resume;
  bool force = false;  // --out may overwrite an existing file
  bool allow_debug = false;
  std::string bin_dir;
  std::string hosts;   // a host file: the server and load generators on other hosts
  bool dry_run = false;
};

bool has_overrides(const SuiteFlags& f) {
  return !f.suite.empty() || !f.strategies.empty() || !f.workloads.empty() ||
         !f.connections.empty() || f.repeat != -1 || f.duration != -1 || f.warmup != -1 ||
         !f.cpu_server.empty() || !f.cpu_loadgen.empty() || !f.server_args.empty() ||
         f.loadgen_ranks != -1 || f.unpinned;
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

struct Interrupted {};  // thrown inside run_jobs' loop on Ctrl-C

long nofile_hard_limit() {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_max == RLIM_INFINITY ? 0 : static_cast<long>(rl.rlim_max);
}

bool loadgen_present(const std::string& loadgen_path) {
  if (::access(loadgen_path.c_str(), X_OK) == 0) return true;
  error(loadgen_path + " is not there (or not executable): build it (cmake --build build "
        "--target muxbench-loadgen), or point --bin-dir at a build that has it");
  return false;
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

// The suite: from the flags, or (resuming) from the results file, which the
// flags must then match. Returns false (one line said) when refused.
bool resolve_suite(const RunOpts& o, const std::vector<StrategyInfo>& catalog, Suite* suite,
                   json* resumed_doc) {
  if (!o.resume.empty()) {
    if (!o.out.empty() && o.out != o.resume) {
      error("--out and --resume name different files; --resume continues the file it names");
      return false;
    }
    return load_resumable(o.resume, /*ab=*/false, resumed_doc) &&
           resume_suite(o.resume, *resumed_doc, o.flags, catalog, suite);
  }
  try {
    *suite = load_suite(o.flags.suite.empty() ? "default" : o.flags.suite, catalog);
    apply_overrides(*suite, o.flags, catalog);
    return true;
  } catch (const SuiteError& e) {
    error(e.what());
    return false;
  }
}

// The results file: a new one, or the resumed one.
std::optional<ResultsFile> open_results(const RunOpts& o, const Suite& suite, const json& resumed_doc,
                                        const json& now, const std::vector<std::string>& argv) {
  std::optional<ResultsFile> results;
  if (o.resume.empty()) {
    std::string path = o.out.empty() ? default_results_path(suite.name) : o.out;
    results.emplace(path, ResultsFile::new_document(now, suite_to_json(suite), argv));
    results->write();
    return results;
  }
  results.emplace(resume_results(o.resume, resumed_doc, now));
  return results;
}

int run_main(const RunOpts& o, const std::vector<std::string>& argv) {
  if (!o.dry_run && !build_fit_for_results(o.allow_debug)) return kExitUsage;
  if (o.resume.empty() && !o.dry_run && !out_file_allowed(o.out, o.force)) return kExitUsage;
  const std::string bin = o.bin_dir.empty() ? default_bin_dir() : o.bin_dir;
  const std::string server_path = bin + "/muxbench-server";
  const std::string loadgen_path = bin + "/muxbench-loadgen";

  raise_nofile_limit();
  ignore_sigpipe();
  become_subreaper();

  std::string err;
  std::optional<HostFile> hosts;
  if (!o.hosts.empty()) {
    try {
      hosts = load_host_file(o.hosts);
    } catch (const SuiteError& e) {
      error(e.what());
      return kExitUsage;
    }
  }
  auto catalog = load_strategies(server_path, &err);
  if (!catalog) {
    error(err);
    return kExitError;
  }
  Suite suite;
  json resumed_doc;
  if (!resolve_suite(o, *catalog, &suite, &resumed_doc)) return kExitUsage;

  std::vector<CellPlan> cells = plan_cells(suite, *catalog, nofile_hard_limit());
  if (o.dry_run) {
    std::printf("suite %s (%s)\n", suite.name.c_str(), suite.source.c_str());
    print_plan(cells, suite);
    return kExitOk;
  }

  CellEnv env;
  env.harness_path = self_path();
  env.server_path = server_path;
  env.loadgen_path = loadgen_path;
  env.server_cpus_text = suite.placement.server_cpus;
  env.loadgen_cpus_text = suite.placement.loadgen_cpus;
  env.hosts = hosts ? &*hosts : nullptr;
  if (hosts) {
    int slots = 0;
    for (const Host* h : hosts->load_hosts()) slots += h->slots;
    if (suite.loadgen_ranks > slots) {
      error(o.hosts + ": " + std::to_string(suite.loadgen_ranks) + " load-generator ranks asked for, but the " +
            "load hosts have " + std::to_string(slots) + " slots; allowed: --loadgen-ranks up to " +
            std::to_string(slots) + ", or more slots in the host file");
      return kExitUsage;
    }
  }
  bool any_to_run = false;
  for (const auto& c : cells) any_to_run |= !c.skip_reason;
  if (any_to_run && !loadgen_present(loadgen_path)) return kExitError;

  try {
    ScratchDir scratch;
    env.work_dir = scratch.path();
    json now = run_environment(server_path, loadgen_path, env.hosts, env.harness_path, env.work_dir);
    std::optional<ResultsFile> results = open_results(o, suite, resumed_doc, now, argv);
    env.interrupted = install_stop_signals();
    std::vector<RunJob> jobs;
    for (const auto& c : cells) jobs.push_back(RunJob{c, &env, json::object()});
    if (!run_jobs(jobs, suite, *results)) {
      print_interrupted(*results, "muxbench run --resume " + results->path());
      return kExitInterrupted;
    }
    std::printf("%s", summary_tables(results->doc()).c_str());
    std::printf("\nresults: %s\n", results->path().c_str());
    return kExitOk;
  } catch (const std::exception& e) {
    error(e.what());
    return kExitError;
  }
}

}  // namespace

// --- shared with `muxbench ab` (runner.h) --------------------------------------

json local_run_environment(const std::string& server_path, const std::string& loadgen_path) {
  return run_environment(server_path, loadgen_path, nullptr, "", "");
}

void apply_overrides(Suite& s, const SuiteFlags& f, const std::vector<StrategyInfo>& catalog) {
  if (!f.strategies.empty()) override_strategies(s, f.strategies, catalog);
  if (!f.workloads.empty()) override_workloads(s, f.workloads);
  if (!f.connections.empty()) override_connections(s, f.connections);
  if (f.repeat != -1) override_repeat(s, f.repeat);
  if (f.duration != -1) override_duration(s, f.duration);
  if (f.warmup != -1) override_warmup(s, f.warmup);
  if (f.loadgen_ranks != -1) override_loadgen_ranks(s, f.loadgen_ranks);
  override_placement(s, f.cpu_server, f.cpu_loadgen);
  if (!f.unpinned && !f.hosts) default_placement(s, ::sysconf(_SC_NPROCESSORS_ONLN));
  override_server_args(s, f.server_args);
}

bool build_fit_for_results(bool allow_debug) {
  BuildInfo build = build_info();
  if (!build.unfit_for_results() || allow_debug) return true;
  error("refusing to record results from a " +
        (build.build_type.empty() ? std::string("build without a type") : build.build_type + " build") +
        " (sanitizer: " + build.sanitizer +
        "): its numbers mean nothing. Build the release preset (cmake --preset release && cmake "
        "--build build), or pass --allow-debug-build to record anyway (the file says which build).");
  return false;
}

bool out_file_allowed(const std::string& out, bool force) {
  // A results file is never overwritten by accident (docs/results.md).
  if (out.empty() || force || ::access(out.c_str(), F_OK) != 0) return true;
  error(existing_out_message(out));
  return false;
}

bool load_resumable(const std::string& path, bool ab, json* doc) {
  try {
    *doc = ResultsFile::load(path);
  } catch (const SuiteError& e) {
    error(e.what());
    return false;
  }
  if (doc->value("ab", json()).is_object() == ab) return true;
  error("--resume " + path + (ab ? ": not an A/B results file (muxbench run); continue it with "
                                   "muxbench run --resume " + path
                                 : ": an A/B results file (muxbench ab); continue it with "
                                   "muxbench ab --resume " + path));
  return false;
}

bool resume_suite(const std::string& path, const json& doc, const SuiteFlags& flags,
                  const std::vector<StrategyInfo>& catalog, Suite* suite) {
  const std::string command = doc.value("ab", json()).is_object() ? "muxbench ab" : "muxbench run";
  try {
    Suite recorded;
    try {
      recorded = parse_suite(doc["suite"], catalog, "resumed");
    } catch (const SuiteError& e) {
      throw SuiteError("--resume " + path + ": the recorded suite no longer validates: " + e.what());
    }
    recorded.source = doc["suite"].value("source", "");
    if (!has_overrides(flags)) {
      *suite = recorded;
      return true;
    }
    *suite = flags.suite.empty() ? recorded : load_suite(flags.suite, catalog);
    apply_overrides(*suite, flags, catalog);
    json a = identity(doc["suite"]);
    json b = identity(suite_to_json(*suite));
    if (a != b) {
      error("--resume " + path + ": the suite differs from the one recorded in the file (" +
            first_difference(a, b) + "); run `" + command + " --resume " + path +
            "` without suite flags to continue it as it was");
      return false;
    }
    return true;
  } catch (const SuiteError& e) {
    error(e.what());
    return false;
  }
}

ResultsFile resume_results(const std::string& path, const json& doc, const json& now) {
  ResultsFile results(path, doc);
  const json& was = doc["environment"];
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
  results.note_resumed(now);
  return results;
}

ScratchDir::ScratchDir() {
  char tmpl[] = "/tmp/muxbench-run-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    throw std::runtime_error("cannot create a scratch directory in /tmp: " + errno_string(errno));
  }
  path_ = tmpl;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

const std::atomic<bool>* install_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  return &g_interrupted;
}

bool run_jobs(const std::vector<RunJob>& jobs, const Suite& suite, ResultsFile& results) {
  int already = 0;
  double estimate = 0;
  for (const auto& j : jobs) {
    if (results.has_cell(j.plan.id)) {
      ++already;
    } else {
      estimate += estimate_cell_seconds(j.plan, suite);
    }
  }
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  std::fprintf(stderr, "muxbench: suite %s: %zu cells (%d already recorded), about %s; results in %s\n",
               suite.name.c_str(), jobs.size(), already, format_duration(estimate).c_str(),
               results.path().c_str());
  Progress progress(static_cast<int>(jobs.size()), estimate, tty);
  bool ran_one = false;
  try {
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      const CellPlan& c = jobs[i].plan;
      CellEnv env = *jobs[i].env;
      env.on_phase = [&](const std::string& p) { progress.phase(p); };
      env.on_tick = [&] { progress.tick(); };
      if (results.has_cell(c.id)) continue;
      if (g_interrupted.load()) throw Interrupted{};
      double est = estimate_cell_seconds(c, suite);
      json rec;
      if (c.skip_reason) {
        progress.begin_cell(static_cast<int>(i), c, est);
        rec = skipped_cell(c, env);
      } else {
        // Let TIME_WAIT sockets and dying processes of the last cell settle.
        if (ran_one) {
          progress.phase("pause");
          if (!sleep_interruptible(suite.pause_s)) throw Interrupted{};
        }
        ran_one = true;
        progress.begin_cell(static_cast<int>(i), c, est);
        CellOutcome outcome = run_cell(c, env);
        if (outcome.interrupted) throw Interrupted{};
        if (outcome.launch_hung) {
          // mpirun hung before the load generator reached the server: the
          // launch failed, not the strategy. Once more; the first attempt
          // stays in the record.
          const json first = {{"reason", outcome.record["reason"]},
                              {"elapsed_s", outcome.record["elapsed_s"]},
                              {"loadgen_process", outcome.record.value("loadgen_process", json())}};
          progress.message(c.id + ": the launch hung (" + first["reason"].get<std::string>() +
                           "); running the cell once more");
          progress.phase("pause");
          if (!sleep_interruptible(suite.pause_s)) throw Interrupted{};
          outcome = run_cell(c, env);
          if (outcome.interrupted) throw Interrupted{};
          outcome.record["launch_retry"] = first;
        }
        rec = std::move(outcome.record);
      }
      for (const auto& [k, v] : jobs[i].extra.items()) rec[k] = v;
      results.add_cell(rec);
      progress.end_cell(rec);
    }
  } catch (const Interrupted&) {
    progress.clear();
    results.write();
    return false;
  } catch (...) {
    progress.clear();
    throw;
  }
  progress.clear();
  results.set_finished();
  return true;
}

void print_interrupted(const ResultsFile& results, const std::string& how_to_continue) {
  std::fprintf(stderr, "muxbench: interrupted; %zu cells are recorded in %s.\n",
               results.cell_count(), results.path().c_str());
  if (!how_to_continue.empty()) {
    std::fprintf(stderr, "muxbench: continue with: %s\n", how_to_continue.c_str());
  }
}

void add_suite_flags(CLI::App& sub, SuiteFlags& f) {
  sub.add_option("--suite", f.suite, "A built-in suite (smoke, default, c10k, cores, ci, ...) or a suite JSON file (default: default)");
  sub.add_option("--strategies", f.strategies, "Comma-separated strategies, or all (overrides the suite)");
  sub.add_option("--workloads", f.workloads, "Comma-separated workloads: pingpong, idle, churn, bulk, rate");
  sub.add_option("--connections", f.connections, "Comma-separated connection counts, for every workload");
  sub.add_option("--repeat", f.repeat, "Repetitions of every cell, interleaved across strategies");
  sub.add_option("--duration", f.duration, "Seconds measured per cell");
  sub.add_option("--warmup", f.warmup, "Seconds of warm-up per cell, not measured");
  sub.add_option("--cpu-server", f.cpu_server, "Pin the server to these CPUs, e.g. 0 or 0-1");
  sub.add_option("--cpu-loadgen", f.cpu_loadgen, "Pin the load generator to these CPUs, e.g. 1");
  sub.add_flag("--unpinned", f.unpinned,
               "Do not pin by default (on 2+ CPUs, a suite without a placement runs the server on "
               "CPU 0 and the load generator on the others)");
  sub.add_option("--server-arg", f.server_args,
                 "An extra server flag for every strategy, e.g. --server-arg=--delay-us=200 "
                 "(repeatable; recorded in params.server_args)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub.add_option("--loadgen-ranks", f.loadgen_ranks,
                 "Load-generator processes per cell (mpirun ranks; with --hosts spread over the load hosts)");
}

CommandMain setup_run(CLI::App& sub) {
  auto o = std::make_shared<RunOpts>();
  add_suite_flags(sub, o->flags);
  sub.add_option("--out", o->out,
                 "Results file (default: results/<date>-<host>-<suite>.json); an existing one is "
                 "refused unless --force");
  sub.add_flag("--force", o->force, "Let --out overwrite an existing file");
  sub.add_option("--resume", o->resume, "Continue an interrupted results file, skipping recorded cells");
  sub.add_flag("--allow-debug-build", o->allow_debug, "Record results even from a Debug or sanitizer build");
  sub.add_option("--hosts", o->hosts,
                 "A host file (docs/distributed.md): the server and the load generators on the hosts "
                 "it names, launched through mpirun; scripts/testbed.sh writes one");
  sub.add_option("--bin-dir", o->bin_dir, "Directory of muxbench-server and muxbench-loadgen (default: next to muxbench)");
  sub.add_flag("--dry-run", o->dry_run, "Validate the suite, list its cells and the estimated time; run nothing");
  return [o]() -> int {
    o->flags.hosts = !o->hosts.empty();
    return run_main(*o, command_line());
  };
}

}  // namespace muxbench::harness
