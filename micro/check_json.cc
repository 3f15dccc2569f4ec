// muxbench-micro-check RESULTS.json LISTED.txt
//
// Checks a muxbench-micro --benchmark_format=json result against the list of
// benchmarks the same filter selected (--benchmark_list_tests output): every
// listed benchmark ran once, without error, under a name the plotting code can
// parse, and carries its counters with values consistent with the measured
// time. Used by the micro_smoke CTest test; prints one line per problem and
// exits 1 if there is any.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

namespace {

using nlohmann::json;

int g_problems = 0;

void problem(const std::string& name, const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", name.c_str(), what.c_str());
  ++g_problems;
}

// The counter `key` as a finite positive number, or NaN after reporting.
double positive(const json& b, const std::string& name, const char* key) {
  if (!b.contains(key) || !b[key].is_number()) {
    problem(name, std::string("counter ") + key + " missing");
    return NAN;
  }
  const double v = b[key].get<double>();
  if (!std::isfinite(v) || v <= 0) {
    problem(name, std::string("counter ") + key + " = " + std::to_string(v) + ", want > 0");
    return NAN;
  }
  return v;
}

void near(const std::string& name, const char* what, double got, double want, double tol) {
  if (std::isnan(got) || std::isnan(want)) return;  // already reported
  if (std::fabs(got - want) > tol * std::fabs(want)) {
    problem(name,
            std::string(what) + " = " + std::to_string(got) + ", expected " + std::to_string(want));
  }
}

// cpu_time per iteration in ns (counters with kIsRate divide by CPU time).
double cpu_ns(const json& b) {
  static const std::map<std::string, double> kScale = {
      {"ns", 1.0}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};
  const auto it = kScale.find(b.value("time_unit", "ns"));
  return b.value("cpu_time", NAN) * (it == kScale.end() ? NAN : it->second);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s RESULTS.json LISTED.txt\n", argv[0]);
    return 2;
  }
  json doc;
  try {
    std::ifstream in(argv[1]);
    doc = json::parse(in);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: not JSON: %s\n", argv[1], e.what());
    return 1;
  }
  std::set<std::string> listed;
  {
    std::ifstream in(argv[2]);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) listed.insert(line);
    }
  }
  if (listed.empty()) problem(argv[2], "no benchmark listed");
  if (!doc.contains("benchmarks") || !doc["benchmarks"].is_array()) {
    problem(argv[1], "no \"benchmarks\" array");
    return 1;
  }
  const json context = doc.value("context", json::object());
  double chained_writes = NAN;
  try {
    chained_writes = std::stod(context.value("chained_writes", "x"));
  } catch (const std::exception&) {
    problem("context", "chained_writes missing");
  }
  for (const char* key : {"io_uring_poll", "rlimit_nofile", "muxbench_build_type", "kernel"}) {
    if (!context.contains(key)) problem("context", std::string(key) + " missing");
  }

  static const std::regex kDispatch(R"(BM_Dispatch/([a-z0-9_-]+)/([0-9]+)/([0-9]+))");
  static const std::regex kRegister(R"(BM_Register/([a-z0-9_-]+)/([0-9]+))");
  static const std::regex kCodec(R"(BM_(Rot13|LineCodec)/([0-9]+))");
  std::set<std::string> seen, dispatch_mechs, register_mechs;
  int codec = 0, histogram = 0;

  for (const json& b : doc["benchmarks"]) {
    const std::string name = b.value("name", "");
    if (b.value("run_type", "iteration") != "iteration") continue;  // aggregates
    if (!seen.insert(name).second) problem(name, "reported twice");
    if (!listed.count(name)) problem(name, "ran but was not listed");
    if (b.value("error_occurred", false)) {
      problem(name, "error: " + b.value("error_message", std::string("?")));
      continue;
    }
    const double t = cpu_ns(b);
    std::smatch m;
    if (std::regex_match(name, m, kDispatch)) {
      dispatch_mechs.insert(m[1]);
      const double n = std::stod(m[2]), a = std::stod(m[3]);
      const double ns = positive(b, name, "ns_per_event");
      const double eps = positive(b, name, "events_per_s");
      const double epd = positive(b, name, "events_per_dispatch");
      near(name, "ns_per_event * events_per_s / 1e9", ns * eps / 1e9, 1.0, 1e-6);
      near(name, "ns_per_event", ns, t / (a + chained_writes), 0.01);
      near(name, "watched", b.value("watched", NAN), n, 0);
      near(name, "active", b.value("active", NAN), a, 0);
      // At most A bytes are ever in flight, so no dispatch can deliver more,
      // except when every pair is active (N == A): then a reader that drains
      // (epoll-et, io_uring-poll) also reads bytes chained into pairs later in the
      // same batch. A round is A + W events in any case.
      const double bound = n > a ? a : a + chained_writes;
      if (epd > bound * (1 + 1e-9)) {
        problem(name, "events_per_dispatch " + std::to_string(epd) + " > " + std::to_string(bound));
      }
    } else if (std::regex_match(name, m, kRegister)) {
      register_mechs.insert(m[1]);
      const double n = std::stod(m[2]);
      const double ns = positive(b, name, "ns_per_fd");
      const double fps = positive(b, name, "fds_per_s");
      near(name, "ns_per_fd * fds_per_s / 1e9", ns * fps / 1e9, 1.0, 1e-6);
      near(name, "ns_per_fd", ns, t / n, 0.01);
      near(name, "watched", b.value("watched", NAN), n, 0);
    } else if (std::regex_match(name, m, kCodec)) {
      ++codec;
      const double bps = positive(b, name, "bytes_per_second");
      near(name, "bytes_per_second", bps, std::stod(m[2]) / t * 1e9, 0.01);
    } else if (name == "BM_HistogramRecord") {
      ++histogram;
      const double ns = positive(b, name, "ns_per_sample");
      const double sps = positive(b, name, "samples_per_s");
      near(name, "ns_per_sample * samples_per_s / 1e9", ns * sps / 1e9, 1.0, 1e-6);
    } else {
      problem(name, "unexpected benchmark name");
    }
  }
  for (const std::string& name : listed) {
    if (!seen.count(name)) problem(name, "listed but not in the results");
  }
  if (dispatch_mechs.empty()) problem("BM_Dispatch", "none ran");
  if (dispatch_mechs != register_mechs) {
    problem("BM_Register", "mechanisms differ from BM_Dispatch's");
  }
  if (codec == 0) problem("BM_Rot13/BM_LineCodec", "none ran");
  if (histogram == 0) problem("BM_HistogramRecord", "did not run");

  if (g_problems > 0) {
    std::fprintf(stderr, "%d problem(s) in %s\n", g_problems, argv[1]);
    return 1;
  }
  std::printf("%zu benchmarks OK (%zu mechanisms)\n", seen.size(), dispatch_mechs.size());
  return 0;
}
