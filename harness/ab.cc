// muxbench ab: duet benchmarking. Every cell of a suite runs with the base
// build's muxbench-server and muxbench-loadgen and with the new build's,
// back to back, alternating per repetition in ABBA order (repetition 0: base
// then new; 1: new then base; ...), into one results file. A slow drift of
// the machine (a neighbour arriving, thermal state, page cache) then moves
// both sides of a pair alike, and the paired comparison (compare.h) divides
// it out. The cell loop, progress and results file are `muxbench run`'s
// (runner.h); ab adds the second build and the order.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <set>

#include "cell.h"
#include "commands.h"
#include "compare.h"
#include "environment.h"
#include "muxbench/net.h"
#include "report.h"
#include "results.h"
#include "runner.h"
#include "spawn.h"

namespace muxbench::harness {
namespace {

struct AbOpts {
  SuiteFlags flags;
  std::string base_bin, new_bin;
  std::vector<std::string> base_server_args, new_server_args;
  std::string out, resume;
  bool force = false;
  bool allow_debug = false;
  bool dry_run = false;
  CompareFlags compare;
};

// One build under test.
struct Build {
  const char* side;  // "base" or "new"
  std::string bin_dir;
  std::vector<StrategyInfo> catalog;
  std::vector<std::string> server_args;  // appended to every cell's, this side only
  CellEnv env;
};

// Loads a build's strategy list; false (one line said) when it cannot run.
bool load_build(Build& b, const std::string& bin_dir, std::vector<std::string> server_args) {
  b.bin_dir = bin_dir;
  b.server_args = std::move(server_args);
  b.env.server_path = bin_dir + "/muxbench-server";
  b.env.loadgen_path = bin_dir + "/muxbench-loadgen";
  for (const std::string& p : {b.env.server_path, b.env.loadgen_path}) {
    if (::access(p.c_str(), X_OK) != 0) {
      error(std::string("--") + b.side + "-bin " + bin_dir + ": " + p +
            " is not there (or not executable); allowed: a build's bin directory holding "
            "muxbench-server and muxbench-loadgen (e.g. build/bin)");
      return false;
    }
  }
  std::string err;
  auto catalog = load_strategies(b.env.server_path, &err);
  if (!catalog) {
    error(std::string(b.side) + " build: " + err);
    return false;
  }
  b.catalog = *catalog;
  return true;
}

bool has_strategy(const Build& b, const std::string& name) {
  for (const auto& s : b.catalog) {
    if (s.name == name) return true;
  }
  return false;
}

// Every planned cell twice, once per build, in ABBA order: even repetitions
// base first, odd ones new first. The id gains "/base" or "/new"; a strategy
// the build does not have is skipped on that side only.
std::vector<RunJob> ab_jobs(const std::vector<CellPlan>& cells, const Build& base,
                            const Build& next) {
  std::vector<RunJob> jobs;
  for (const CellPlan& c : cells) {
    const Build* order[2] = {&base, &next};
    if (c.repetition % 2 == 1) std::swap(order[0], order[1]);
    for (const Build* b : order) {
      RunJob j{c, &b->env, {{"side", b->side}}};
      j.plan.id = c.id + "/" + b->side;
      j.plan.params.server_args.insert(j.plan.params.server_args.end(), b->server_args.begin(),
                                       b->server_args.end());
      if (!j.plan.skip_reason && !has_strategy(*b, c.strategy)) {
        j.plan.skip_reason = c.strategy + ": not in the " + b->side +
                             " build (its muxbench-server --list-json does not name it)";
      }
      jobs.push_back(std::move(j));
    }
  }
  return jobs;
}

// With --resume: the side's bin directory and server flags are the ones the
// file records; flags naming others are refused. False (one line said) when
// refused.
bool recorded_side(const json& doc, const char* side, std::string* bin_dir,
                   std::vector<std::string>* server_args) {
  // ResultsFile::load checked the types (docs/results.md).
  const json& rec = doc["ab"][side];
  const std::string was_dir = rec["bin_dir"];
  const auto was_args = rec.value("server_args", json::array()).get<std::vector<std::string>>();
  if (!bin_dir->empty() && *bin_dir != was_dir) {
    error(std::string("--") + side + "-bin " + *bin_dir + ": the file was started with " + was_dir +
          "; --resume continues with the builds it records (leave --" + side + "-bin out)");
    return false;
  }
  if (!server_args->empty() && *server_args != was_args) {
    error(std::string("--") + side + "-server-arg: the file was started with " +
          json(was_args).dump() + "; --resume continues with the flags it records (leave --" +
          side + "-server-arg out)");
    return false;
  }
  *bin_dir = was_dir;
  *server_args = was_args;
  return true;
}

// When a binary was last written (ns since the epoch), or null: a rebuild
// changes it, so it tells a resumed file whether its builds are the ones
// its cells measured (the source tree's commit cannot: it moves on without
// a rebuild, and a dirty tree rebuilds without a new commit).
json mtime_ns(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return nullptr;
  return static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
}

json binary_stamps(const Build& b) {
  return {{"server", mtime_ns(b.env.server_path)}, {"loadgen", mtime_ns(b.env.loadgen_path)}};
}

// With --resume: the binaries must still be the ones the file's cells
// measured. False (one line said) when one was rebuilt; a file without
// stamps (written before they were recorded) is continued with a warning.
bool same_build(const json& doc, const std::string& path, const Build& b) {
  const json was = doc["ab"][b.side].value("mtime_ns", json());
  if (!was.is_object()) {
    std::fprintf(stderr,
                 "muxbench: warning: %s records no mtime_ns for the %s build; resuming assumes "
                 "its binaries were not rebuilt since the file was started\n",
                 path.c_str(), b.side);
    return true;
  }
  const json now = binary_stamps(b);
  for (const char* k : {"server", "loadgen"}) {
    if (was.value(k, json()) != now[k]) {
      error("--resume " + path + ": the " + b.side + " build's muxbench-" + k + " in " +
            b.bin_dir + " was rebuilt since the file was started (mtime_ns " + now[k].dump() +
            ", was " + was.value(k, json()).dump() +
            "); a different build cannot continue the comparison (start again with --force)");
      return false;
    }
  }
  return true;
}

json build_record(const Build& b) {
  json r = {{"bin_dir", b.bin_dir},
            {"server_path", b.env.server_path},
            {"loadgen_path", b.env.loadgen_path},
            {"server_args", b.server_args}};
  json g = git_info(b.bin_dir);
  r["git_commit"] = g["git_commit"];
  r["git_dirty"] = g["git_dirty"];
  r["mtime_ns"] = binary_stamps(b);
  return r;
}

// `recorded`: the ids already in a resumed file (listed, not counted).
void print_ab_plan(const std::vector<RunJob>& jobs, const Suite& s,
                   const std::set<std::string>& recorded) {
  double total = 0;
  for (const auto& j : jobs) {
    if (recorded.count(j.plan.id) != 0) {
      std::printf("  %-42s recorded\n", j.plan.id.c_str());
      continue;
    }
    double est = estimate_cell_seconds(j.plan, s);
    total += est;
    if (j.plan.skip_reason) {
      std::printf("  %-42s skip: %s\n", j.plan.id.c_str(), j.plan.skip_reason->c_str());
    } else {
      std::printf("  %-42s ~%.1f s\n", j.plan.id.c_str(), est);
    }
  }
  std::printf("%zu cells (base and new, ABBA), %zu recorded: estimated %s\n", jobs.size(),
              recorded.size(), format_duration(total).c_str());
}

int ab_main(AbOpts o, const std::vector<std::string>& argv) {
  if (!o.dry_run && !build_fit_for_results(o.allow_debug)) return kExitUsage;
  json resumed;
  if (!o.resume.empty()) {
    if (!o.out.empty() && o.out != o.resume) {
      error("--out and --resume name different files; --resume continues the file it names");
      return kExitUsage;
    }
    if (!load_resumable(o.resume, /*ab=*/true, &resumed) ||
        !recorded_side(resumed, "base", &o.base_bin, &o.base_server_args) ||
        !recorded_side(resumed, "new", &o.new_bin, &o.new_server_args)) {
      return kExitUsage;
    }
  } else if (o.base_bin.empty() || o.new_bin.empty()) {
    error(std::string(o.base_bin.empty() ? "--base-bin" : "--new-bin") +
          " is required; allowed: --base-bin DIR --new-bin DIR, or --resume FILE (an "
          "interrupted A/B file, continued with the builds it records)");
    return kExitUsage;
  } else if (!o.dry_run && !out_file_allowed(o.out, o.force)) {
    return kExitUsage;
  }
  raise_nofile_limit();
  ignore_sigpipe();
  become_subreaper();
  Build base{"base", {}, {}, {}, {}}, next{"new", {}, {}, {}, {}};
  if (!load_build(base, o.base_bin, o.base_server_args) ||
      !load_build(next, o.new_bin, o.new_server_args)) {
    return kExitUsage;
  }
  if (!o.resume.empty() &&
      (!same_build(resumed, o.resume, base) || !same_build(resumed, o.resume, next))) {
    return kExitUsage;
  }
  // The suite is validated against the new build's strategies; a strategy
  // only the new build has runs there and is skipped in base.
  Suite suite;
  if (!o.resume.empty()) {
    if (!resume_suite(o.resume, resumed, o.flags, next.catalog, &suite)) return kExitUsage;
  } else {
    try {
      suite = load_suite(o.flags.suite.empty() ? "ci" : o.flags.suite, next.catalog);
      apply_overrides(suite, o.flags, next.catalog);
    } catch (const SuiteError& e) {
      error(e.what());
      return kExitUsage;
    }
  }
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  const long nofile_hard = rl.rlim_max == RLIM_INFINITY ? 0 : static_cast<long>(rl.rlim_max);
  const std::vector<CellPlan> cells = plan_cells(suite, next.catalog, nofile_hard);
  for (Build* b : {&base, &next}) {
    b->env.harness_path = self_path();
    b->env.server_cpus_text = suite.placement.server_cpus;
    b->env.loadgen_cpus_text = suite.placement.loadgen_cpus;
  }
  std::vector<RunJob> jobs = ab_jobs(cells, base, next);
  if (o.dry_run) {
    std::set<std::string> recorded;
    if (!o.resume.empty()) {
      for (const json& c : resumed["cells"]) recorded.insert(c["id"].get<std::string>());
    }
    std::printf("suite %s (%s), A/B: base %s, new %s\n", suite.name.c_str(), suite.source.c_str(),
                base.bin_dir.c_str(), next.bin_dir.c_str());
    print_ab_plan(jobs, suite, recorded);
    return kExitOk;
  }
  std::string path;
  try {
    ScratchDir scratch;
    json env = local_run_environment(next.env.server_path, next.env.loadgen_path);
    std::optional<ResultsFile> results;
    if (o.resume.empty()) {
      json doc = ResultsFile::new_document(env, suite_to_json(suite), argv);
      doc["ab"] = {{"order", "ABBA"}, {"base", build_record(base)}, {"new", build_record(next)}};
      results.emplace(o.out.empty() ? default_results_path(suite.name + "-ab") : o.out, doc);
      results->write();
    } else {
      results.emplace(resume_results(o.resume, resumed, env));
    }
    path = results->path();
    const std::atomic<bool>* stop = install_stop_signals();
    for (Build* b : {&base, &next}) {
      b->env.work_dir = scratch.path();
      b->env.interrupted = stop;
    }
    if (!run_jobs(jobs, suite, *results)) {
      print_interrupted(*results, "muxbench ab --resume " + path);
      return kExitInterrupted;
    }
  } catch (const std::exception& e) {
    error(e.what());
    return kExitError;
  }
  std::printf("results: %s\n\n", path.c_str());
  std::fflush(stdout);
  o.compare.base = path;
  o.compare.next.clear();
  return compare_main(o.compare);
}

}  // namespace

CommandMain setup_ab(CLI::App& sub) {
  auto o = std::make_shared<AbOpts>();
  sub.add_option("--base-bin", o->base_bin,
                 "The base build's bin directory (muxbench-server, muxbench-loadgen), e.g. the "
                 "main branch's build/bin (with --resume: the one the file records)");
  sub.add_option("--new-bin", o->new_bin,
                 "The new build's bin directory, e.g. the pull request's build/bin");
  add_suite_flags(sub, o->flags);
  sub.add_option("--base-server-arg", o->base_server_args,
                 "An extra server flag for the base side only (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub.add_option("--new-server-arg", o->new_server_args,
                 "An extra server flag for the new side only, e.g. --new-server-arg=--delay-us=2 "
                 "(an injected regression; repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub.add_option("--out", o->out,
                 "Results file (default: results/<date>-<host>-<suite>-ab.json); an existing one "
                 "is refused unless --force");
  sub.add_flag("--force", o->force, "Let --out overwrite an existing file");
  sub.add_option("--resume", o->resume,
                 "Continue an interrupted A/B results file with the builds, flags and suite it "
                 "records, skipping recorded cells; then compare");
  sub.add_flag("--allow-debug-build", o->allow_debug,
               "Record results even from a Debug or sanitizer build");
  sub.add_flag("--dry-run", o->dry_run,
               "List the cells of both sides in run order and the estimated time; run nothing");
  add_compare_flags(sub, o->compare);
  sub.footer(
      "\nThe suite defaults to ci. Both sides go into one results file (cells carry\n"
      "side: base|new, the file an `ab` object naming both builds); then the file is\n"
      "compared as `muxbench compare FILE` would: repetitions paired, Holm-adjusted.\n"
      "Exit status: 0 no regression; 1 a regression (or a run-time failure); 2 usage\n"
      "or input error; 130 interrupted (ab --resume FILE continues it). docs/ci.md has\n"
      "the details.");
  return [o]() -> int { return ab_main(*o, command_line()); };
}

}  // namespace muxbench::harness
