// muxbench trend: results files of successive commits in, the change points
// of every cell x metric out (change_points.h: Hunter's E-divisive + t-test
// method), each with the commit where it begins; exit 1 when the newest file
// starts a regression. `--chart DIR` draws the series with the plots package
// (plots/muxbench_plots/trend.py).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <numeric>
#include <sys/stat.h>

#include "cell_groups.h"
#include "change_points.h"
#include "commands.h"
#include "compare.h"
#include "report.h"
#include "results.h"

namespace muxbench::harness {
namespace {

struct TrendOpts {
  std::vector<std::string> files;
  std::string metrics = kDefaultCompareMetrics;
  double max_p = 0.001;
  double min_change = 5;
  std::string json_out, chart_dir;
};

struct Loaded {
  std::string path;
  json doc;
  std::string started, commit;
};

// Oldest first: by `started`, then by the order given.
std::vector<Loaded> load_ordered(const std::vector<std::string>& files) {
  std::vector<Loaded> out;
  for (const auto& f : files) {
    json d = ResultsFile::load(f);
    const json& env = d["environment"];
    std::string commit = env.value("git_commit", json()).is_string() ? env["git_commit"].get<std::string>() : "";
    if (d.contains("ab") && d["ab"]["new"]["git_commit"].is_string()) {
      commit = d["ab"]["new"]["git_commit"].get<std::string>();
    }
    std::string started = d.value("started", "");
    out.push_back({f, std::move(d), started, commit});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Loaded& a, const Loaded& b) { return a.started < b.started; });
  return out;
}

// One series: a cell's metric over the files that measured it.
struct Series {
  std::string cell;
  const CompareMetric* metric = nullptr;
  std::vector<std::size_t> file;  // index into the ordered files
  std::vector<double> value;      // the median of the file's repetitions
  std::vector<ChangePoint> changes;
};

std::vector<Series> build_series(const std::vector<Loaded>& files,
                                 const std::vector<const CompareMetric*>& metrics) {
  std::vector<Series> out;
  std::map<std::string, std::size_t> index;
  for (std::size_t f = 0; f < files.size(); ++f) {
    for (const auto& g : measured_groups(files[f].doc)) {
      for (const CompareMetric* m : metrics) {
        auto s = summarize_field(g, m->field);
        if (!s) continue;
        auto [it, fresh] = index.emplace(g.name + " " + m->name, out.size());
        if (fresh) out.push_back({g.name, m, {}, {}, {}});
        out[it->second].file.push_back(f);
        out[it->second].value.push_back(s->median);
      }
    }
  }
  return out;
}

bool is_regression(const Series& s, const ChangePoint& c) {
  return s.metric->higher_is_better ? c.mean_after < c.mean_before : c.mean_after > c.mean_before;
}

json trend_json(const std::vector<Loaded>& files, const std::vector<Series>& series,
                const TrendOpts& o, int newest_regressions) {
  json j;
  j["tool"] = "muxbench trend";
  j["method"] = "e-divisive means (alpha 1) + Student t-test split (Hunter / Apache Otava)";
  j["max_p"] = o.max_p;
  j["min_change_pct"] = o.min_change;
  j["files"] = json::array();
  for (const auto& f : files) {
    j["files"].push_back({{"path", f.path}, {"started", f.started},
                          {"git_commit", f.commit.empty() ? json(nullptr) : json(f.commit)}});
  }
  j["series"] = json::array();
  for (const auto& s : series) {
    json cps = json::array();
    for (const auto& c : s.changes) {
      cps.push_back({{"file", s.file[c.index]}, {"git_commit", files[s.file[c.index]].commit},
                     {"mean_before", c.mean_before}, {"mean_after", c.mean_after},
                     {"change_pct", c.change_pct}, {"p", c.p},
                     {"regression", is_regression(s, c)}});
    }
    j["series"].push_back({{"cell", s.cell}, {"metric", s.metric->name},
                           {"direction", s.metric->higher_is_better ? "higher_is_better" : "lower_is_better"},
                           {"file", s.file}, {"value", s.value}, {"change_points", cps}});
  }
  j["newest_starts_regression"] = newest_regressions;
  j["exit_status"] = newest_regressions > 0 ? kExitError : kExitOk;
  return j;
}

void print_trend(const std::vector<Loaded>& files, const std::vector<Series>& series,
                 const TrendOpts& o) {
  std::printf("trend: %zu files, %s .. %s (ordered by started)\n", files.size(),
              files.front().started.c_str(), files.back().started.c_str());
  std::printf("method: E-divisive means locates, Student's t-test keeps a change point at p <= %g "
              "with a change of the mean >= %g%% (Hunter / Apache Otava)\n", o.max_p, o.min_change);
  int n = 0;
  for (const auto& s : series) {
    for (const auto& c : s.changes) {
      const Loaded& f = files[s.file[c.index]];
      std::printf("  %s %s: from file %zu (commit %s, %s, %s): %g -> %g (%+.1f%%, p = %.1e)%s\n",
                  s.cell.c_str(), s.metric->name, s.file[c.index] + 1,
                  f.commit.empty() ? "?" : f.commit.substr(0, 10).c_str(), f.started.c_str(),
                  f.path.c_str(), c.mean_before, c.mean_after, c.change_pct, c.p,
                  is_regression(s, c) ? "  REGRESSION" : "  improvement");
      ++n;
    }
  }
  if (n == 0) std::printf("  no change point\n");
}

// Writes DIR/trend.json and runs the plots package's trend module on it;
// a missing interpreter or matplotlib is a warning, not a failure.
void chart(const json& j, const std::string& dir) {
  ::mkdir(dir.c_str(), 0755);
  const std::string path = dir + "/trend.json";
  std::ofstream(path) << j.dump(1) << "\n";
  const char* py = std::getenv("MUXBENCH_PYTHON");
  const std::string cmd = "PYTHONPATH='" + std::string(MUXBENCH_SOURCE_DIR) + "/plots' MPLBACKEND=Agg '" +
                          std::string(py && *py ? py : "/usr/bin/python3") +
                          "' -m muxbench_plots.trend '" + path + "' --out '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "muxbench: warning: the trend charts were not drawn (%s)\n", cmd.c_str());
  }
}

int trend_main(const TrendOpts& o) {
  std::vector<Loaded> files;
  std::vector<const CompareMetric*> metrics;
  try {
    metrics = parse_compare_metrics(o.metrics);
    files = load_ordered(o.files);
  } catch (const std::exception& e) {
    error(e.what());
    return kExitUsage;
  }
  if (!(o.max_p > 0 && o.max_p < 1) || o.min_change < 0) {
    error("--max-p: a p-value between 0 and 1; --min-change: a percentage >= 0");
    return kExitUsage;
  }
  std::vector<Series> series = build_series(files, metrics);
  int newest = 0;
  for (auto& s : series) {
    s.changes = find_change_points(s.value, {o.max_p, o.min_change});
    for (const auto& c : s.changes) newest += s.file[c.index] + 1 == files.size() && is_regression(s, c);
  }
  print_trend(files, series, o);
  json j = trend_json(files, series, o, newest);
  if (!o.json_out.empty()) std::ofstream(o.json_out) << j.dump(1) << "\n";
  if (!o.chart_dir.empty()) chart(j, o.chart_dir);
  std::printf("result: %s\n", newest > 0 ? ("the newest file starts a regression in " +
                                            std::to_string(newest) + " series (exit 1)").c_str()
                                         : "no regression starts at the newest file (exit 0)");
  return newest > 0 ? kExitError : kExitOk;
}

}  // namespace

CommandMain setup_trend(CLI::App& sub) {
  auto o = std::make_shared<TrendOpts>();
  sub.add_option("files", o->files, "Results files of successive commits (any order: sorted by started)")
      ->required();
  sub.add_option("--metric,--metrics", o->metrics,
                 std::string("Metrics (default ") + kDefaultCompareMetrics + "; compare's names, or all)");
  sub.add_option("--max-p", o->max_p, "Largest t-test p-value of a change point (default 0.001)");
  sub.add_option("--min-change", o->min_change,
                 "Smallest change of the mean that counts, in % (default 5)");
  sub.add_option("--json", o->json_out, "Also write the series and change points as JSON");
  sub.add_option("--chart", o->chart_dir,
                 "Draw every series with its change points into this directory (plots package)");
  sub.footer("\nExit status: 0 no regression starts at the newest file; 1 one does; 2 usage or "
             "input error.\ndocs/ci.md (\"History\") has the method.");
  return [o]() -> int { return trend_main(*o); };
}

}  // namespace muxbench::harness
