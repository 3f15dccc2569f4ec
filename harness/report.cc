#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "catalog.h"

namespace muxbench::harness {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// j[key], or null when j is not an object or has no such key.
const json& field(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string text_of(const json& j, const char* key, const std::string& otherwise) {
  const json& v = field(j, key);
  return v.is_string() ? v.get<std::string>() : otherwise;
}

std::optional<double> metric(const json& cell, const char* key) {
  if (!cell.contains("metrics") || !cell["metrics"].is_object()) return std::nullopt;
  const json& m = cell["metrics"];
  if (!m.contains(key) || !m[key].is_number()) return std::nullopt;
  return m[key].get<double>();
}

std::optional<double> median(std::vector<double> v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Display width of UTF-8 text (µ is two bytes, one column).
std::size_t width(const std::string& s) {
  std::size_t w = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++w;
  }
  return w;
}

std::string pad(const std::string& s, std::size_t w, bool right) {
  std::size_t sw = width(s);
  if (sw >= w) return s;
  std::string fill(w - sw, ' ');
  return right ? fill + s : s + fill;
}

// Which side limited the cells of a table entry: S server-bound, C
// client-bound, SC both, "-" neither; several letters when the repetitions
// disagree ("S/C"); "" when unknown.
std::string bound_marker(const std::vector<const json*>& ok) {
  std::set<std::string> seen;
  for (const json* c : ok) {
    const std::string b = text_of(field(*c, "metrics"), "bound", "");
    if (b.empty()) continue;
    seen.insert(b == "server-bound" ? "S" : b == "client-bound" ? "C" : b == "both" ? "SC" : "-");
  }
  std::string out;
  for (const auto& x : seen) out += (out.empty() ? "" : "/") + x;
  return out.empty() ? "" : " " + out;
}

std::string metric_text(const std::vector<const json*>& ok, TableMetric what) {
  auto med = [&](const char* key) {
    std::vector<double> v;
    for (const json* c : ok) {
      if (auto x = metric(*c, key)) v.push_back(*x);
    }
    return median(v);
  };
  auto or_dash = [](std::optional<double> v, std::string (*f)(double)) {
    return v ? f(*v) : std::string("?");
  };
  switch (what) {
    case TableMetric::kRequests:
      return or_dash(med("requests_per_s"), format_rate) + " " + or_dash(med("p99_ns"), format_ns);
    case TableMetric::kLatency:
      return or_dash(med("p50_ns"), format_ns) + "/" + or_dash(med("p99_ns"), format_ns) + "/" +
             or_dash(med("p999_ns"), format_ns);
    case TableMetric::kCpu: {
      auto v = med("server_cpu_us_per_request");
      return v ? fmt(*v < 10 ? "%.2fµs" : "%.1fµs", *v) : std::string("?");
    }
    case TableMetric::kMemory:
      return or_dash(med("server_memory_per_connection_bytes"), format_bytes) + "/" +
             or_dash(med("server_pss_per_connection_bytes"), format_bytes) + " " +
             or_dash(med("server_rss_peak_bytes"), format_bytes);
    case TableMetric::kBandwidth:
      return or_dash(med("bytes_per_s"), format_bytes) + "/s";
  }
  return "?";
}

const char* metric_caption(TableMetric what, const std::string& workload) {
  switch (what) {
    case TableMetric::kRequests:
      return is_open_loop(workload) ? "achieved requests/s and p99 latency (corrected for coordinated omission)"
                                : "requests/s and p99 latency";
    case TableMetric::kLatency:
      return "latency p50/p99/p99.9";
    case TableMetric::kCpu:
      return "server CPU per request (user+sys after READY / reply lines)";
    case TableMetric::kMemory:
      return "server memory per connection by RSS/by PSS ('?': not measured), and peak RSS "
             "(whole process group)";
    case TableMetric::kBandwidth:
      return "bytes per second (both directions' payload as the load generator counts it)";
  }
  return "";
}

std::vector<std::string> string_list(const json& j) {
  std::vector<std::string> v;
  if (j.is_array()) {
    for (const auto& x : j) {
      if (x.is_string()) v.push_back(x.get<std::string>());
    }
  }
  return v;
}

}  // namespace

bool parse_table_metric(const std::string& name, TableMetric* out) {
  static const std::map<std::string, TableMetric> k = {{"requests", TableMetric::kRequests},
                                                       {"latency", TableMetric::kLatency},
                                                       {"cpu", TableMetric::kCpu},
                                                       {"memory", TableMetric::kMemory},
                                                       {"bandwidth", TableMetric::kBandwidth}};
  auto it = k.find(name);
  if (it == k.end()) return false;
  *out = it->second;
  return true;
}

std::string format_rate(double v) {
  if (v >= 1e6) return fmt(v >= 1e7 ? "%.1fM" : "%.2fM", v / 1e6);
  if (v >= 1e4) return fmt("%.1fk", v / 1e3);
  if (v >= 1e3) return fmt("%.2fk", v / 1e3);
  return fmt(v >= 10 ? "%.0f" : "%.1f", v);
}

std::string format_ns(double ns) {
  if (ns >= 1e9) return fmt(ns >= 1e10 ? "%.0fs" : "%.1fs", ns / 1e9);
  if (ns >= 1e6) return fmt(ns >= 1e8 ? "%.0fms" : ns >= 1e7 ? "%.1fms" : "%.2fms", ns / 1e6);
  if (ns >= 1e3) return fmt(ns >= 1e5 ? "%.0fµs" : ns >= 1e4 ? "%.1fµs" : "%.2fµs", ns / 1e3);
  return fmt("%.0fns", ns);
}

std::string format_bytes(double b) {
  if (b >= 1024.0 * 1024 * 1024) return fmt("%.2fGiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return fmt("%.1fMiB", b / (1024.0 * 1024));
  if (b >= 1024.0) return fmt("%.1fKiB", b / 1024.0);
  return fmt("%.0fB", b);
}

std::string format_duration(double s) {
  long t = std::lround(s);
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  } else if (t >= 60) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lds", t);
  }
  return buf;
}

std::string headline(const json& cell) {
  std::string status = text_of(cell, "status", "?");
  if (status == "skipped") return "skipped: " + text_of(cell, "reason", "");
  if (status == "failed") return "FAILED: " + text_of(cell, "reason", "?");
  std::string s;
  if (status == kRateNotMet) {
    // Measured, but not at the rate asked: the numbers follow the verdict.
    s = "RATE NOT MET";
    if (auto f = metric(cell, "rate_missed_fraction")) {
      s += " (" + fmt("%.1f", *f * 100) + " % of due requests not sent on schedule)";
    }
    s += ": ";
  }
  if (auto r = metric(cell, "requests_per_s")) s += format_rate(*r) + " req/s";
  if (auto p = metric(cell, "p99_ns")) s += ", p99 " + format_ns(*p);
  if (auto c = metric(cell, "server_cpu_us_per_request")) s += ", " + fmt("%.1f", *c) + " µs CPU/req";
  if (std::string b = text_of(field(cell, "metrics"), "bound", ""); !b.empty()) s += ", " + b;
  return s.empty() ? "ok" : s;
}

bool is_measured(const json& cell) {
  const std::string st = cell.value("status", "");
  return st == "ok" || st == kRateNotMet;
}

std::string series_name(const json& cell) {
  std::string s = cell.value("strategy", "");
  if (cell.contains("params") && cell["params"].is_object() &&
      cell["params"].contains("server_threads") && cell["params"]["server_threads"].is_number_integer()) {
    s += "/t" + std::to_string(cell["params"]["server_threads"].get<long>());
  }
  return s;
}

// summary_tables' steps.
namespace {

// Rows: the suite's strategies in order, each followed by its thread variants
// (series_name) in cell order, then anything else; workloads: the suite's,
// then any other the cells have.
void table_order(const json& doc, std::vector<std::string>& strategy_order,
                 std::vector<std::string>& workload_order) {
  const json& cells = doc["cells"];
  workload_order = string_list(doc["suite"].value("workloads", json()));
  auto add_row = [&](const std::string& s) {
    if (std::find(strategy_order.begin(), strategy_order.end(), s) == strategy_order.end()) {
      strategy_order.push_back(s);
    }
  };
  for (const auto& s : string_list(doc["suite"].value("strategies", json()))) {
    bool any = false;
    for (const auto& c : cells) {
      if (c.value("strategy", "") != s) continue;
      add_row(series_name(c));
      any = true;
    }
    if (!any) add_row(s);
  }
  for (const auto& c : cells) {
    std::string w = c.value("workload", "");
    if (std::find(workload_order.begin(), workload_order.end(), w) == workload_order.end()) {
      workload_order.push_back(w);
    }
    add_row(series_name(c));
  }
}

// One table entry: the repetitions of one strategy at one connection count.
// Cells that missed their rate were measured: their numbers are shown,
// marked so they are not read as the strategy's at that rate.
std::string entry_text(const std::vector<const json*>& reps, TableMetric what) {
  std::vector<const json*> ok;
  int failed = 0, skipped = 0, missed = 0;
  for (const json* c : reps) {
    std::string st = c->value("status", "");
    if (is_measured(*c)) ok.push_back(c);
    if (st == kRateNotMet) ++missed;
    if (st == "failed") ++failed;
    if (st == "skipped") ++skipped;
  }
  if (ok.empty()) return failed ? "FAILED" : skipped ? "skip" : "-";
  std::string rate_mark;
  if (missed) {
    rate_mark = missed == static_cast<int>(ok.size()) ? " RATE NOT MET"
                                                      : " (" + std::to_string(missed) + " RATE NOT MET)";
  }
  return metric_text(ok, what) + bound_marker(ok) + rate_mark +
         (failed ? " (" + std::to_string(failed) + " FAILED)" : "");
}

void print_rows(std::ostringstream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], width(row[i]));
  }
  for (const auto& row : rows) {
    std::string line = " ";
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += " " + pad(row[i], widths[i], i > 0);
      if (i + 1 < row.size()) line += " ";
    }
    out << line << "\n";
  }
}

// One workload's table: a row per strategy, a column per connection count.
void workload_table(std::ostringstream& out, const json& doc, const std::string& w,
                    const std::vector<std::string>& strategy_order, TableMetric what) {
  std::set<int> conns;
  std::map<std::pair<std::string, int>, std::vector<const json*>> by;
  for (const auto& c : doc["cells"]) {
    if (c.value("workload", "") != w) continue;
    int n = c.value("connections", 0);
    conns.insert(n);
    by[{series_name(c), n}].push_back(&c);
  }
  if (conns.empty()) return;
  const int reps = doc["suite"].value("repeat", 1);
  out << "\n" << w << ": " << metric_caption(what, w);
  if (reps > 1) out << "; median of " << reps << " repetitions";
  out << "\n";
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = {"strategy"};
  for (int n : conns) head.push_back("c" + std::to_string(n));
  rows.push_back(head);
  for (const auto& s : strategy_order) {
    std::vector<std::string> row = {s};
    bool any = false;
    for (int n : conns) {
      auto it = by.find({s, n});
      any = any || it != by.end();
      row.push_back(it == by.end() ? "-" : entry_text(it->second, what));
    }
    if (any) rows.push_back(row);
  }
  print_rows(out, rows);
}

// Which side limited the ok cells (docs/results.md, "Which side limited a cell").
void bound_summary(std::ostringstream& out, const json& cells) {
  std::map<std::string, int> bound;
  for (const auto& c : cells) {
    if (c.value("status", "") != "ok" || !c.contains("metrics") || !c["metrics"].is_object()) continue;
    const json& b = c["metrics"].value("bound", json());
    ++bound[b.is_string() ? b.get<std::string>() : "unknown"];
  }
  if (bound.empty()) return;
  out << "\nwhich side limited the ok cells (S server-bound, C client-bound, SC both, - neither):";
  for (const char* k : {"server-bound", "client-bound", "both", "neither", "unknown"}) {
    if (bound.count(k)) out << " " << k << " " << bound[k] << ";";
  }
  out << "\n";
  if (bound.count("client-bound") || bound.count("both")) {
    out << "  client-bound and both cells measure the load generator's limit too: read the\n"
           "  server's CPU per request there (muxbench show --metric cpu). On one machine with 2\n"
           "  CPUs no load-generator setting made the server the only bound side (pipeline,\n"
           "  threads, rate: scripts/bound-study.sh, docs/results.md); to measure the server\n"
           "  alone, give the load generator more CPUs or hosts (the testbed or real hosts:\n"
           "  --hosts, --loadgen-ranks; docs/distributed.md)\n";
  }
}

// The reasons: every failure and missed rate, and each distinct skip reason once.
void reasons(std::ostringstream& out, const json& cells) {
  std::vector<std::string> failures, rate_misses;
  std::map<std::string, int> skips;
  std::vector<std::string> skip_order;
  for (const auto& c : cells) {
    std::string st = c.value("status", "");
    std::string reason = text_of(c, "reason", "");
    if (st == "failed") failures.push_back(c.value("id", "?") + ": " + reason);
    if (st == kRateNotMet) rate_misses.push_back(c.value("id", "?") + ": " + reason);
    if (st == "skipped") {
      if (skips[reason]++ == 0) skip_order.push_back(reason);
    }
  }
  if (!rate_misses.empty()) {
    out << "\nRATE NOT MET (" << rate_misses.size()
        << "): open-loop cells whose schedule was missed; their latency includes the backlog "
           "(censored where no reply came), their throughput is what got through\n";
    for (const auto& f : rate_misses) out << "  " << f << "\n";
  }
  if (!failures.empty()) {
    out << "\nFAILED (" << failures.size() << "):\n";
    for (const auto& f : failures) out << "  " << f << "\n";
  }
  if (!skip_order.empty()) {
    out << "\nskipped:\n";
    for (const auto& r : skip_order) {
      out << "  " << r << " (" << skips[r] << (skips[r] == 1 ? " cell" : " cells") << ")\n";
    }
  }
}

}  // namespace

std::string summary_tables(const json& doc, TableMetric what) {
  std::vector<std::string> strategy_order, workload_order;
  table_order(doc, strategy_order, workload_order);
  std::ostringstream out;
  for (const auto& w : workload_order) workload_table(out, doc, w, strategy_order, what);
  bound_summary(out, doc["cells"]);
  reasons(out, doc["cells"]);
  return out.str();
}

std::string document_header(const json& doc, const std::string& path) {
  std::ostringstream out;
  const json& e = doc.value("environment", json::object());
  const json& s = doc.value("suite", json::object());
  auto str = [](const json& j, const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string("?");
  };
  out << path << "\n";
  out << "  suite " << str(s, "name") << " (" << str(s, "source") << "): "
      << s.value("duration_s", 0.0) << " s measured after " << s.value("warmup_s", 0.0)
      << " s warm-up, " << s.value("repeat", 1) << " repetition(s)";
  const json& p = s.value("placement", json::object());
  if (field(p, "server_cpus").is_string() || field(p, "loadgen_cpus").is_string()) {
    out << ", server on CPU " << text_of(p, "server_cpus", "any") << ", load generator on CPU "
        << text_of(p, "loadgen_cpus", "any");
  }
  out << "\n";
  const json& cpus = field(e, "cpu_count");
  out << "  host " << str(e, "host") << ", " << str(e, "cpu_model") << " x"
      << (cpus.is_number() ? cpus.dump() : std::string("?"))
      << ", " << str(e, "kernel").substr(0, 40) << "\n";
  std::string commit = str(e, "git_commit");
  out << "  build " << str(e, "build_type") << " (sanitizer " << str(e, "sanitizer") << "), "
      << str(e, "compiler") << ", commit " << commit.substr(0, 12)
      << (e.value("git_dirty", json()).is_boolean() && e["git_dirty"].get<bool>() ? " (dirty)" : "") << "\n";
  int ok = 0, failed = 0, skipped = 0, missed = 0;
  for (const auto& c : doc["cells"]) {
    std::string st = c.value("status", "");
    ok += st == "ok";
    missed += st == kRateNotMet;
    failed += st == "failed";
    skipped += st == "skipped";
  }
  out << "  started " << str(doc, "started") << ", "
      << (doc["finished"].is_string() ? "finished " + doc["finished"].get<std::string>()
                                      : std::string("NOT FINISHED (interrupted or running; --resume continues it)"))
      << "\n";
  out << "  cells: " << ok << " ok, ";
  if (missed) out << missed << " RATE NOT MET, ";
  out << failed << " failed, " << skipped << " skipped\n";
  return out.str();
}

}  // namespace muxbench::harness
