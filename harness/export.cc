// muxbench export: a results file in the formats other tools read as they
// are (docs/ci.md, "Exports"):
//   github-action-benchmark  its custom tools' JSON: customBiggerIsBetter for
//                            throughput and bandwidth, customSmallerIsBetter
//                            for the rest (one file each, the action takes
//                            one tool per step)
//   bmf                      Bencher Metric Format: {benchmark: {measure:
//                            {value, lower_value, upper_value}}}
//   hgrm                     HdrHistogram's percentile distribution text
//                            (outputPercentileDistribution), one file per
//                            cell, which the HdrHistogram plotter loads
// A cell is its repetitions together: the median (min and max as the range)
// of each metric, and for hgrm the union of their latency histograms (the
// buckets add exactly, docs/results.md). Of an A/B file, the new side.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "cell_groups.h"
#include "commands.h"
#include "compare.h"
#include "muxbench/net.h"
#include "report.h"
#include "results.h"

namespace muxbench::harness {
namespace {

std::optional<FieldSummary> summarize(const CellGroup& g, const CompareMetric& m) {
  return summarize_field(g, m.field);
}

const char* unit_name(const std::string& unit) {
  if (unit == "rate") return "requests/s";
  if (unit == "bytes_rate") return "bytes/s";
  if (unit == "us") return "us";
  return unit.c_str();  // ns, bytes, count
}

// github-action-benchmark: [{name, unit, value, range, extra}] per direction.
std::pair<json, json> action_benchmark(const std::vector<CellGroup>& groups,
                                       const std::vector<const CompareMetric*>& metrics) {
  json bigger = json::array(), smaller = json::array();
  for (const auto& g : groups) {
    for (const CompareMetric* m : metrics) {
      auto s = summarize(g, *m);
      if (!s) continue;
      char range[64], extra[128];
      std::snprintf(range, sizeof range, "± %.6g", (s->max - s->min) / 2);
      std::snprintf(extra, sizeof extra, "median of %zu repetitions, min %.6g, max %.6g", s->n,
                    s->min, s->max);
      json e = {{"name", g.name + " " + m->name},
                {"unit", unit_name(m->unit)},
                {"value", s->median},
                {"range", range},
                {"extra", extra}};
      (m->higher_is_better ? bigger : smaller).push_back(e);
    }
  }
  return {bigger, smaller};
}

// Bencher Metric Format: one benchmark per cell, one measure per metric.
json bmf(const std::vector<CellGroup>& groups, const std::vector<const CompareMetric*>& metrics) {
  json out = json::object();
  for (const auto& g : groups) {
    json measures = json::object();
    for (const CompareMetric* m : metrics) {
      auto s = summarize(g, *m);
      if (!s) continue;
      measures[m->name] = {{"value", s->median}, {"lower_value", s->min}, {"upper_value", s->max}};
    }
    if (!measures.empty()) out[g.name] = measures;
  }
  return out;
}

// The union of a cell's latency histograms, and its exact moments.
struct Merged {
  std::map<long long, long long> buckets;  // highest equivalent value (ns) -> count
  long long count = 0;
  double mean = 0, m2 = 0;  // m2: sum of squared deviations
  int sub_buckets = 128;
  double highest = 1099511627775.0;
};

std::optional<Merged> merge_latency(const CellGroup& g) {
  Merged h;
  for (const json* c : g.cells) {
    const json* lg = c->contains("loadgen") ? &(*c)["loadgen"] : nullptr;
    if (lg == nullptr || !lg->is_object() || !lg->contains("latency")) continue;
    const json& lat = (*lg)["latency"];
    if (!lat.is_object() || !lat.contains("histogram") || !lat["count"].is_number()) continue;
    const long long n = lat["count"].get<long long>();
    if (n == 0 || !lat["mean_ns"].is_number()) continue;
    const json& hist = lat["histogram"];
    h.sub_buckets = hist.value("sub_buckets", 128);
    h.highest = hist.value("highest_ns", h.highest);
    for (const auto& b : hist["buckets"]) h.buckets[b[0].get<long long>()] += b[1].get<long long>();
    // Chan et al.'s pairwise update of mean and squared deviations.
    const double mean = lat["mean_ns"].get<double>();
    const double sd = lat["stdev_ns"].is_number() ? lat["stdev_ns"].get<double>() : 0;
    const double delta = mean - h.mean, total = static_cast<double>(h.count + n);
    h.m2 += sd * sd * static_cast<double>(n) + delta * delta * static_cast<double>(h.count) *
                                                   static_cast<double>(n) / total;
    h.mean += delta * static_cast<double>(n) / total;
    h.count += n;
  }
  if (h.count == 0 || h.buckets.empty()) return std::nullopt;
  return h;
}

// outputPercentileDistribution(out, 5, 1e6) of HdrHistogram (Java), on the
// merged buckets: values in milliseconds. The percentile levels are its
// PercentileIterator's: from 0, each step 100 / (5 · 2^(k+1)) with k =
// floor(log2(100 / (100 - level))), several lines per bucket when levels
// cross it, one line in the last bucket, then the 100% line.
std::string hgrm_text(const Merged& h) {
  constexpr double kScale = 1e6;  // ns per ms
  constexpr int kTicks = 5;
  std::ostringstream out;
  char line[160];
  std::snprintf(line, sizeof line, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
                "1/(1-Percentile)");
  out << line;
  double level = 0;
  long long total_to = 0;
  double last_value = 0;
  for (auto it = h.buckets.begin(); it != h.buckets.end(); ++it) {
    const auto& [value, count] = *it;
    total_to += count;
    last_value = static_cast<double>(value);
    const double current = 100.0 * static_cast<double>(total_to) / static_cast<double>(h.count);
    while (count != 0 && level <= current) {
      std::snprintf(line, sizeof line, "%12.6f %2.12f %10lld %14.2f\n", last_value / kScale,
                    level / 100, total_to, 1 / (1 - level / 100));
      out << line;
      const double ticks =
          kTicks * std::pow(2.0, std::floor(std::log(100.0 / (100.0 - level)) / std::log(2.0)) + 1);
      level += 100.0 / ticks;
      if (total_to == h.count) break;  // the last bucket: one line, then 100%
    }
    if (total_to == h.count) break;
  }
  std::snprintf(line, sizeof line, "%12.6f %2.12f %10lld\n", last_value / kScale, 1.0, h.count);
  out << line;
  long long buckets = 1;
  for (double untrackable = 2.0 * h.sub_buckets; untrackable <= h.highest; untrackable *= 2) ++buckets;
  std::snprintf(line, sizeof line, "#[Mean    = %12.6f, StdDeviation   = %12.6f]\n", h.mean / kScale,
                std::sqrt(h.m2 / static_cast<double>(h.count)) / kScale);
  out << line;
  // Max as HdrHistogram reports it: the highest equivalent value of its bucket.
  std::snprintf(line, sizeof line, "#[Max     = %12.6f, Total count    = %12lld]\n",
                last_value / kScale, h.count);
  out << line;
  std::snprintf(line, sizeof line, "#[Buckets = %12lld, SubBuckets     = %12d]\n", buckets,
                2 * h.sub_buckets);
  out << line;
  return out.str();
}

std::string file_name(std::string name) {
  std::replace(name.begin(), name.end(), '/', '_');
  return name;
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  f.close();
  if (!f) error("cannot write " + path + ": " + errno_string(errno));
  return static_cast<bool>(f);
}

struct ExportOpts {
  std::string file, format, out;
  std::string metrics = kDefaultCompareMetrics;
};

int export_main(const ExportOpts& o) {
  json doc;
  std::vector<const CompareMetric*> metrics;
  try {
    metrics = parse_compare_metrics(o.metrics);
    doc = ResultsFile::load(o.file);
  } catch (const std::exception& e) {
    error(e.what());
    return kExitUsage;
  }
  const auto groups = measured_groups(doc);
  const bool to_dir = o.format != "bmf";
  if (to_dir) {
    if (o.out.empty() || o.out == "-") {
      error("--out: " + o.format + " writes several files; allowed: a directory (created if absent)");
      return kExitUsage;
    }
    ::mkdir(o.out.c_str(), 0755);
  }
  if (o.format == "github-action-benchmark") {
    auto [bigger, smaller] = action_benchmark(groups, metrics);
    bool ok = write_file(o.out + "/bigger_is_better.json", bigger.dump(2) + "\n") &&
              write_file(o.out + "/smaller_is_better.json", smaller.dump(2) + "\n");
    std::printf("%s/bigger_is_better.json: %zu entries (tool: customBiggerIsBetter)\n"
                "%s/smaller_is_better.json: %zu entries (tool: customSmallerIsBetter)\n",
                o.out.c_str(), bigger.size(), o.out.c_str(), smaller.size());
    return ok ? kExitOk : kExitError;
  }
  if (o.format == "bmf") {
    const std::string text = bmf(groups, metrics).dump(2) + "\n";
    if (o.out.empty() || o.out == "-") {
      std::fputs(text.c_str(), stdout);
      return kExitOk;
    }
    return write_file(o.out, text) ? kExitOk : kExitError;
  }
  int written = 0;
  for (const auto& g : groups) {
    auto h = merge_latency(g);
    if (!h) continue;
    if (!write_file(o.out + "/" + file_name(g.name) + ".hgrm", hgrm_text(*h))) return kExitError;
    ++written;
  }
  std::printf("%d .hgrm files in %s (values in milliseconds)\n", written, o.out.c_str());
  return kExitOk;
}

}  // namespace

CommandMain setup_export(CLI::App& sub) {
  auto o = std::make_shared<ExportOpts>();
  sub.add_option("file", o->file, "A results file (of an A/B file, the new side is exported)")
      ->required();
  sub.add_option("--format", o->format,
                 "github-action-benchmark (two files: bigger_is_better.json, "
                 "smaller_is_better.json), bmf (Bencher Metric Format), hgrm (HdrHistogram "
                 "percentile distribution, one file per cell)")
      ->required()
      ->check(CLI::IsMember({"github-action-benchmark", "bmf", "hgrm"}));
  sub.add_option("--out", o->out,
                 "A directory (github-action-benchmark, hgrm), or a file (bmf; default stdout)");
  sub.add_option("--metric,--metrics", o->metrics,
                 std::string("Metrics for github-action-benchmark and bmf (default ") +
                     kDefaultCompareMetrics + "; compare's names, or all)");
  return [o]() -> int { return export_main(*o); };
}

}  // namespace muxbench::harness
