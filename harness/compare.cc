// muxbench compare: the regression gate. Reads two results files, matches
// their cells, tests every metric's repetitions with Mann-Whitney U against
// a threshold, prints a table and exits 1 on a regression (compare.h).
#include "compare.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>

#include "commands.h"
#include "mann_whitney.h"
#include "muxbench/net.h"
#include "signed_rank.h"
#include "report.h"
#include "results.h"

namespace muxbench::harness {
namespace {

const std::vector<CompareMetric> kMetrics = {
    {"throughput", "requests_per_s", true, "rate", "requests per second (measurement phase)"},
    {"bandwidth", "bytes_per_s", true, "bytes_rate", "reply bytes per second"},
    {"p50", "p50_ns", false, "ns", "median latency"},
    {"p90", "p90_ns", false, "ns", "90th percentile latency"},
    {"p99", "p99_ns", false, "ns", "99th percentile latency"},
    {"p999", "p999_ns", false, "ns", "99.9th percentile latency"},
    {"max", "max_ns", false, "ns", "largest latency"},
    {"mean", "mean_ns", false, "ns", "mean latency"},
    {"cpu_per_request", "server_cpu_us_per_request", false, "us",
     "server CPU (user+sys) per reply line, µs"},
    {"memory_per_connection", "server_memory_per_connection_bytes", false, "bytes",
     "server RSS growth per connection"},
    {"pss_per_connection", "server_pss_per_connection_bytes", false, "bytes",
     "server PSS growth per connection"},
    {"rss_peak", "server_rss_peak_bytes", false, "bytes", "server peak RSS (process group)"},
    {"ctx_switches_per_request", "server_ctx_switches_per_request", false, "count",
     "server context switches per reply line"},
};

// Environment keys whose difference makes two runs incomparable.
const char* const kMaterialEnv[] = {"cpu_model", "cpu_count", "build_type", "sanitizer"};
// Shown when they differ, never refused. Paths and commits are expected to
// differ (two builds of two commits) and appear in the header instead. So is
// every key ending in "_version" (the harness's, each library's: whatever
// environment.cc records, with no list to keep here).
const char* const kInformationalEnv[] = {"host",
                                         "compiler",
                                         "cxx_flags",
                                         "nofile_soft",
                                         "nofile_hard",
                                         "mem_total_bytes"};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string pct_text(double v) {
  return fmt(std::fabs(v) < 100 ? "%+.1f%%" : "%+.0f%%", v);
}

std::string p_text(double p) {
  return fmt(p < 0.001 ? "%.1e" : "%.3f", p);
}

// "5" for 5.0, "2.5" for 2.5: thresholds and alphas as people write them.
std::string num_text(double v) {
  return fmt("%g", v);
}

std::string value_text(double v, const std::string& unit) {
  if (unit == "rate") return format_rate(v) + "/s";
  if (unit == "bytes_rate") return format_bytes(v) + "/s";
  if (unit == "ns") return format_ns(v);
  if (unit == "us") return fmt(v < 10 ? "%.2fµs" : v < 100 ? "%.1fµs" : "%.0fµs", v);
  if (unit == "bytes") return format_bytes(v);
  return fmt("%.3g", v);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Display width of UTF-8 text (µ is two bytes, one column).
std::size_t width(const std::string& s) {
  std::size_t w = 0;
  for (unsigned char c : s) w += (c & 0xC0) != 0x80;
  return w;
}

std::string pad(const std::string& s, std::size_t w, bool right = false) {
  std::size_t sw = width(s);
  if (sw >= w) return s;
  std::string fill(w - sw, ' ');
  return right ? fill + s : s + fill;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, sep)) {
    auto b = part.find_first_not_of(" \t");
    auto e = part.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(part.substr(b, e - b + 1));
  }
  return out;
}

std::string metric_names() {
  std::string s;
  for (const auto& m : kMetrics) s += (s.empty() ? "" : ", ") + std::string(m.name);
  return s;
}

// --- cells grouped by what matching compares ----------------------------------

// The repetitions of one cell on one side.
struct Group {
  std::string id;             // strategy/workload/c<N>: the cell id without /r<rep>
  std::string key;            // id + active + params without server_args
  nlohmann::json key_params;  // sorted keys, for naming differences
  std::vector<const json*> cells;
};

struct Side {
  std::vector<Group> groups;  // in file order of first appearance
  std::map<std::string, std::size_t> by_key;
};

nlohmann::json key_params(const json& cell) {
  nlohmann::json p = nlohmann::json::parse(cell["params"].dump());
  p.erase("server_args");
  p["active"] = cell.contains("active") && cell["active"].is_number_integer() ? cell["active"]
                                                                              : cell["connections"];
  return p;
}

// `which`: the cells of one side of an A/B file ("base", "new"); "" : all.
Side group_cells(const json& doc, const std::string& which = "") {
  Side side;
  for (const auto& c : doc["cells"]) {
    if (!which.empty() && c.value("side", std::string()) != which) continue;
    std::string id = series_name(c) + "/" + c["workload"].get<std::string>() + "/c" +
                     std::to_string(c["connections"].get<long>());
    nlohmann::json kp = key_params(c);
    std::string key = id + " " + kp.dump();
    auto [it, fresh] = side.by_key.emplace(key, side.groups.size());
    if (fresh) side.groups.push_back(Group{id, key, kp, {}});
    side.groups[it->second].cells.push_back(&c);
  }
  return side;
}

struct StatusCounts {
  int ok = 0, failed = 0, skipped = 0;
  int rate_not_met = 0;           // ran cleanly, measured, but missed the open-loop schedule
  std::string first_reason;       // of the first failed (else skipped) repetition
  std::string first_rate_reason;  // of the first repetition that missed its rate
  int measured() const { return ok + rate_not_met; }
  int ran() const { return ok + rate_not_met + failed; }
};

StatusCounts count_status(const Group& g) {
  StatusCounts s;
  std::string skip_reason;
  for (const json* c : g.cells) {
    std::string st = (*c)["status"].get<std::string>();
    std::string reason = (*c).contains("reason") && (*c)["reason"].is_string()
                             ? (*c)["reason"].get<std::string>()
                             : "";
    if (st == "ok") ++s.ok;
    if (st == kRateNotMet) {
      if (s.rate_not_met++ == 0) s.first_rate_reason = reason;
    }
    if (st == "failed") {
      if (s.failed++ == 0) s.first_reason = reason;
    }
    if (st == "skipped") {
      if (s.skipped++ == 0) skip_reason = reason;
    }
  }
  if (s.first_reason.empty()) s.first_reason = skip_reason;
  return s;
}

// The values of one metric over the measured repetitions (ok, and those
// that missed their rate: their numbers stand, the status row says the rest),
// by repetition number; `missing` counts measured repetitions without it
// (null: not measured).
std::map<int, double> values_of(const Group& g, const CompareMetric& m, int* missing,
                                const std::string& path) {
  std::map<int, double> v;
  *missing = 0;
  static const json kNone;
  for (const json* c : g.cells) {
    if (!is_measured(*c)) continue;
    const json& ms = c->contains("metrics") ? (*c)["metrics"] : kNone;
    if (!ms.is_object() || !ms.contains(m.field) || ms[m.field].is_null()) {
      ++*missing;
      continue;
    }
    if (!ms[m.field].is_number()) {
      throw CompareInputError(path + ": cell " + (*c)["id"].get<std::string>() + ": metrics." +
                              m.field + " is " + ms[m.field].dump() + ", not a number");
    }
    double x = ms[m.field].get<double>();
    if (!std::isfinite(x)) {
      ++*missing;
      continue;
    }
    v[(*c)["repetition"].get<int>()] = x;
  }
  return v;
}

std::vector<double> values(const std::map<int, double>& by_rep) {
  std::vector<double> v;
  for (const auto& [rep, x] : by_rep) v.push_back(x);
  return v;
}

bool any_client_saturated(const Group& g) {
  for (const json* c : g.cells) {
    if (!is_measured(*c) || !c->contains("metrics") || !(*c)["metrics"].is_object()) continue;
    const json& ms = (*c)["metrics"];
    if (ms.contains("client_saturated") && ms["client_saturated"].is_boolean() &&
        ms["client_saturated"].get<bool>()) {
      return true;
    }
  }
  return false;
}

// "duration_s 2 in base, 3 in new; pipeline ..." for two groups with the same id.
std::string param_differences(const Group& a, const Group& b) {
  std::string s;
  std::set<std::string> keys;
  for (const auto& [k, v] : a.key_params.items()) keys.insert(k);
  for (const auto& [k, v] : b.key_params.items()) keys.insert(k);
  for (const auto& k : keys) {
    auto va = a.key_params.contains(k) ? a.key_params[k].dump() : std::string("(none)");
    auto vb = b.key_params.contains(k) ? b.key_params[k].dump() : std::string("(none)");
    if (va != vb) s += (s.empty() ? "" : ", ") + k + " " + va + " in base, " + vb + " in new";
  }
  return s;
}

json row_head(const Group& g) {
  const json& c = *g.cells.front();
  json r;
  r["id"] = g.id;
  r["strategy"] = c["strategy"];
  r["workload"] = c["workload"];
  r["connections"] = c["connections"];
  r["active"] = g.key_params["active"];
  json params = c["params"];
  params.erase("server_args");
  r["params"] = params;
  return r;
}

// --- one metric of one matched cell ---------------------------------------------

// A row whose test joins the family: its verdict waits for Holm's
// adjustment over every tested row (decide_verdicts).
struct PendingTest {
  std::size_t row = 0;  // index in the report's rows
  double p_worse = 1, p_better = 1;
  bool beyond_worse = false, beyond_better = false;
  bool toward_better = false;  // the direction the estimate moved
  double min_p = 0;            // the smallest p these sample sizes can give
};

struct MetricOutcome {
  json row;
  std::optional<PendingTest> test;  // none: the verdict is already in the row
};

json metric_row_head(const Group& b, const CompareMetric& m, const CompareOptions& o) {
  json r = row_head(b);
  r["metric"] = m.name;
  r["field"] = m.field;
  r["direction"] = m.higher_is_better ? "higher_is_better" : "lower_is_better";
  r["threshold_pct"] = o.threshold_for(m);
  for (const char* k : {"base", "new", "change_pct", "ratio", "ratio_ci", "ci_level"}) r[k] = nullptr;
  return r;
}

// The two samples of one metric. Unpaired: every measured repetition of
// each side. Paired (an A/B file): the repetitions measured on both sides,
// aligned by repetition number.
struct Samples {
  std::vector<double> base, next;
  int b_missing = 0, n_missing = 0;
  int unpaired = 0;  // paired mode: repetitions measured on one side only
  std::size_t n_base = 0, n_new = 0;  // measured repetitions with the metric
};

Samples samples_of(const Group& b, const Group& n, const CompareMetric& m, const CompareOptions& o,
                   const std::string& base_path, const std::string& new_path) {
  Samples s;
  auto bm = values_of(b, m, &s.b_missing, base_path);
  auto nm = values_of(n, m, &s.n_missing, new_path);
  s.n_base = bm.size();
  s.n_new = nm.size();
  if (!o.paired) {
    s.base = values(bm);
    s.next = values(nm);
    return s;
  }
  for (const auto& [rep, x] : bm) {
    auto it = nm.find(rep);
    if (it == nm.end()) continue;
    s.base.push_back(x);
    s.next.push_back(it->second);
  }
  s.unpaired = static_cast<int>(bm.size() + nm.size() - 2 * s.base.size());
  return s;
}

std::vector<std::string> sample_notes(const Group& b, const Group& n, const CompareMetric& m,
                                      const Samples& s) {
  std::vector<std::string> notes;
  if (s.b_missing) {
    notes.push_back(std::to_string(s.b_missing) + " ok repetition(s) in base without " + m.field);
  }
  if (s.n_missing) {
    notes.push_back(std::to_string(s.n_missing) + " ok repetition(s) in new without " + m.field);
  }
  if (s.unpaired) {
    notes.push_back(std::to_string(s.unpaired) + " repetition(s) measured on one side only, left out");
  }
  const bool sb = any_client_saturated(b), sn = any_client_saturated(n);
  if (std::string(m.name) == "throughput" && (sb || sn)) {
    notes.push_back("the load generator was saturated (client-bound) in " +
                    std::string(sb ? "base" : "") + (sb && sn ? " and " : "") + (sn ? "new" : ""));
  }
  return notes;
}

bool all_positive(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return x > 0; });
}

// The effect: the ratio new/base (paired: the median of the per-repetition
// ratios; unpaired: of the medians) and its 95% interval from the rank
// distribution the test uses, on the log scale (signed_rank.h).
void add_effect(json& r, const Samples& s, bool paired) {
  std::vector<double> logs_b, logs_n, d;
  const bool positive = all_positive(s.base) && all_positive(s.next);
  if (paired) {
    std::vector<double> ratios;
    for (std::size_t i = 0; i < s.base.size(); ++i) {
      if (s.base[i] != 0) ratios.push_back(s.next[i] / s.base[i]);
      if (positive) d.push_back(std::log(s.next[i] / s.base[i]));
    }
    r["ratios"] = ratios;
    if (!ratios.empty()) r["ratio"] = median(ratios);
  } else if (median(s.base) != 0) {
    r["ratio"] = median(s.next) / median(s.base);
  }
  if (r["ratio"].is_number()) r["change_pct"] = (r["ratio"].get<double>() - 1) * 100;
  if (!positive) return;
  ConfidenceInterval ci;
  if (paired) {
    ci = signed_rank_ci(d, 0.95);
  } else {
    for (double x : s.base) logs_b.push_back(std::log(x));
    for (double x : s.next) logs_n.push_back(std::log(x));
    ci = shift_ci(logs_n, logs_b, 0.95);
  }
  if (!ci.valid) return;
  r["ratio_ci"] = {std::exp(ci.lo), std::exp(ci.hi)};
  r["ci_level"] = ci.level;
}

MetricOutcome compare_metric(const Group& b, const Group& n, const CompareMetric& m,
                             const CompareOptions& o, const std::string& base_path,
                             const std::string& new_path) {
  MetricOutcome out;
  json& r = out.row;
  r = metric_row_head(b, m, o);
  const Samples s = samples_of(b, n, m, o, base_path, new_path);
  const auto& bv = s.base;
  const auto& nv = s.next;
  r["base"] = bv.empty() ? json(nullptr) : json(median(bv));
  r["new"] = nv.empty() ? json(nullptr) : json(median(nv));
  r["n_base"] = s.n_base;
  r["n_new"] = s.n_new;
  r["base_values"] = bv;
  r["new_values"] = nv;
  if (o.paired) r["pairs"] = bv.size();
  for (const char* k : {"test", "test_note", "u", "p_value", "p_adjusted"}) r[k] = nullptr;
  std::vector<std::string> notes = sample_notes(b, n, m, s);
  auto finish = [&](const char* verdict, const std::string& note = "") {
    if (!note.empty()) notes.insert(notes.begin(), note);
    std::string all;
    for (const auto& t : notes) all += (all.empty() ? "" : "; ") + t;
    r["verdict"] = verdict;
    r["note"] = all.empty() ? json(nullptr) : json(all);
    return out;
  };
  if (bv.empty() || nv.empty()) {
    if (o.paired && s.n_base > 0 && s.n_new > 0) {
      return finish("inconclusive", "no repetition measured on both sides");
    }
    return finish("inconclusive", std::string("not measured in ") + (bv.empty() ? "base" : "new"));
  }
  if (median(bv) == 0 && !o.paired) {
    if (median(nv) == 0) return finish("unchanged");
    return finish("inconclusive", "the base median is 0: no relative change");
  }
  add_effect(r, s, o.paired);
  if (!r["ratio"].is_number()) return finish("inconclusive", "a base value is 0: no ratio");
  const double change = r["change_pct"].get<double>(), thr = o.threshold_for(m);
  const double worse = m.higher_is_better ? -change : change;  // > 0: worse
  PendingTest t;
  t.beyond_worse = worse > thr;
  t.beyond_better = -worse > thr;
  t.toward_better = worse < 0;
  // new against base: for a higher-is-better metric, worse means new tends lower.
  const Alternative alt_worse =
      o.two_sided ? Alternative::kTwoSided
                  : (m.higher_is_better ? Alternative::kLess : Alternative::kGreater);
  const Alternative alt_better =
      o.two_sided ? Alternative::kTwoSided
                  : (m.higher_is_better ? Alternative::kGreater : Alternative::kLess);
  const bool paired_test = o.paired && all_positive(bv) && all_positive(nv);
  const double min_p = paired_test ? signed_rank_min_p(bv.size(), alt_worse)
                                   : mann_whitney_min_p(nv.size(), bv.size(), alt_worse);
  t.min_p = min_p;
  if (min_p > o.alpha) {
    r["test"] = "threshold only";
    const std::string unit = o.paired ? " pairs" : " repetitions";
    r["test_note"] =
        !o.paired && bv.size() == 1 && nv.size() == 1
            ? "1 repetition a side: nothing to test, the threshold alone decides"
            : (o.paired ? std::to_string(bv.size()) : std::to_string(bv.size()) + " vs " + std::to_string(nv.size())) +
                  unit + ": even the most extreme ranking gives p = " + p_text(min_p) +
                  " > alpha " + num_text(o.alpha) + ", so the threshold alone decides";
    if (t.beyond_worse) return finish("regressed");
    if (t.beyond_better) return finish("improved");
    return finish("unchanged");
  }
  if (paired_test) {
    std::vector<double> d;
    for (std::size_t i = 0; i < bv.size(); ++i) d.push_back(std::log(nv[i] / bv[i]));
    SignedRankResult pw = signed_rank(d, alt_worse), pb = signed_rank(d, alt_better);
    r["test"] = pw.exact ? "wilcoxon signed-rank exact" : "wilcoxon signed-rank normal";
    r["w_plus"] = pw.w_plus;
    t.p_worse = pw.p;
    t.p_better = pb.p;
  } else {
    MannWhitneyResult pw = mann_whitney(nv, bv, alt_worse), pb = mann_whitney(nv, bv, alt_better);
    r["test"] = pw.exact ? "mann-whitney exact" : "mann-whitney normal";
    r["u"] = pw.u;
    t.p_worse = pw.p;
    t.p_better = pb.p;
  }
  r["p_value"] = t.toward_better ? t.p_better : t.p_worse;
  out.test = t;
  return finish("pending");
}

// Holm's adjustment over every tested row, then each verdict: regressions
// are one family (p of "new is worse"), improvements the other (p of "new is
// better"); two-sided, both hold the same p-values. Without adjustment
// (--adjust none) the raw p-values decide, as compare did before.
// Returns a warning when no row can be significant after the adjustment:
// the family needs p <= alpha / m for its first rejection.
std::string decide_verdicts(json& rows, const std::vector<PendingTest>& tests, const CompareOptions& o) {
  std::vector<double> pw, pb;
  for (const auto& t : tests) {
    pw.push_back(t.p_worse);
    pb.push_back(t.p_better);
  }
  if (o.adjust) {
    pw = holm_adjust(pw);
    pb = holm_adjust(pb);
  }
  const std::string family = o.adjust ? " after Holm's adjustment over " + std::to_string(tests.size()) + " tests" : "";
  for (std::size_t i = 0; i < tests.size(); ++i) {
    const PendingTest& t = tests[i];
    json& r = rows[t.row];
    const double adj = t.toward_better ? pb[i] : pw[i];
    r["p_adjusted"] = adj;
    std::string verdict = "unchanged", note;
    if (t.beyond_worse || t.beyond_better) {
      if (adj <= o.alpha) {
        verdict = t.beyond_worse ? "regressed" : "improved";
      } else {
        verdict = "inconclusive";
        const double raw = r["p_value"].get<double>();
        note = "beyond the threshold but not significant" + family + " (p = " + p_text(adj) +
               " > alpha " + num_text(o.alpha) + (o.adjust && raw <= o.alpha ? ", unadjusted " + p_text(raw) : "") +
               "): noise, or too few repetitions";
      }
    } else if (adj <= o.alpha && r["change_pct"].get<double>() != 0) {
      note = "significant (p = " + p_text(adj) + ") but within the " +
             num_text(r["threshold_pct"].get<double>()) + "% threshold";
    }
    r["verdict"] = verdict;
    if (!note.empty()) r["note"] = r["note"].is_string() ? json(note + "; " + r["note"].get<std::string>()) : json(note);
  }
  if (!o.adjust || tests.empty()) return "";
  double best = 1;
  for (const auto& t : tests) best = std::min(best, t.min_p);
  const double m = static_cast<double>(tests.size());
  if (best * m <= o.alpha) return "";
  return "no row can be significant: Holm's first step over " + std::to_string(tests.size()) +
         " tests needs p <= " + p_text(o.alpha / m) + ", and the smallest p these repetitions can "
         "give is " + p_text(best) + "; use more repetitions or fewer metrics (--metric)";
}

// A row about a whole cell: failures, or present on one side only.
json status_row(const Group& g, const char* verdict, const std::string& note, const StatusCounts* b,
                const StatusCounts* n) {
  json r = row_head(g);
  r["metric"] = "status";
  r["field"] = nullptr;
  r["base"] = nullptr;
  r["new"] = nullptr;
  r["change_pct"] = nullptr;
  auto counts = [](const StatusCounts* s) -> json {
    if (s == nullptr) return nullptr;
    return {{"ok", s->ok}, {"rate_not_met", s->rate_not_met}, {"failed", s->failed},
            {"skipped", s->skipped}};
  };
  r["base_status"] = counts(b);
  r["new_status"] = counts(n);
  r["verdict"] = verdict;
  r["note"] = note;
  return r;
}

std::string reps(int k, int of) {
  return std::to_string(k) + " of " + std::to_string(of) + " repetition" + (of == 1 ? "" : "s");
}

std::string env_value_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// "Linux 6.1.0-18-amd64 #1 SMP ..." -> "Linux 6.1.0-18-amd64": the release;
// the rest is the build date of the same kernel.
std::string kernel_release(const json& k) {
  if (!k.is_string()) return k.dump();
  auto words = split(k.get<std::string>(), ' ');
  if (words.size() < 2) return k.get<std::string>();
  return words[0] + " " + words[1];
}

// One side's header: its file, or (A/B) its binaries within the one file.
json side_info(const json& doc, const std::string& path, const std::string& which = "") {
  const json& env = doc["environment"];
  json s;
  s["path"] = path;
  s["suite"] = doc["suite"].value("name", json());
  s["started"] = doc.value("started", json());
  s["finished"] = doc.value("finished", json());
  s["git_commit"] = env.is_object() ? env.value("git_commit", json()) : json();
  s["git_dirty"] = env.is_object() ? env.value("git_dirty", json()) : json();
  std::size_t cells = 0;
  for (const auto& c : doc["cells"]) cells += which.empty() || c.value("side", std::string()) == which;
  s["cells"] = cells;
  if (!which.empty() && doc.contains("ab") && doc["ab"].contains(which)) {
    const json& b = doc["ab"][which];
    s["bin_dir"] = b.value("bin_dir", json());
    s["git_commit"] = b.value("git_commit", json());
    s["git_dirty"] = b.value("git_dirty", json());
  }
  return s;
}

// --- the terminal table ---------------------------------------------------------

const char* colour_of(const std::string& verdict) {
  if (verdict == "regressed") return "\033[1;31m";
  if (verdict == "improved") return "\033[32m";
  if (verdict == "inconclusive" || verdict.rfind("only_in", 0) == 0) return "\033[33m";
  return "";
}

std::string verdict_word(const std::string& v) {
  if (v == "regressed") return "REGRESSED";
  if (v == "only_in_base") return "only in base";
  if (v == "only_in_new") return "only in new";
  return v;
}

const CompareMetric* metric_of_row(const json& r) {
  return r["field"].is_string() ? find_compare_metric(r["field"].get<std::string>()) : nullptr;
}

std::string row_value(const json& r, const char* side) {
  const CompareMetric* m = metric_of_row(r);
  if (m == nullptr) {
    std::string key = std::string(side) + "_status";
    if (!r.contains(key) || r[key].is_null()) return "-";
    const json& s = r[key];
    int ok = s["ok"], failed = s["failed"], skipped = s["skipped"];
    int missed = s.value("rate_not_met", 0);
    std::string t;
    if (ok) t += std::to_string(ok) + " ok";
    if (missed) t += (t.empty() ? "" : ", ") + std::to_string(missed) + " RATE NOT MET";
    if (failed) t += (t.empty() ? "" : ", ") + std::to_string(failed) + " failed";
    if (skipped) t += (t.empty() ? "" : ", ") + std::to_string(skipped) + " skipped";
    return t;
  }
  return r[side].is_number() ? value_text(r[side].get<double>(), m->unit) : "-";
}

}  // namespace

// --- public ------------------------------------------------------------------------

const std::vector<CompareMetric>& compare_metrics() {
  return kMetrics;
}

const CompareMetric* find_compare_metric(const std::string& name) {
  for (const auto& m : kMetrics) {
    if (name == m.name || name == m.field) return &m;
  }
  return nullptr;
}

double CompareOptions::threshold_for(const CompareMetric& m) const {
  auto it = threshold_by_metric.find(m.name);
  return it == threshold_by_metric.end() ? threshold_pct : it->second;
}

std::vector<const CompareMetric*> parse_compare_metrics(const std::string& list) {
  std::vector<const CompareMetric*> out;
  for (const auto& name : split(list, ',')) {
    if (name == "all") {
      for (const auto& m : kMetrics) {
        if (std::find(out.begin(), out.end(), &m) == out.end()) out.push_back(&m);
      }
      continue;
    }
    const CompareMetric* m = find_compare_metric(name);
    if (m == nullptr) {
      throw CompareInputError("--metric: '" + name + "' is not a metric; allowed: " +
                              metric_names() + ", all (or a field name such as p99_ns)");
    }
    if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
  }
  if (out.empty()) throw CompareInputError("--metric: no metric given; allowed: " + metric_names());
  return out;
}

void parse_thresholds(const std::string& text, CompareOptions* o) {
  auto percent = [](std::string v, const std::string& what) {
    if (!v.empty() && v.back() == '%') v.pop_back();
    char* end = nullptr;
    double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !std::isfinite(x) || x < 0 || x >= 1000) {
      throw CompareInputError("--threshold: '" + what +
                              "' is not a percentage; allowed: a number from 0 to 999, with or "
                              "without %, e.g. 5% (per metric: p99=15%)");
    }
    return x;
  };
  auto items = split(text, ',');
  if (items.empty()) throw CompareInputError("--threshold: empty; allowed: e.g. 5% or 5%,p99=15%");
  for (const auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos) {
      o->threshold_pct = percent(item, item);
      continue;
    }
    std::string name = item.substr(0, eq);
    const CompareMetric* m = find_compare_metric(name);
    if (m == nullptr) {
      throw CompareInputError("--threshold: '" + name +
                              "' is not a metric; allowed: " + metric_names());
    }
    o->threshold_by_metric[m->name] = percent(item.substr(eq + 1), item);
  }
}

bool is_ab_file(const json& doc) {
  return doc.contains("ab") && doc["ab"].is_object();
}

json load_for_compare(const std::string& path) {
  try {
    return ResultsFile::load(path);
  } catch (const SuiteError& e) {
    throw CompareInputError(e.what());
  }
}

// Where a run's traffic went: the kind of network, each host with its role,
// and each interface's MTU and queueing discipline (netem shows there). A run
// recorded before host files existed was on loopback.
json network_summary(const json& env) {
  const json net = env.is_object() && env.contains("network") && env["network"].is_object()
                       ? env["network"] : json{{"kind", "loopback"}};
  json path = json::array();
  if (net.contains("path") && net["path"].is_array()) {
    for (const auto& p : net["path"]) {
      const json itf = p.value("interface", json::object());
      path.push_back({{"host", p.value("host", json())}, {"role", p.value("role", json())},
                      {"loopback", itf.value("loopback", json())}, {"mtu", itf.value("mtu", json())},
                      {"qdisc", itf.value("qdisc", json())}});
    }
  }
  return {{"kind", net.value("kind", json())}, {"netem", net.value("netem", json())}, {"path", path}};
}

std::vector<EnvDifference> environment_differences(const json& base_doc, const json& new_doc) {
  std::vector<EnvDifference> out;
  const json& a = base_doc["environment"];
  const json& b = new_doc["environment"];
  auto get = [](const json& env, const std::string& k) {
    return env.is_object() && env.contains(k) ? env[k] : json();
  };
  for (const char* k : kMaterialEnv) {
    if (get(a, k) != get(b, k)) out.push_back({k, get(a, k), get(b, k), true});
  }
  std::string ka = kernel_release(get(a, "kernel")), kb = kernel_release(get(b, "kernel"));
  if (ka != kb) {
    out.push_back({"kernel", ka, kb, true});
  } else if (get(a, "kernel") != get(b, "kernel")) {
    out.push_back({"kernel", get(a, "kernel"), get(b, "kernel"), false});
  }
  json na = network_summary(a), nb = network_summary(b);
  if (na["kind"] != nb["kind"] || na["netem"] != nb["netem"]) {
    out.push_back({"network", json({na["kind"], na["netem"]}), json({nb["kind"], nb["netem"]}), true});
  } else if (!na["path"].empty() && !nb["path"].empty() && na["path"] != nb["path"]) {
    out.push_back({"network.path", na["path"], nb["path"], true});
  }
  // Placement is a suite setting (every cell records it too).
  for (const char* k : {"server_cpus", "loadgen_cpus"}) {
    auto pa =
        base_doc["suite"].contains("placement") ? get(base_doc["suite"]["placement"], k) : json();
    auto pb =
        new_doc["suite"].contains("placement") ? get(new_doc["suite"]["placement"], k) : json();
    if (pa != pb) out.push_back({std::string("placement.") + k, pa, pb, true});
  }
  std::set<std::string> informational(std::begin(kInformationalEnv), std::end(kInformationalEnv));
  for (const json* e : {&a, &b}) {
    if (!e->is_object()) continue;
    for (const auto& [k, v] : e->items()) {
      if (k.size() > 8 && k.ends_with("_version")) informational.insert(k);
    }
  }
  for (const auto& k : informational) {
    if (get(a, k) != get(b, k)) out.push_back({k, get(a, k), get(b, k), false});
  }
  json sa = get(a, "sysctl"), sb = get(b, "sysctl");
  std::set<std::string> keys;
  for (const json* s : {&sa, &sb}) {
    if (!s->is_object()) continue;
    for (const auto& [k, v] : s->items()) keys.insert(k);
  }
  for (const auto& k : keys) {
    if (get(sa, k) != get(sb, k)) out.push_back({"sysctl." + k, get(sa, k), get(sb, k), false});
  }
  return out;
}

namespace {

// The rows as they are collected, before the family's verdicts.
struct Collected {
  json rows = json::array();
  std::vector<PendingTest> tests;
  std::size_t matched = 0, skipped_both = 0;
};

std::string unmatched_note(const Group& g, const std::vector<const Group*>& others, bool g_is_base) {
  for (const Group* other : others) {
    std::string d = g_is_base ? param_differences(g, *other) : param_differences(*other, g);
    if (!d.empty()) return "a cell with the same id has other parameters: " + d;
  }
  return std::string();
}

// A cell's failures: new failing where base did not is a regression.
void add_failure_row(const Group& b, const StatusCounts& bs, const StatusCounts& ns, json& rows) {
  if (ns.failed == 0 && bs.failed == 0) return;
  if (ns.measured() == 0 && bs.measured() > 0) {
    rows.push_back(status_row(
        b, "regressed", "fails in new in " + reps(ns.failed, ns.ran()) + ": " + ns.first_reason,
        &bs, &ns));
  } else if (bs.failed == 0) {
    rows.push_back(status_row(b, "regressed",
                              "fails in new in " + reps(ns.failed, ns.ran()) +
                                  " (never in base): " + ns.first_reason,
                              &bs, &ns));
  } else if (ns.failed == 0 || (bs.measured() == 0 && ns.measured() > 0)) {
    rows.push_back(status_row(b, "improved",
                              "failed in base in " + reps(bs.failed, bs.ran()) +
                                  (ns.failed ? ", in new in " + reps(ns.failed, ns.ran())
                                             : std::string(", never in new")) +
                                  ": " + bs.first_reason,
                              &bs, &ns));
  } else {
    rows.push_back(status_row(b, "inconclusive",
                              "fails on both sides (base " + reps(bs.failed, bs.ran()) + ", new " +
                                  reps(ns.failed, ns.ran()) + "): " + ns.first_reason,
                              &bs, &ns));
  }
}

// Open loop: a cell that kept its schedule in base and misses it in new is a
// regression, whatever its other numbers say (an overloaded client can look
// faster than it is); the reverse is an improvement.
void add_rate_row(const Group& b, const StatusCounts& bs, const StatusCounts& ns, json& rows) {
  if (ns.rate_not_met > 0 && bs.rate_not_met == 0 && bs.ok > 0) {
    rows.push_back(status_row(b, "regressed",
                              "misses its rate in new in " + reps(ns.rate_not_met, ns.ran()) +
                                  " (met in base): " + ns.first_rate_reason,
                              &bs, &ns));
  } else if (bs.rate_not_met > 0 && ns.rate_not_met == 0 && ns.ok > 0) {
    rows.push_back(status_row(b, "improved",
                              "missed its rate in base in " + reps(bs.rate_not_met, bs.ran()) +
                                  ", met in new: " + bs.first_rate_reason,
                              &bs, &ns));
  } else if (bs.rate_not_met > 0 && ns.rate_not_met > 0) {
    rows.push_back(status_row(b, "unchanged",
                              "misses its rate on both sides (base " +
                                  reps(bs.rate_not_met, bs.ran()) + ", new " +
                                  reps(ns.rate_not_met, ns.ran()) + "): " + ns.first_rate_reason,
                              &bs, &ns));
  }
}

// One cell of base and its match in new: status rows, then one row per metric.
void add_matched_cell(const Group& b, const Group& n, const CompareOptions& o,
                      const std::string& base_path, const std::string& new_path, Collected& c) {
  StatusCounts bs = count_status(b), ns = count_status(n);
  const int b_ran = bs.ran(), n_ran = ns.ran();
  if (b_ran == 0 && n_ran == 0) {
    ++c.skipped_both;
    return;
  }
  if (b_ran == 0 || n_ran == 0) {
    const StatusCounts& skipped_side = b_ran == 0 ? bs : ns;
    c.rows.push_back(status_row(
        b, b_ran == 0 ? "only_in_new" : "only_in_base",
        std::string("skipped in ") + (b_ran == 0 ? "base" : "new") +
            (skipped_side.first_reason.empty() ? "" : ": " + skipped_side.first_reason),
        &bs, &ns));
    return;
  }
  ++c.matched;
  add_failure_row(b, bs, ns, c.rows);
  add_rate_row(b, bs, ns, c.rows);
  if (bs.measured() == 0 || ns.measured() == 0) return;
  for (const CompareMetric* m : o.metrics) {
    MetricOutcome r = compare_metric(b, n, *m, o, base_path, new_path);
    // Not measured on either side (e.g. PSS of a huge process group): no row.
    if (r.row["n_base"] == 0 && r.row["n_new"] == 0) continue;
    if (r.test) {
      r.test->row = c.rows.size();
      c.tests.push_back(*r.test);
    }
    c.rows.push_back(std::move(r.row));
  }
}

// Every cell of both sides, in base's order, then those only in new.
Collected collect_rows(const Side& base, const Side& next, const CompareOptions& o,
                       const std::string& base_path, const std::string& new_path) {
  Collected c;
  std::map<std::string, std::vector<const Group*>> by_id_new, by_id_base;
  for (const auto& g : next.groups) by_id_new[g.id].push_back(&g);
  for (const auto& g : base.groups) by_id_base[g.id].push_back(&g);
  for (const auto& b : base.groups) {
    auto it = next.by_key.find(b.key);
    if (it != next.by_key.end()) {
      add_matched_cell(b, next.groups[it->second], o, base_path, new_path, c);
      continue;
    }
    StatusCounts bs = count_status(b);
    if (bs.ran() == 0) {
      ++c.skipped_both;  // skipped, and not in new either: nothing was lost
      continue;
    }
    c.rows.push_back(
        status_row(b, "only_in_base", unmatched_note(b, by_id_new[b.id], true), &bs, nullptr));
  }
  for (const auto& n : next.groups) {
    if (base.by_key.count(n.key)) continue;
    StatusCounts ns = count_status(n);
    if (ns.ran() == 0) {
      ++c.skipped_both;
      continue;
    }
    c.rows.push_back(
        status_row(n, "only_in_new", unmatched_note(n, by_id_base[n.id], false), nullptr, &ns));
  }
  return c;
}

// Rows per verdict, and the geometric means of the ratios new/base per
// strategy and overall.
std::pair<std::map<std::string, int>, json> summarize(const json& rows, const CompareOptions& o) {
  std::map<std::string, int> counts = {{"regressed", 0},    {"improved", 0},
                                       {"unchanged", 0},    {"inconclusive", 0},
                                       {"only_in_base", 0}, {"only_in_new", 0}};
  struct Acc {
    double log_sum = 0;
    int n = 0;
  };
  std::map<std::string, std::map<std::string, Acc>> per_strategy;  // strategy -> metric
  std::map<std::string, Acc> overall;
  std::vector<std::string> strategy_order;
  for (const auto& r : rows) {
    ++counts[r["verdict"].get<std::string>()];
    if (!r["field"].is_string() || !r.contains("ratio") || !r["ratio"].is_number()) continue;
    const double ratio = r["ratio"].get<double>();
    if (!(ratio > 0)) continue;
    std::string s = r["strategy"], m = r["metric"];
    if (!per_strategy.count(s)) strategy_order.push_back(s);
    auto& a = per_strategy[s][m];
    a.log_sum += std::log(ratio);
    ++a.n;
    overall[m].log_sum += std::log(ratio);
    ++overall[m].n;
  }
  auto geo = [&](const std::map<std::string, Acc>& by_metric) {
    json j = json::object();
    for (const CompareMetric* m : o.metrics) {
      auto it = by_metric.find(m->name);
      if (it == by_metric.end() || it->second.n == 0) continue;
      j[m->name] = {{"geomean_change_pct", (std::exp(it->second.log_sum / it->second.n) - 1) * 100},
                    {"cells", it->second.n}};
    }
    return j;
  };
  json summary;
  summary["overall"] = geo(overall);
  summary["strategies"] = json::object();
  for (const auto& s : strategy_order) summary["strategies"][s] = geo(per_strategy[s]);
  return {counts, summary};
}

json run_warnings(const json& base_doc, const json& new_doc) {
  json warnings = json::array();
  for (const auto& [doc, which] :
       {std::pair<const json*, const char*>{&base_doc, "base"}, {&new_doc, "new"}}) {
    if (doc == &new_doc && &base_doc == &new_doc) break;
    if (doc->value("finished", json()).is_null()) {
      warnings.push_back(std::string("the ") + (&base_doc == &new_doc ? "A/B" : which) +
                         " run did not finish (finished is null): only its recorded cells count");
    }
  }
  return warnings;
}

}  // namespace

json compare_results(const json& base_doc, const json& new_doc, const CompareOptions& o,
                     const std::string& base_path, const std::string& new_path,
                     const std::vector<EnvDifference>& env_diffs, bool env_mismatch_allowed) {
  const bool ab = o.paired;  // one A/B file: both sides in base_doc
  const Side base = group_cells(base_doc, ab ? "base" : "");
  const Side next = group_cells(ab ? base_doc : new_doc, ab ? "new" : "");
  Collected c = collect_rows(base, next, o, base_path, new_path);
  if (c.matched == 0) {
    throw CompareInputError(
        ab ? base_path + ": no cell ran on both sides of the A/B run: nothing to compare"
           : "no cell of " + new_path + " matches a cell of " + base_path +
                 " that ran (same strategy, workload, connections and parameters): "
                 "nothing to compare");
  }
  const std::string power_warning = decide_verdicts(c.rows, c.tests, o);
  auto [counts, summary] = summarize(c.rows, o);

  bool material = false;
  json diffs = json::array();
  for (const auto& d : env_diffs) {
    material |= d.material;
    diffs.push_back({{"key", d.key}, {"base", d.base}, {"new", d.next}, {"material", d.material}});
  }
  json thresholds = json::object();
  json metric_names_json = json::array();
  for (const CompareMetric* m : o.metrics) {
    thresholds[m->name] = o.threshold_for(*m);
    metric_names_json.push_back(m->name);
  }
  const int exit_status = counts["regressed"] > 0 ? kExitError : kExitOk;

  json rep;
  rep["schema_version"] = 1;
  rep["tool"] = "muxbench compare";
  rep["mode"] = ab ? "paired" : "two files";
  rep["base"] = base_path;
  rep["new"] = new_path;
  rep["result"] = exit_status == kExitOk ? "no regression" : "regression";
  rep["exit_status"] = exit_status;
  rep["regressions"] = counts["regressed"];
  rep["threshold_pct"] = o.threshold_pct;
  rep["alpha"] = o.alpha;
  rep["alternative"] = o.two_sided ? "two-sided" : "one-sided";
  rep["adjustment"] = o.adjust ? "holm" : "none";
  rep["tests"] = c.tests.size();
  rep["metrics"] = metric_names_json;
  rep["thresholds_pct"] = thresholds;
  rep["base_run"] = side_info(base_doc, base_path, ab ? "base" : "");
  rep["new_run"] = side_info(ab ? base_doc : new_doc, new_path, ab ? "new" : "");
  rep["environment"] = {
      {"differences", diffs}, {"material", material}, {"mismatch_allowed", env_mismatch_allowed}};
  rep["counts"] = counts;
  rep["counts"]["matched_cells"] = c.matched;
  rep["counts"]["skipped_on_both_sides"] = c.skipped_both;
  rep["summary"] = summary;
  rep["warnings"] = run_warnings(base_doc, ab ? base_doc : new_doc);
  if (!power_warning.empty()) rep["warnings"].push_back(power_warning);
  rep["cells"] = c.rows;
  return rep;
}

namespace {

using Paint = std::function<std::string(const std::string&, const std::string&)>;

// "0.803 [0.791, 0.815]", with * when the interval's confidence is below 95%.
std::string ratio_text(const json& r) {
  if (!r.contains("ratio") || !r["ratio"].is_number()) return "";
  std::string s = fmt("%.3f", r["ratio"].get<double>());
  if (r["ratio_ci"].is_array()) {
    s += " [" + fmt("%.3f", r["ratio_ci"][0].get<double>()) + ", " +
         fmt("%.3f", r["ratio_ci"][1].get<double>()) + "]";
    if (r["ci_level"].get<double>() < 0.95 - 1e-9) s += "*";
  }
  return s;
}

// The two sides, the decision rule, and the environment.
void text_header(const json& rep, std::ostringstream& out) {
  const bool paired = rep.value("mode", "") == "paired";
  for (const char* which : {"base_run", "new_run"}) {
    const json& s = rep[which];
    std::string commit = s["git_commit"].is_string()
                             ? s["git_commit"].get<std::string>().substr(0, 10)
                             : std::string("?");
    if (s["git_dirty"].is_boolean() && s["git_dirty"].get<bool>()) commit += " (dirty)";
    out << (std::string(which) == "base_run" ? "base: " : "new:  ")
        << (paired && s.contains("bin_dir") ? env_value_text(s["bin_dir"]) + " in " : "")
        << s["path"].get<std::string>() << "  suite " << env_value_text(s["suite"]) << ", "
        << s["cells"].get<int>() << " cells, commit " << commit << ", "
        << env_value_text(s["started"]) << "\n";
  }
  // The rule, with per-metric thresholds where they differ.
  std::string thr = num_text(rep["threshold_pct"].get<double>()) + "%";
  for (const auto& [m, t] : rep["thresholds_pct"].items()) {
    if (t.get<double>() != rep["threshold_pct"].get<double>()) {
      thr += ", " + m + " " + num_text(t.get<double>()) + "%";
    }
  }
  const bool holm = rep.value("adjustment", "holm") == "holm";
  out << "rule: a regression is a ratio new/base beyond the threshold (" << thr
      << ") in the bad direction that a " << rep["alternative"].get<std::string>() << " "
      << (paired ? "Wilcoxon signed-rank test over the paired repetitions"
                 : "Mann-Whitney U test over the repetitions")
      << " finds significant at alpha " << num_text(rep["alpha"].get<double>())
      << (holm ? " after Holm's adjustment over the " + std::to_string(rep["tests"].get<int>()) +
                     " tested rows (p adj)"
               : " (no adjustment for the number of rows)")
      << "\n";
  out << "ratio: " << (paired ? "the median of the per-repetition ratios new/base (ABBA pairs)"
                              : "median(new) / median(base)")
      << ", with its 95% confidence interval (rank-based, exact; * lower confidence: too few "
      << (paired ? "pairs" : "repetitions") << ")\n";
  const json& env = rep["environment"];
  if (paired) {
    out << "environment: one run, both sides interleaved on the same machine\n";
  } else if (env["differences"].empty()) {
    out << "environment: same CPU model, CPU count, kernel, build type and placement\n";
  } else {
    out << "environment differences"
        << (env["material"].get<bool>() ? " (material ones marked !, compared anyway: "
                                          "--allow-env-mismatch)"
                                        : " (none material)")
        << ":\n";
    for (const auto& d : env["differences"]) {
      out << "  " << (d["material"].get<bool>() ? "! " : "  ") << d["key"].get<std::string>()
          << ": " << env_value_text(d["base"]) << " (base) vs " << env_value_text(d["new"])
          << " (new)\n";
    }
  }
  for (const auto& w : rep["warnings"]) out << "warning: " << w.get<std::string>() << "\n";
}

// One line per cell and metric; the cell id only on its first.
void text_table(const json& rep, const Paint& paint, std::ostringstream& out) {
  const bool paired = rep.value("mode", "") == "paired";
  std::vector<std::vector<std::string>> table = {
      {"cell", "metric", "base", "new", "change", "ratio [95% CI]", paired ? "pairs" : "reps", "p",
       "p adj", "verdict"}};
  std::vector<std::string> verdicts = {""};
  std::vector<std::string> notes = {""};
  std::string last_id;
  bool low_level = false;
  for (const auto& r : rep["cells"]) {
    std::string id = r["id"].get<std::string>();
    std::string key = id + r["params"].dump();
    std::string reps_col =
        !r.contains("n_base")  ? ""
        : r.contains("pairs") ? std::to_string(r["pairs"].get<int>())
                              : std::to_string(r["n_base"].get<int>()) + "/" +
                                    std::to_string(r["n_new"].get<int>());
    const bool thr_only = r.contains("test") && r["test"] == "threshold only";
    std::string p = r.contains("p_value") && r["p_value"].is_number()
                        ? p_text(r["p_value"].get<double>())
                        : (thr_only ? "thr" : "");
    std::string p_adj = r.contains("p_adjusted") && r["p_adjusted"].is_number()
                            ? p_text(r["p_adjusted"].get<double>())
                            : "";
    std::string ratio = ratio_text(r);
    low_level |= !ratio.empty() && ratio.back() == '*';
    table.push_back({key == last_id ? "" : id, r["metric"].get<std::string>(), row_value(r, "base"),
                     row_value(r, "new"),
                     r["change_pct"].is_number() ? pct_text(r["change_pct"].get<double>()) : "",
                     ratio, reps_col, p, p_adj, verdict_word(r["verdict"].get<std::string>())});
    verdicts.push_back(r["verdict"].get<std::string>());
    notes.push_back(r["note"].is_string() ? r["note"].get<std::string>() : "");
    last_id = key;
  }
  std::vector<std::size_t> widths(table[0].size(), 0);
  for (const auto& row : table) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], width(row[i]));
  }
  out << "\n";
  for (std::size_t r = 0; r < table.size(); ++r) {
    std::string line;
    for (std::size_t i = 0; i < table[r].size(); ++i) {
      bool right = i >= 2 && i <= 8;
      std::string cellText = pad(table[r][i], widths[i], right);
      if (i == 4 || i == 9) cellText = paint(cellText, verdicts[r]);
      line += (i ? "  " : "") + cellText;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    if (!notes[r].empty()) line += "  (" + notes[r] + ")";
    out << line << "\n";
  }
  std::vector<std::string> test_notes;  // why the test was not used, once each
  for (const auto& r : rep["cells"]) {
    if (!r.contains("test_note") || !r["test_note"].is_string()) continue;
    std::string t = r["test_note"].get<std::string>();
    if (std::find(test_notes.begin(), test_notes.end(), t) == test_notes.end()) {
      test_notes.push_back(t);
    }
  }
  for (const auto& t : test_notes) out << "p \"thr\": " << t << "\n";
  if (low_level) {
    out << "*: with so few " << (paired ? "pairs" : "repetitions")
        << " no interval reaches 95%; the widest one is shown (its level is ci_level in --json)\n";
  }
}

// Geometric means of the ratios new/base, per strategy and overall.
void text_geomeans(const json& rep, std::ostringstream& out) {
  const json& sum = rep["summary"];
  std::vector<std::string> ms;
  for (const auto& m : rep["metrics"]) ms.push_back(m.get<std::string>());
  std::vector<std::vector<std::string>> g = {{"strategy"}};
  for (const auto& m : ms) g[0].push_back(m);
  auto geo_row = [&](const std::string& name, const json& by_metric) {
    std::vector<std::string> row = {name};
    for (const auto& m : ms) {
      row.push_back(by_metric.contains(m)
                        ? pct_text(by_metric[m]["geomean_change_pct"].get<double>()) + " (" +
                              std::to_string(by_metric[m]["cells"].get<int>()) + ")"
                        : "-");
    }
    return row;
  };
  for (const auto& [s, by_metric] : sum["strategies"].items()) g.push_back(geo_row(s, by_metric));
  g.push_back(geo_row("all", sum["overall"]));
  std::vector<std::size_t> gw(g[0].size(), 0);
  for (const auto& row : g) {
    for (std::size_t i = 0; i < row.size(); ++i) gw[i] = std::max(gw[i], width(row[i]));
  }
  out << "\ngeometric mean of the ratios new/base as a change (cells):\n";
  for (const auto& row : g) {
    std::string line = " ";
    for (std::size_t i = 0; i < row.size(); ++i) line += " " + pad(row[i], gw[i], i > 0) + " ";
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}

// The counts, each regression in one line, and the result.
void text_verdicts(const json& rep, const Paint& paint, std::ostringstream& out) {
  const json& c = rep["counts"];
  out << "\nverdicts (cell x metric): " << c["regressed"].get<int>() << " regressed, "
      << c["improved"].get<int>() << " improved, " << c["unchanged"].get<int>() << " unchanged, "
      << c["inconclusive"].get<int>() << " inconclusive; " << c["matched_cells"].get<int>()
      << " cells matched, " << c["only_in_base"].get<int>() << " only in base, "
      << c["only_in_new"].get<int>() << " only in new\n";
  if (c["regressed"].get<int>() > 0) {
    out << paint("regressions:", "regressed") << "\n";
    for (const auto& r : rep["cells"]) {
      if (r["verdict"] != "regressed") continue;
      out << "  " << r["id"].get<std::string>() << " " << r["metric"].get<std::string>() << ": ";
      if (!r["field"].is_string()) {
        out << r["note"].get<std::string>() << "\n";
        continue;
      }
      out << row_value(r, "base") << " -> " << row_value(r, "new") << " ("
          << pct_text(r["change_pct"].get<double>());
      if (r["ratio_ci"].is_array()) out << ", ratio " << ratio_text(r);
      if (r["p_value"].is_number()) out << ", p = " << p_text(r["p_value"].get<double>());
      if (r["p_adjusted"].is_number() && rep.value("adjustment", "") == "holm") {
        out << ", adjusted " << p_text(r["p_adjusted"].get<double>());
      }
      if (r.contains("pairs")) {
        out << ", " << r["pairs"].get<int>() << " pairs";
      } else {
        out << ", " << r["n_base"].get<int>() << " vs " << r["n_new"].get<int>() << " repetitions";
      }
      out << (r["test"] == "threshold only" ? ", threshold only" : "") << ")\n";
    }
  }
  out << "result: "
      << (rep["exit_status"].get<int>() == kExitOk ? std::string("no regression (exit 0)")
                                                   : paint("REGRESSION (exit 1)", "regressed"))
      << "\n";
}

}  // namespace

std::string compare_text(const json& rep, bool colour) {
  Paint paint = [&](const std::string& text, const std::string& verdict) {
    const char* c = colour_of(verdict);
    if (!colour || *c == '\0') return text;
    return std::string(c) + text + "\033[0m";
  };
  std::ostringstream out;
  text_header(rep, out);
  text_table(rep, paint, out);
  text_geomeans(rep, out);
  text_verdicts(rep, paint, out);
  return out.str();
}

namespace {

// The options and the files, checked; throws CompareInputError.
CompareOptions compare_options(const CompareFlags& o) {
  CompareOptions opts;
  opts.metrics = parse_compare_metrics(o.metrics);
  parse_thresholds(o.threshold, &opts);
  if (o.alpha && !(*o.alpha > 0 && *o.alpha < 1)) {
    throw CompareInputError("--alpha: " + num_text(*o.alpha) +
                            " is not a significance level; allowed: a number between 0 "
                            "and 1, e.g. 0.05");
  }
  if (o.adjust != "holm" && o.adjust != "none") {
    throw CompareInputError("--adjust: '" + o.adjust + "' is not an adjustment; allowed: holm, none");
  }
  opts.two_sided = o.two_sided;
  opts.adjust = o.adjust == "holm";
  return opts;
}

// Refuses (false) environments that differ materially, unless allowed.
bool environments_comparable(const std::vector<EnvDifference>& diffs, bool allowed) {
  bool material = std::any_of(diffs.begin(), diffs.end(), [](auto& d) { return d.material; });
  if (!material || allowed) return true;
  error("the two runs' environments differ materially; their numbers are not comparable:");
  for (const auto& d : diffs) {
    std::fprintf(stderr, "  %s%s: %s (base) vs %s (new)\n", d.material ? "! " : "  ",
                 d.key.c_str(), env_value_text(d.base).c_str(), env_value_text(d.next).c_str());
  }
  error(
      "run both on the same machine and build type, or pass --allow-env-mismatch to "
      "compare anyway");
  return false;
}

int write_compare(const json& rep, const std::string& json_out) {
  const bool json_to_stdout = json_out == "-";
  std::FILE* text_out = json_to_stdout ? stderr : stdout;
  const char* no_color = std::getenv("NO_COLOR");
  bool colour = ::isatty(::fileno(text_out)) != 0 && (no_color == nullptr || *no_color == '\0');
  std::fputs(compare_text(rep, colour).c_str(), text_out);
  if (json_to_stdout) {
    std::printf("%s\n", rep.dump(2).c_str());
  } else if (!json_out.empty()) {
    std::ofstream f(json_out);
    f << rep.dump(2) << "\n";
    f.close();
    if (!f) {
      error("cannot write " + json_out + ": " + errno_string(errno));
      return kExitUsage;
    }
  }
  std::fflush(stdout);
  return rep["exit_status"].get<int>();
}

}  // namespace

int compare_main(const CompareFlags& o) {
  CompareOptions opts;
  json base_doc, new_doc;
  try {
    opts = compare_options(o);
    base_doc = load_for_compare(o.base);
    if (o.next.empty()) {
      if (!is_ab_file(base_doc)) {
        throw CompareInputError(o.base + ": not an A/B results file (muxbench ab); compare it "
                                "with another: muxbench compare BASE.json NEW.json");
      }
      opts.paired = true;
    } else {
      new_doc = load_for_compare(o.next);
      for (const auto* d : {&base_doc, &new_doc}) {
        if (is_ab_file(*d)) {
          throw CompareInputError((d == &base_doc ? o.base : o.next) +
                                  ": an A/B results file holds both sides; compare it alone: "
                                  "muxbench compare FILE");
        }
      }
    }
  } catch (const CompareInputError& e) {
    error(e.what());
    return kExitUsage;
  }
  opts.alpha = o.alpha.value_or(opts.paired ? kDefaultAlphaPaired : kDefaultAlphaTwoFiles);
  std::vector<EnvDifference> diffs;
  if (!opts.paired) {
    diffs = environment_differences(base_doc, new_doc);
    if (!environments_comparable(diffs, o.allow_env_mismatch)) return kExitUsage;
  }
  json rep;
  try {
    rep = opts.paired ? compare_results(base_doc, base_doc, opts, o.base + " (base)",
                                        o.base + " (new)", diffs, false)
                      : compare_results(base_doc, new_doc, opts, o.base, o.next, diffs,
                                        o.allow_env_mismatch);
  } catch (const CompareInputError& e) {
    error(e.what());
    return kExitUsage;
  }
  return write_compare(rep, o.json_out);
}

void add_compare_flags(CLI::App& sub, CompareFlags& f) {
  CompareFlags* o = &f;
  sub.add_option("--metric,--metrics", o->metrics,
                 std::string("Comma-separated metrics (default ") + kDefaultCompareMetrics +
                     "): " + metric_names() + ", or all");
  sub.add_option("--threshold", o->threshold,
                 "Smallest change of the ratio new/base that counts, in % (default 5%); per "
                 "metric: 5%,p99=15%");
  sub.add_option("--alpha", o->alpha,
                 "Significance level, for the whole report after --adjust (default 0.01 for "
                 "an A/B file, as ab writes; 0.05 for two files)");
  sub.add_flag("--two-sided", o->two_sided,
               "Two-sided test (default: one-sided, in the direction the verdict claims)");
  sub.add_option("--adjust", o->adjust,
                 "holm (default): Holm's adjustment over every tested cell x metric, so that "
                 "alpha bounds the chance of any false regression; none: each row at alpha");
  sub.add_option("--json", o->json_out,
                 "Also write the comparison as JSON to this file (- : stdout)");
  sub.add_flag("--allow-env-mismatch", o->allow_env_mismatch,
               "Compare even when CPU, core count, kernel, build type or placement differ");
}

CommandMain setup_compare(CLI::App& sub) {
  auto o = std::make_shared<CompareFlags>();
  sub.add_option("base", o->base,
                 "The results file to compare against (e.g. the main branch), or one A/B results "
                 "file (muxbench ab) holding both sides")
      ->required();
  sub.add_option("new", o->next,
                 "The results file under test (e.g. the pull request); none for an A/B file");
  add_compare_flags(sub, *o);
  std::string metric_help = "\nMetrics (results field; + higher is better, - lower is better):\n";
  for (const auto& m : kMetrics) {
    metric_help += "  " + pad(m.name, 26) + pad(m.field, 36) + (m.higher_is_better ? "+ " : "- ") +
                   m.meaning + "\n";
  }
  sub.footer(metric_help +
             "\nExit status: 0 no regression; 1 at least one regression\n"
             "  (a metric's ratio new/base beyond the threshold and significant after\n"
             "  Holm's adjustment, or a cell that fails in NEW but not in BASE); 2 usage\n"
             "  or input error (unreadable file, schema mismatch, no cell in common,\n"
             "  environments that differ materially without --allow-env-mismatch).\n"
             "  docs/ci.md has the details.");
  return [o]() -> int { return compare_main(*o); };
}

}  // namespace muxbench::harness
