#include "suite.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "json_check.h"
#include "spawn.h"

namespace muxbench::harness {
namespace {

using namespace check;

const std::string kConnAllowed = "an integer from 1 to 100000";
const std::string kSecondsAllowed = "a number of seconds from 0.1 to 3600";
const std::string kWarmupAllowed = "a number of seconds from 0 to 600";

std::vector<int> get_connections(const json& v, const std::string& path) {
  if (!v.is_array() || v.empty()) {
    fail(path, v, "is not a non-empty list; allowed: a list of connection counts, e.g. [1, 10, 100]");
  }
  std::vector<int> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::string p = path + "[" + std::to_string(i) + "]";
    int n = get_int(v[i], p, 1, 100000, kConnAllowed);
    if (std::find(out.begin(), out.end(), n) != out.end()) {
      fail(p, v[i], "appears twice; allowed: each count once");
    }
    out.push_back(n);
  }
  return out;
}

std::vector<std::string> catalog_names(const std::vector<StrategyInfo>& catalog) {
  std::vector<std::string> names;
  for (const auto& s : catalog) names.push_back(s.name);
  return names;
}

std::vector<std::string> get_name_list(const json& v, const std::string& path,
                                       const std::vector<std::string>& allowed,
                                       const std::string& kind, bool strict) {
  if (!v.is_array() || v.empty()) {
    fail(path, v, "is not a non-empty list of " + kind + " names; allowed: " + join(allowed));
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::string p = path + "[" + std::to_string(i) + "]";
    std::string name = get_string(v[i], p, "a " + kind + " name: " + join(allowed));
    bool known = std::find(allowed.begin(), allowed.end(), name) != allowed.end();
    if (strict && !known) {
      fail(p, v[i], "is not a " + kind + (kind == "strategy" ? " of this build" : "") +
                        "; allowed: " + join(allowed));
    }
    if (!strict) {  // names of strategies this build may not have: check the spelling only
      bool ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      });
      if (!ok) fail(p, v[i], "is not a " + kind + " name; allowed: lower-case letters, digits, '-'");
    }
    if (std::find(out.begin(), out.end(), name) != out.end()) {
      fail(p, v[i], "appears twice; allowed: each " + kind + " once");
    }
    out.push_back(name);
  }
  return out;
}

std::vector<std::string> workload_name_list() {
  std::vector<std::string> names;
  for (const auto& w : workloads()) names.push_back(w.name);
  return names;
}

// The names of the workloads that satisfy `pred`, for "applies only to" lines.
std::string workload_names_where(bool (*pred)(const WorkloadInfo&)) {
  std::string s;
  for (const auto& w : workloads()) {
    if (!pred(w)) continue;
    if (!s.empty()) s += ", ";
    s += w.name;
  }
  return s;
}

bool keeps_some_idle(const WorkloadInfo& w) { return w.active != 0; }
bool is_open_loop(const WorkloadInfo& w) { return w.rate_per_s > 0; }

std::string cpu_list(const json& v, const std::string& path) {
  if (v.is_null()) return "";
  std::string s = get_string(v, path, "a CPU list like \"0\" or \"0-1\", or null (not pinned)");
  std::string err;
  if (!parse_cpu_list(s, &err)) throw SuiteError(path + ": " + err);
  return s;
}

WorkloadParams parse_workload_params(const json& v, const std::string& path,
                                     const std::string& workload) {
  require_object(v, path, "an object with keys connections, active, message_size_bytes, "
                          "pipeline, rate_per_s, duration_s, warmup_s");
  check_keys(v, path, {"connections", "active", "message_size_bytes", "pipeline", "rate_per_s",
                       "duration_s", "warmup_s"});
  WorkloadParams p;
  const WorkloadInfo& info = *find_workload(workload);
  if (v.contains("connections")) p.connections = get_connections(v["connections"], path + ".connections");
  if (v.contains("active")) {
    if (!keeps_some_idle(info)) {
      fail(path + ".active", v["active"],
           "is not allowed here; allowed: 'active' applies only to the workloads that keep some "
           "connections idle: " + workload_names_where(keeps_some_idle) +
               " (the others keep every connection busy)");
    }
    p.active = get_int(v["active"], path + ".active", 1, 100000, kConnAllowed);
  }
  if (v.contains("message_size_bytes")) {
    p.message_size_bytes = get_int(v["message_size_bytes"], path + ".message_size_bytes", 2, 16384,
                                   "an integer from 2 to 16384 (bytes per line, '\\n' included)");
  }
  if (v.contains("pipeline")) {
    p.pipeline = get_int(v["pipeline"], path + ".pipeline", 1, 1024, "an integer from 1 to 1024");
  }
  if (v.contains("rate_per_s")) {
    if (!is_open_loop(info)) {
      fail(path + ".rate_per_s", v["rate_per_s"],
           "is not allowed here; allowed: 'rate_per_s' applies only to the open-loop workloads: " +
               workload_names_where(is_open_loop));
    }
    p.rate_per_s = get_number(v["rate_per_s"], path + ".rate_per_s", 1, 10000000,
                              "a total request rate from 1 to 10000000 per second");
  }
  if (v.contains("duration_s")) {
    p.duration_s = get_number(v["duration_s"], path + ".duration_s", 0.1, 3600, kSecondsAllowed);
  }
  if (v.contains("warmup_s")) {
    p.warmup_s = get_number(v["warmup_s"], path + ".warmup_s", 0, 600, kWarmupAllowed);
  }
  return p;
}

SkipRule parse_skip_rule(const json& v, const std::string& path,
                         const std::vector<StrategyInfo>& catalog) {
  const char* allowed_keys =
      "an object with keys strategies, families, workloads, connections_above, active_above, reason";
  require_object(v, path, allowed_keys);
  check_keys(v, path, {"strategies", "families", "workloads", "connections_above", "active_above",
                       "reason"});
  SkipRule r;
  if (v.contains("strategies")) {
    r.strategies = get_name_list(v["strategies"], path + ".strategies", {}, "strategy", false);
  }
  if (v.contains("families")) {
    r.families = get_name_list(v["families"], path + ".families", family_names(catalog), "family",
                               true);
  }
  if (v.contains("workloads")) {
    r.workloads = get_name_list(v["workloads"], path + ".workloads", workload_name_list(),
                                "workload", true);
  }
  if (v.contains("connections_above")) {
    r.connections_above = get_int(v["connections_above"], path + ".connections_above", 0, 100000,
                                  "an integer from 0 to 100000");
  }
  if (v.contains("active_above")) {
    r.active_above = get_int(v["active_above"], path + ".active_above", 0, 100000,
                             "an integer from 0 to 100000");
  }
  if (!v.contains("reason")) {
    throw SuiteError(path + ".reason: missing; allowed: one line saying why, e.g. "
                            "\"{strategy}: {connections} connections exceed FD_SETSIZE (1024)\"");
  }
  r.reason = get_string(v["reason"], path + ".reason", "one line saying why the cells are skipped");
  if (r.reason.empty() || r.reason.find('\n') != std::string::npos) {
    fail(path + ".reason", v["reason"], "is not one line; allowed: one non-empty line");
  }
  return r;
}

void check_connections_present(const Suite& s) {
  if (!s.connections.empty()) return;
  for (const auto& w : s.workloads) {
    auto it = s.workload_params.find(w);
    if (it == s.workload_params.end() || it->second.connections.empty()) {
      throw SuiteError("suite.connections: missing; allowed: a list of connection counts, required "
                       "unless workload_params." + w + ".connections is given");
    }
  }
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) {
    auto b = part.find_first_not_of(" \t");
    auto e = part.find_last_not_of(" \t");
    out.push_back(b == std::string::npos ? "" : part.substr(b, e - b + 1));
  }
  return out;
}

std::string substitute(std::string text, const CellPlan& c) {
  auto rep = [&](const std::string& key, const std::string& val) {
    for (std::size_t pos; (pos = text.find(key)) != std::string::npos;) text.replace(pos, key.size(), val);
  };
  rep("{strategy}", c.strategy);
  rep("{workload}", c.workload);
  rep("{connections}", std::to_string(c.connections));
  rep("{active}", std::to_string(c.active));
  return text;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

bool sets_threads(const std::string& arg) {
  return arg == "--threads" || arg.rfind("--threads=", 0) == 0;
}

bool takes_threads(const std::vector<StrategyInfo>& catalog, const std::string& strategy) {
  for (const auto& st : catalog) {
    if (st.name == strategy) return st.takes_threads;
  }
  return false;
}

std::vector<int> get_server_threads(const json& v, const std::string& path) {
  const char* allowed = "a list of server thread counts, e.g. [1, 2], each from 1 to 4096";
  if (!v.is_array() || v.empty()) fail(path, v, std::string("is not a non-empty list; allowed: ") + allowed);
  std::vector<int> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::string p = path + "[" + std::to_string(i) + "]";
    int n = get_int(v[i], p, 1, 4096, "an integer from 1 to 4096");
    if (std::find(out.begin(), out.end(), n) != out.end()) {
      fail(p, v[i], "appears twice; allowed: each count once");
    }
    out.push_back(n);
  }
  return out;
}

}  // namespace

// parse_suite in steps, one group of keys each.
namespace {

void parse_names(const json& j, const std::vector<StrategyInfo>& catalog, Suite& s) {
  const auto names = catalog_names(catalog);
  if (!j.contains("strategies")) {
    throw SuiteError("suite.strategies: missing; allowed: \"all\" or a list of: " + join(names));
  }
  const json& st = j["strategies"];
  if (st.is_string() && st.get<std::string>() == "all") {
    s.strategies = names;
    s.all_strategies = true;
  } else if (st.is_string()) {
    fail("suite.strategies", st, "is not \"all\" or a list; allowed: \"all\" or a list of: " + join(names));
  } else {
    s.strategies = get_name_list(st, "suite.strategies", names, "strategy", true);
  }

  if (!j.contains("workloads")) {
    throw SuiteError("suite.workloads: missing; allowed: a list of: " + workload_names());
  }
  s.workloads = get_name_list(j["workloads"], "suite.workloads", workload_name_list(), "workload", true);
}

void parse_run_settings(const json& j, Suite& s) {
  // An empty list is fine when every workload has its own (checked below).
  if (j.contains("connections") && !(j["connections"].is_array() && j["connections"].empty())) {
    s.connections = get_connections(j["connections"], "suite.connections");
  }
  if (j.contains("duration_s")) {
    s.duration_s = get_number(j["duration_s"], "suite.duration_s", 0.1, 3600, kSecondsAllowed);
  }
  if (j.contains("warmup_s")) {
    s.warmup_s = get_number(j["warmup_s"], "suite.warmup_s", 0, 600, kWarmupAllowed);
  }
  if (j.contains("repeat")) s.repeat = get_int(j["repeat"], "suite.repeat", 1, 1000, "an integer from 1 to 1000");
  if (j.contains("pause_s")) {
    s.pause_s = get_number(j["pause_s"], "suite.pause_s", 0, 60, "a number of seconds from 0 to 60");
  }
  if (j.contains("loadgen_threads") && !j["loadgen_threads"].is_null()) {
    s.loadgen_threads = get_int(j["loadgen_threads"], "suite.loadgen_threads", 1, 256,
                                "an integer from 1 to 256, or null (the load generator decides)");
  }
  if (j.contains("loadgen_ranks")) {
    s.loadgen_ranks = get_int(j["loadgen_ranks"], "suite.loadgen_ranks", 1, 4096,
                              "an integer from 1 to 4096 (more than 1 runs the load generator under mpirun)");
  }
  if (j.contains("placement")) {
    const json& p = j["placement"];
    require_object(p, "suite.placement", "an object with keys server_cpus, loadgen_cpus");
    check_keys(p, "suite.placement", {"server_cpus", "loadgen_cpus"});
    if (p.contains("server_cpus")) s.placement.server_cpus = cpu_list(p["server_cpus"], "suite.placement.server_cpus");
    if (p.contains("loadgen_cpus")) s.placement.loadgen_cpus = cpu_list(p["loadgen_cpus"], "suite.placement.loadgen_cpus");
  }
}

void parse_all_workload_params(const json& j, Suite& s) {
  if (!j.contains("workload_params")) return;
  const json& wp = j["workload_params"];
  require_object(wp, "suite.workload_params", "an object keyed by workload: " + workload_names());
  for (const auto& [key, value] : wp.items()) {
    std::string path = "suite.workload_params." + key;
    if (find_workload(key) == nullptr) {
      throw SuiteError(path + ": '" + key + "' is not a workload; allowed: " + workload_names());
    }
    s.workload_params[key] = parse_workload_params(value, path, key);
  }
}

void parse_server_args(const json& j, Suite& s) {
  if (!j.contains("server_args")) return;
  const json& sa = j["server_args"];
  require_object(sa, "suite.server_args", "an object: strategy name -> list of extra server arguments");
  for (const auto& [key, value] : sa.items()) {
    std::string path = "suite.server_args." + key;
    if (!value.is_array()) fail(path, value, "is not a list; allowed: a list of strings, e.g. [\"--threads\", \"8\"]");
    std::vector<std::string> args;
    for (std::size_t i = 0; i < value.size(); ++i) {
      std::string p = path + "[" + std::to_string(i) + "]";
      std::string a = get_string(value[i], p, "a server argument (string)");
      for (const char* reserved : {"--strategy", "--port", "--stats", "--bind"}) {
        if (a == reserved || a.rfind(std::string(reserved) + "=", 0) == 0) {
          fail(p, value[i], "is set by the harness; allowed: any other server option, e.g. --threads, --backend");
        }
      }
      args.push_back(a);
    }
    s.server_args[key] = args;
  }
}

void parse_server_threads(const json& j, const std::vector<StrategyInfo>& catalog, Suite& s) {
  if (!j.contains("server_threads")) return;
  s.server_threads = get_server_threads(j["server_threads"], "suite.server_threads");
  if (std::none_of(s.strategies.begin(), s.strategies.end(),
                   [&](const std::string& n) { return takes_threads(catalog, n); })) {
    fail("suite.server_threads", j["server_threads"],
         "applies to no strategy of this suite; allowed: a suite with a strategy that takes "
         "--threads (muxbench-server --list-json: takes_threads)");
  }
  for (const auto& [key, args] : s.server_args) {
    if (!takes_threads(catalog, key)) continue;
    for (const auto& a : args) {
      if (sets_threads(a)) {
        fail("suite.server_args." + key, json(args),
             "sets --threads, which suite.server_threads sets for every strategy that takes it; "
             "allowed: one of the two");
      }
    }
  }
}

void parse_skip_rules(const json& j, const std::vector<StrategyInfo>& catalog, Suite& s) {
  if (!j.contains("skip")) return;
  const json& sk = j["skip"];
  if (!sk.is_array()) fail("suite.skip", sk, "is not a list; allowed: a list of skip rules");
  for (std::size_t i = 0; i < sk.size(); ++i) {
    s.skip.push_back(parse_skip_rule(sk[i], "suite.skip[" + std::to_string(i) + "]", catalog));
  }
}

}  // namespace

Suite parse_suite(const json& j, const std::vector<StrategyInfo>& catalog,
                  const std::string& fallback_name) {
  require_object(j, "suite", "a JSON object (docs/results.md, \"Suite files\")");
  check_keys(j, "suite", {"name", "description", "source", "strategies", "workloads", "connections",
                          "duration_s", "warmup_s", "repeat", "pause_s", "loadgen_threads", "loadgen_ranks",
                          "placement", "workload_params", "server_args", "server_threads", "skip"});
  Suite s;
  s.name = j.contains("name") ? get_string(j["name"], "suite.name", "a short name, e.g. \"smoke\"")
                              : fallback_name;
  if (s.name.empty() || s.name.find_first_of("/ \t\n") != std::string::npos) {
    fail("suite.name", json(s.name), "is not a usable name; allowed: a non-empty word without '/' or spaces");
  }
  if (j.contains("description")) {
    s.description = get_string(j["description"], "suite.description", "one line of text");
  }
  if (j.contains("source")) s.source = get_string(j["source"], "suite.source", "a string");

  parse_names(j, catalog, s);
  parse_run_settings(j, s);
  parse_all_workload_params(j, s);
  parse_server_args(j, s);
  parse_server_threads(j, catalog, s);
  parse_skip_rules(j, catalog, s);
  check_connections_present(s);
  return s;
}

Suite load_suite(const std::string& name_or_file, const std::vector<StrategyInfo>& catalog) {
  struct stat sb {};
  bool is_file = ::stat(name_or_file.c_str(), &sb) == 0 && S_ISREG(sb.st_mode);
  const auto& builtins = builtin_suites();
  std::string text;
  std::string source;
  std::string stem = name_or_file;
  if (is_file) {
    std::ifstream f(name_or_file);
    std::stringstream ss;
    ss << f.rdbuf();
    text = ss.str();
    source = name_or_file;
    auto slash = stem.find_last_of('/');
    if (slash != std::string::npos) stem = stem.substr(slash + 1);
    if (stem.size() > 5 && stem.substr(stem.size() - 5) == ".json") stem.resize(stem.size() - 5);
  } else if (auto it = builtins.find(name_or_file); it != builtins.end()) {
    text = it->second;
    source = "builtin:" + name_or_file;
  } else {
    std::vector<std::string> names;
    for (const auto& [n, t] : builtins) names.push_back(n);
    throw SuiteError("--suite: '" + name_or_file + "' is neither a built-in suite nor a readable "
                     "file; allowed: " + join(names) + ", or a path to a suite JSON file");
  }
  try {
    Suite s = parse_suite(check::parse(text, "suite"), catalog, stem);
    s.source = source;
    return s;
  } catch (const SuiteError& e) {
    throw SuiteError(source + ": " + e.what());
  }
}

json suite_to_json(const Suite& s) {
  json j;
  j["name"] = s.name;
  j["description"] = s.description;
  j["source"] = s.source;
  j["strategies"] = s.strategies;
  j["workloads"] = s.workloads;
  j["connections"] = s.connections;
  j["duration_s"] = s.duration_s;
  j["warmup_s"] = s.warmup_s;
  j["repeat"] = s.repeat;
  j["pause_s"] = s.pause_s;
  j["loadgen_threads"] = s.loadgen_threads ? json(*s.loadgen_threads) : json(nullptr);
  if (s.loadgen_ranks != 1) j["loadgen_ranks"] = s.loadgen_ranks;
  j["placement"] = {
      {"server_cpus", s.placement.server_cpus.empty() ? json(nullptr) : json(s.placement.server_cpus)},
      {"loadgen_cpus", s.placement.loadgen_cpus.empty() ? json(nullptr) : json(s.placement.loadgen_cpus)}};
  json wp = json::object();
  for (const auto& w : workload_name_list()) {  // a stable order
    auto it = s.workload_params.find(w);
    if (it == s.workload_params.end()) continue;
    const WorkloadParams& p = it->second;
    json o = json::object();
    if (!p.connections.empty()) o["connections"] = p.connections;
    if (p.active) o["active"] = *p.active;
    if (p.message_size_bytes) o["message_size_bytes"] = *p.message_size_bytes;
    if (p.pipeline) o["pipeline"] = *p.pipeline;
    if (p.rate_per_s) o["rate_per_s"] = *p.rate_per_s;
    if (p.duration_s) o["duration_s"] = *p.duration_s;
    if (p.warmup_s) o["warmup_s"] = *p.warmup_s;
    wp[w] = o;
  }
  j["workload_params"] = wp;
  json sa = json::object();
  for (const auto& [k, v] : s.server_args) sa[k] = v;
  j["server_args"] = sa;
  if (!s.server_threads.empty()) j["server_threads"] = s.server_threads;
  json skip = json::array();
  for (const auto& r : s.skip) {
    json o = json::object();
    if (!r.strategies.empty()) o["strategies"] = r.strategies;
    if (!r.families.empty()) o["families"] = r.families;
    if (!r.workloads.empty()) o["workloads"] = r.workloads;
    if (r.connections_above) o["connections_above"] = *r.connections_above;
    if (r.active_above) o["active_above"] = *r.active_above;
    o["reason"] = r.reason;
    skip.push_back(o);
  }
  j["skip"] = skip;
  return j;
}

void override_strategies(Suite& s, const std::string& list, const std::vector<StrategyInfo>& catalog) {
  auto names = catalog_names(catalog);
  if (list == "all") {
    s.strategies = names;
    s.all_strategies = true;
    return;
  }
  json arr = json::array();
  for (const auto& n : split_list(list)) arr.push_back(n);
  s.strategies = get_name_list(arr, "--strategies", names, "strategy", true);
  s.all_strategies = false;
}

void override_workloads(Suite& s, const std::string& list) {
  json arr = json::array();
  for (const auto& n : split_list(list)) arr.push_back(n);
  s.workloads = get_name_list(arr, "--workloads", workload_name_list(), "workload", true);
  check_connections_present(s);
}

void override_connections(Suite& s, const std::string& list) {
  json arr = json::array();
  int i = 0;
  for (const auto& n : split_list(list)) {
    char* end = nullptr;
    long v = std::strtol(n.c_str(), &end, 10);
    if (n.empty() || *end != '\0') {
      throw SuiteError("--connections[" + std::to_string(i) + "]: '" + n +
                       "' is not an integer; allowed: " + kConnAllowed);
    }
    arr.push_back(v);
    ++i;
  }
  s.connections = get_connections(arr, "--connections");
  for (auto& [w, p] : s.workload_params) p.connections.clear();
}

void override_repeat(Suite& s, int repeat) {
  s.repeat = get_int(json(repeat), "--repeat", 1, 1000, "an integer from 1 to 1000");
}

void override_duration(Suite& s, double seconds) {
  s.duration_s = get_number(json(seconds), "--duration", 0.1, 3600, kSecondsAllowed);
  for (auto& [w, p] : s.workload_params) p.duration_s.reset();
}

void override_warmup(Suite& s, double seconds) {
  s.warmup_s = get_number(json(seconds), "--warmup", 0, 600, kWarmupAllowed);
  for (auto& [w, p] : s.workload_params) p.warmup_s.reset();
}

void override_loadgen_ranks(Suite& s, int ranks) {
  if (ranks < 1 || ranks > 4096) {
    throw SuiteError("--loadgen-ranks: " + std::to_string(ranks) + " is out of range; allowed: 1 to 4096");
  }
  s.loadgen_ranks = ranks;
}

void override_placement(Suite& s, const std::string& server_cpus, const std::string& loadgen_cpus) {
  if (!server_cpus.empty()) {
    std::string err;
    if (!parse_cpu_list(server_cpus, &err)) throw SuiteError("--cpu-server: " + err);
    s.placement.server_cpus = server_cpus;
  }
  if (!loadgen_cpus.empty()) {
    std::string err;
    if (!parse_cpu_list(loadgen_cpus, &err)) throw SuiteError("--cpu-loadgen: " + err);
    s.placement.loadgen_cpus = loadgen_cpus;
  }
}

void default_placement(Suite& s, long cpus) {
  if (cpus < 2 || !s.placement.server_cpus.empty() || !s.placement.loadgen_cpus.empty()) return;
  // A suite with server_threads gives the server as many CPUs as its largest
  // count, if the load generator still gets one; otherwise the server's
  // threads would share a CPU, so nothing is pinned.
  const long want = s.server_threads.empty()
                        ? 1
                        : *std::max_element(s.server_threads.begin(), s.server_threads.end());
  if (cpus <= want) return;
  auto range = [](long a, long b) {
    return a == b ? std::to_string(a) : std::to_string(a) + "-" + std::to_string(b);
  };
  s.placement.server_cpus = range(0, want - 1);
  s.placement.loadgen_cpus = range(want, cpus - 1);
}

void override_server_args(Suite& s, const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    for (const char* reserved : {"--strategy", "--port", "--stats", "--bind"}) {
      if (args[i] == reserved || args[i].rfind(std::string(reserved) + "=", 0) == 0) {
        throw SuiteError("--server-arg: '" + args[i] +
                         "' is set by the harness; allowed: any other server option, e.g. "
                         "--server-arg=--delay-us=200");
      }
    }
    if (!s.server_threads.empty() && sets_threads(args[i])) {
      throw SuiteError("--server-arg: '" + args[i] + "' clashes with the suite's server_threads; "
                       "allowed: any other server option, e.g. --server-arg=--delay-us=200");
    }
  }
  if (args.empty()) return;
  for (const auto& strategy : s.strategies) {
    auto& a = s.server_args[strategy];
    // Already there (a resumed run's recorded suite): the same flags again
    // must give the same suite.
    if (a.size() >= args.size() && std::equal(args.begin(), args.end(), a.end() - args.size())) {
      continue;
    }
    a.insert(a.end(), args.begin(), args.end());
  }
}

std::vector<CellPlan> plan_cells(const Suite& s, const std::vector<StrategyInfo>& catalog,
                                 long nofile_hard) {
  std::vector<CellPlan> cells;
  for (const auto& w : s.workloads) {
    const WorkloadInfo* info = find_workload(w);
    WorkloadParams wp;
    if (auto it = s.workload_params.find(w); it != s.workload_params.end()) wp = it->second;
    const std::vector<int>& conns = wp.connections.empty() ? s.connections : wp.connections;
    for (int n : conns) {
      for (int rep = 0; rep < s.repeat; ++rep) {
        for (const auto& strategy : s.strategies) {
          // One cell per server thread count for strategies that take
          // --threads (0: none given).
          std::vector<int> thread_counts = {0};
          if (!s.server_threads.empty() && takes_threads(catalog, strategy)) {
            thread_counts = s.server_threads;
          }
          for (int threads : thread_counts) {
            CellPlan c;
            c.strategy = strategy;
            for (const auto& st : catalog) {
              if (st.name == strategy) c.family = st.family;
            }
            c.workload = w;
            c.connections = n;
            int active = wp.active.value_or(info->active);
            c.active = active == 0 ? n : std::min(active, n);
            c.repetition = rep;
            c.id = strategy + "/" + w + "/c" + std::to_string(n) +
                   (threads > 0 ? "/t" + std::to_string(threads) : "") + "/r" + std::to_string(rep);
            if (threads > 0) c.params.server_threads = threads;
            c.params.message_size_bytes = wp.message_size_bytes.value_or(info->message_size_bytes);
            c.params.pipeline = wp.pipeline.value_or(1);
            if (info->rate_per_s > 0)
              c.params.rate_per_s = wp.rate_per_s.value_or(info->rate_per_s);
            c.params.reconnect = info->reconnect;
            c.params.duration_s = wp.duration_s.value_or(s.duration_s);
            c.params.warmup_s = wp.warmup_s.value_or(s.warmup_s);
            c.params.loadgen_threads = s.loadgen_threads;
            c.params.loadgen_ranks = s.loadgen_ranks;
            if (auto it = s.server_args.find(strategy); it != s.server_args.end()) {
              c.params.server_args = it->second;
            }
            // Both the server and the load generator hold one descriptor per
            // connection, plus a few of their own.
            if (nofile_hard > 0 && n + 64 > nofile_hard) {
              c.skip_reason =
                  strategy + ": " + std::to_string(n) +
                  " connections need more file descriptors than the hard limit allows (" +
                  std::to_string(nofile_hard) + ", ulimit -Hn)";
            }
            // Every load-generator rank needs a connection of its own (an active
            // one for an open-loop rate, which is split over the ranks).
            const int need = c.params.rate_per_s ? c.active : n;
            if (!c.skip_reason && need < s.loadgen_ranks) {
              c.skip_reason = std::to_string(need) + (c.params.rate_per_s ? " active" : "") +
                              " connections cannot be split over " +
                              std::to_string(s.loadgen_ranks) +
                              " load-generator ranks (each needs one)";
            }
            for (const auto& r : s.skip) {
              if (c.skip_reason) break;
              if (!r.strategies.empty() && !contains(r.strategies, strategy)) continue;
              if (!r.families.empty() && !contains(r.families, c.family)) continue;
              if (!r.workloads.empty() && !contains(r.workloads, w)) continue;
              if (r.connections_above && !(n > *r.connections_above)) continue;
              if (r.active_above && !(c.active > *r.active_above)) continue;
              c.skip_reason = substitute(r.reason, c);
            }
            cells.push_back(std::move(c));
          }
        }
      }
    }
  }
  return cells;
}

double estimate_cell_seconds(const CellPlan& c, const Suite& s) {
  if (c.skip_reason) return 0;
  // Start-up, READY, connecting (a few thousand per second on a small machine),
  // stopping, and the pause between cells.
  double ramp = c.params.reconnect ? 0 : c.connections / 4000.0;
  return c.params.warmup_s + c.params.duration_s + ramp + 0.4 + s.pause_s;
}

}  // namespace muxbench::harness
