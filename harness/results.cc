#include "results.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <fstream>
#include <iterator>
#include <limits>

#include "cell.h"
#include "report.h"
#include "cell_observation.h"
#include "json_check.h"
#include "muxbench/net.h"

namespace muxbench::harness {

ResultsFile::ResultsFile(std::string path, json doc) : path_(std::move(path)), doc_(std::move(doc)) {
  for (const auto& c : doc_["cells"]) ids_.insert(c.value("id", ""));
}

json ResultsFile::new_document(const json& environment, const json& suite,
                               const std::vector<std::string>& argv) {
  json d;
  d["schema_version"] = kResultsSchemaVersion;
  d["tool"] = "muxbench";
  d["started"] = iso_now();
  d["finished"] = nullptr;
  d["command_line"] = argv;
  d["resumed"] = json::array();
  d["environment"] = environment;
  d["suite"] = suite;
  d["cells"] = json::array();
  return d;
}

namespace {

using namespace check;

constexpr long long kMaxInt = 2147483647;  // what a C int holds
constexpr double kMax = std::numeric_limits<double>::max();

void check_environment(const json& doc) {
  const json& e = required(doc, "", "environment", "an object (where and how the run happened)");
  require_object(e, "environment", "an object (where and how the run happened)");
  for (const char* k : {"host", "kernel", "cpu_model", "compiler", "cxx_flags", "build_type",
                        "sanitizer", "git_commit", "libevent_version", "liburing_version",
                        "harness_version", "server_path", "loadgen_path"}) {
    check_string(e, "environment", k, true, "a string");
  }
  check_integer(e, "environment", "cpu_count", 0, 1 << 20, true, "a number of CPUs");
  for (const char* k : {"nofile_soft", "nofile_hard", "mem_total_bytes"}) {
    check_integer(e, "environment", k, std::numeric_limits<long long>::min(),
                  std::numeric_limits<long long>::max(), true, "an integer");
  }
  check_bool(e, "environment", "git_dirty", true);
  check_object(e, "environment", "sysctl", true, "an object");
  if (const json* n = check_object(e, "environment", "network", false, "an object")) {
    check_string(*n, "environment.network", "kind", false, "a string, e.g. loopback");
    check_string(*n, "environment.network", "server_address", true, "an address");
    check_object(*n, "environment.network", "netem", true, "an object");
    if (const json* path = check_list(*n, "environment.network", "path", "a list of objects")) {
      for (std::size_t i = 0; i < path->size(); ++i) {
        const std::string p = "environment.network.path[" + std::to_string(i) + "]";
        require_object((*path)[i], p, "an object with keys host, role, interface");
        check_string((*path)[i], p, "host", true, "a host name");
        check_string((*path)[i], p, "role", true, "a role");
        check_object((*path)[i], p, "interface", false, "an object");
      }
    }
  }
  if (const json* hosts = check_list(e, "environment", "hosts", "a list of objects")) {
    for (std::size_t i = 0; i < hosts->size(); ++i) {
      require_object((*hosts)[i], "environment.hosts[" + std::to_string(i) + "]", "an object");
    }
  }
}

void check_suite(const json& doc) {
  const json& s = required(doc, "", "suite", "an object (the suite as it ran)");
  require_object(s, "suite", "an object (the suite as it ran)");
  for (const char* k : {"name", "description", "source"}) {
    check_string(s, "suite", k, false, "a string");
  }
  check_string_list(s, "suite", "strategies", "a list of strategy names");
  check_string_list(s, "suite", "workloads", "a list of workload names");
  if (const json* c = check_list(s, "suite", "connections", "a list of connection counts")) {
    for (std::size_t i = 0; i < c->size(); ++i) {
      const std::string p = "suite.connections[" + std::to_string(i) + "]";
      if (!(*c)[i].is_number_integer()) {
        fail(p, (*c)[i], "is not an integer; allowed: a connection count");
      }
    }
  }
  for (const char* k : {"duration_s", "warmup_s", "pause_s"}) {
    check_number(s, "suite", k, 0, kMax, false, "a number of seconds");
  }
  check_integer(s, "suite", "repeat", 1, kMaxInt, false, "an integer of at least 1");
  check_integer(s, "suite", "loadgen_ranks", 1, kMaxInt, false, "an integer of at least 1");
  check_integer(s, "suite", "loadgen_threads", 1, kMaxInt, true, "an integer of at least 1");
  if (const json* p = check_object(s, "suite", "placement", false, "an object")) {
    check_string(*p, "suite.placement", "server_cpus", true, "a CPU list");
    check_string(*p, "suite.placement", "loadgen_cpus", true, "a CPU list");
  }
  check_object(s, "suite", "workload_params", false, "an object");
  check_object(s, "suite", "server_args", false, "an object");
  check_list(s, "suite", "skip", "a list of skip rules");
}

void check_cell(const json& c, const std::string& p) {
  require_object(c, p, "an object (one cell)");
  for (const char* k : {"id", "strategy", "workload"}) {
    const json& v = required(c, p, k, "a non-empty string");
    if (get_string(v, join_path(p, k), "a non-empty string").empty()) {
      fail(join_path(p, k), v, "is empty; allowed: a non-empty string");
    }
  }
  const json& st = required(c, p, "status", "ok, rate_not_met, failed, skipped");
  if (st != "ok" && st != kRateNotMet && st != "failed" && st != "skipped") {
    fail(join_path(p, "status"), st, "is not a status; allowed: ok, rate_not_met, failed, skipped");
  }
  required(c, p, "connections", "an integer of at least 1");
  check_integer(c, p, "connections", 1, kMaxInt, false, "an integer of at least 1");
  required(c, p, "repetition", "an integer of at least 0");
  check_integer(c, p, "repetition", 0, kMaxInt, false, "an integer of at least 0");
  check_integer(c, p, "active", 0, kMaxInt, false, "an integer of at least 0");
  check_string(c, p, "family", true, "a strategy family");
  check_string(c, p, "reason", true, "one line");
  check_string(c, p, "started", false, "a time");
  check_number(c, p, "elapsed_s", 0, kMax, false, "a number of seconds");

  required(c, p, "params", "an object (what shaped the load)");
  const json& params = *check_object(c, p, "params", false, "an object (what shaped the load)");
  const std::string pp = join_path(p, "params");
  check_integer(params, pp, "message_size_bytes", 1, kMaxInt, false, "a size in bytes");
  check_integer(params, pp, "pipeline", 1, kMaxInt, false, "an integer of at least 1");
  check_number(params, pp, "rate_per_s", 0, kMax, true, "requests per second");
  check_bool(params, pp, "reconnect", false);
  check_number(params, pp, "duration_s", 0, kMax, false, "a number of seconds");
  check_number(params, pp, "warmup_s", 0, kMax, false, "a number of seconds");
  check_integer(params, pp, "loadgen_threads", 1, kMaxInt, true, "an integer of at least 1");
  check_integer(params, pp, "loadgen_ranks", 1, kMaxInt, false, "an integer of at least 1");
  check_integer(params, pp, "server_threads", 1, kMaxInt, true, "an integer of at least 1");
  check_string_list(params, pp, "server_args", "a list of server flags");

  if (const json* pl = check_object(c, p, "placement", false, "an object")) {
    check_string(*pl, join_path(p, "placement"), "server_cpus", true, "a CPU list");
    check_string(*pl, join_path(p, "placement"), "loadgen_cpus", true, "a CPU list");
  }
  if (const json* m = check_object(c, p, "metrics", true, "an object of metrics")) {
    const std::string mp = join_path(p, "metrics");
    static const json kMetrics = empty_metrics();
    for (const auto& [k, unused] : kMetrics.items()) {
      if (k == "client_saturated" || k == "rate_met") {
        check_bool(*m, mp, k.c_str(), true);
      } else if (k == "bound") {
        const json* b = find(*m, "bound");
        if (b != nullptr && !b->is_null() && *b != "server-bound" && *b != "client-bound" &&
            *b != "both" && *b != "neither") {
          fail(join_path(mp, "bound"), *b,
               "is not a side; allowed: server-bound, client-bound, both, neither, null");
        }
      } else {
        check_number(*m, mp, k.c_str(), -kMax, kMax, true, "a number");
      }
    }
  }
  const json* lg = find(c, "loadgen");
  if (lg != nullptr && !lg->is_null()) check_loadgen_report(*lg, join_path(p, "loadgen"));
  check_object(c, p, "loadgen_process", false, "an object");
  check_object(c, p, "launch_retry", false, "an object");
  check_object(c, p, "server", false, "an object");
  check_object(c, p, "measurement", false, "an object");
  if (const json* side = find(c, "side"); side != nullptr && *side != "base" && *side != "new") {
    fail(join_path(p, "side"), *side, "is not a side; allowed: base, new (an A/B file)");
  }
}

// An A/B file (muxbench ab): the two builds, and every cell on one side.
void check_ab(const json& d) {
  const json* ab = find(d, "ab");
  const json& cells = d["cells"];
  if (ab == nullptr || ab->is_null()) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (cells[i].contains("side")) {
        fail("cells[" + std::to_string(i) + "].side", cells[i]["side"],
             "is set in a file without an ab object; allowed: side only in an A/B file");
      }
    }
    return;
  }
  require_object(*ab, "ab", "an object with keys order, base, new (the two builds)");
  check_string(*ab, "ab", "order", false, "ABBA");
  for (const char* side : {"base", "new"}) {
    const std::string p = std::string("ab.") + side;
    const json& b = required(*ab, "ab", side, "an object naming the build");
    require_object(b, p, "an object with keys bin_dir, server_path, loadgen_path, git_commit");
    for (const char* k : {"bin_dir", "server_path", "loadgen_path"}) {
      check_string(b, p, k, false, "a path");
    }
    check_string(b, p, "git_commit", true, "a commit");
    check_bool(b, p, "git_dirty", true);
    check_string_list(b, p, "server_args", "a list of server flags");
  }
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (!cells[i].contains("side")) {
      throw SuiteError("cells[" + std::to_string(i) + "].side: missing; allowed: base or new "
                       "(every cell of an A/B file is on one side)");
    }
  }
}

}  // namespace

void ResultsFile::check(const json& d) {
  require_object(d, "(top level)", "a muxbench results file, an object");
  const json& tool = required(d, "", "tool", "muxbench (a file written by muxbench run)");
  if (tool != "muxbench") {
    fail("tool", tool, "is not muxbench; allowed: muxbench (a file written by muxbench run)");
  }
  const std::string version = std::to_string(kResultsSchemaVersion);
  const json& v = required(d, "", "schema_version", version);
  if (v != kResultsSchemaVersion) {
    fail("schema_version", v,
         "is not " + version + "; allowed: " + version + " (the version this muxbench reads)");
  }
  check_string(d, "", "started", false, "a time");
  required(d, "", "finished", "a time, or null while running or when interrupted");
  check_string(d, "", "finished", true, "a time");
  check_string_list(d, "", "command_line", "a list of strings");
  if (const json* r = check_list(d, "", "resumed", "a list of objects")) {
    for (std::size_t i = 0; i < r->size(); ++i) {
      const std::string p = "resumed[" + std::to_string(i) + "]";
      require_object((*r)[i], p, "an object with keys at, host, git_commit, cells_before");
      check_integer((*r)[i], p, "cells_before", 0, std::numeric_limits<long long>::max(), false,
                    "a count");
    }
  }
  check_environment(d);
  check_suite(d);
  const json& cells = required(d, "", "cells", "a list of cells");
  if (!cells.is_array()) fail("cells", cells, "is not a list; allowed: a list of cells");
  std::set<std::string> ids;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const std::string p = "cells[" + std::to_string(i) + "]";
    check_cell(cells[i], p);
    if (!ids.insert(cells[i]["id"].get<std::string>()).second) {
      fail(p + ".id", cells[i]["id"], "appears twice; allowed: each cell id once");
    }
  }
  check_ab(d);
}

json ResultsFile::load(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw SuiteError(path + ": cannot open: " + errno_string(errno));
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw SuiteError(path + ": cannot read: " + errno_string(errno));
  try {
    json d = check::parse(text);
    check(d);
    return d;
  } catch (const SuiteError& e) {
    throw SuiteError(path + ": " + e.what());
  }
}

void ResultsFile::add_cell(json cell) {
  ids_.insert(cell.value("id", ""));
  doc_["cells"].push_back(std::move(cell));
  write();
}

void ResultsFile::note_resumed(const json& environment) {
  if (!doc_.contains("resumed") || !doc_["resumed"].is_array()) doc_["resumed"] = json::array();
  doc_["resumed"].push_back({{"at", iso_now()},
                             {"host", environment.value("host", json())},
                             {"git_commit", environment.value("git_commit", json())},
                             {"cells_before", doc_["cells"].size()}});
  doc_["finished"] = nullptr;
  write();
}

void ResultsFile::set_finished() {
  doc_["finished"] = iso_now();
  write();
}

void ResultsFile::write() {
  // Stderr tails may hold any bytes: replace invalid UTF-8 rather than throw.
  std::string text = doc_.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
  std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot write " + tmp + ": " + errno_string(errno));
  bool ok = write_all(fd, text.data(), text.size()) && ::fsync(fd) == 0;
  int e = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write " + tmp + ": " + errno_string(e));
  }
  if (std::rename(tmp.c_str(), path_.c_str()) != 0) {
    e = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot rename " + tmp + " to " + path_ + ": " + errno_string(e));
  }
}

std::string default_results_path(const std::string& suite_name) {
  ::mkdir("results", 0755);
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%Y%m%d-%H%M%S", &tm);
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::string h = host;
  for (char& c : h) {
    if (c == '/' || c == ' ') c = '_';
  }
  std::string base = "results/" + std::string(date) + "-" + h + "-" + suite_name;
  std::string path = base + ".json";
  for (int i = 2; ::access(path.c_str(), F_OK) == 0; ++i) {
    path = base + "-" + std::to_string(i) + ".json";
  }
  return path;
}

}  // namespace muxbench::harness
