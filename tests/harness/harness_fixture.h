// Helpers for the harness tests: run the real `muxbench` binary (in its own
// process group, killed if the test fails), scratch directories, results
// files, and checks that nothing a run started is still alive.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "process.h"

namespace muxbench::test {

using json = nlohmann::json;

inline std::string source_dir() { return MUXBENCH_SOURCE_DIR; }

// A scratch directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/muxbench-harness-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name)) << text;
    return file(name);
  }

 private:
  std::string path_;
};

struct RunResult {
  int status = -1;  // wait status; -1: timed out (killed)
  std::string out;
  std::string err;
  int exit_code() const { return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1; }
};

// Runs `muxbench args...` to completion (bounded).
inline RunResult run_muxbench(const std::vector<std::string>& args,
                              std::chrono::seconds timeout = std::chrono::seconds(120)) {
  std::vector<std::string> argv = {bin_dir() + "/muxbench"};
  argv.insert(argv.end(), args.begin(), args.end());
  Process p(argv);
  RunResult r;
  r.out = p.read_all(timeout);
  r.status = p.wait(std::chrono::seconds(5));
  r.err = p.stderr_text();
  return r;
}

inline json read_json(const std::string& path) {
  std::ifstream f(path);
  return json::parse(f);
}

// Validates a results file against docs/results.schema.json with Debian's
// python3-jsonschema. Returns "" when valid, the validator's output otherwise.
inline std::string schema_errors(const std::string& results_path) {
  std::string out_path = results_path + ".validate.txt";
  std::string cmd = "/usr/bin/python3 '" + source_dir() + "/tests/harness/validate_results.py' '" +
                    results_path + "' > '" + out_path + "' 2>&1";
  int rc = std::system(cmd.c_str());
  std::ifstream f(out_path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::remove(out_path.c_str());
  return rc == 0 ? "" : ss.str();
}

// True when `pid` is alive and not a zombie.
inline bool alive(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(f, stat)) return false;
  auto rp = stat.rfind(')');
  return rp != std::string::npos && rp + 2 < stat.size() && stat[rp + 2] != 'Z';
}

// Every process descended from `root` right now (children, their children,
// ...), read from the ppid field of /proc/*/stat. A cell that is interrupted
// is never recorded, so `survivors` cannot see its processes; a snapshot of
// the harness's descendants taken before the signal can.
inline std::vector<pid_t> descendants(pid_t root) {
  std::vector<std::pair<pid_t, pid_t>> links;  // (pid, ppid)
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "stat");
    std::string stat;
    if (!std::getline(f, stat)) continue;
    auto rp = stat.rfind(')');
    if (rp == std::string::npos) continue;
    std::istringstream rest(stat.substr(rp + 2));
    std::string state;
    long ppid = 0;
    rest >> state >> ppid;
    links.emplace_back(static_cast<pid_t>(std::stol(name)), static_cast<pid_t>(ppid));
  }
  std::vector<pid_t> out;
  std::vector<pid_t> frontier = {root};
  while (!frontier.empty()) {
    pid_t parent = frontier.back();
    frontier.pop_back();
    for (auto [pid, ppid] : links) {
      if (ppid == parent) {
        out.push_back(pid);
        frontier.push_back(pid);
      }
    }
  }
  return out;
}

// Every server (process group) and load generator a results file recorded is
// gone. Returns a description of the survivors, "" when none.
inline std::string survivors(const json& doc) {
  std::string s;
  for (const auto& c : doc["cells"]) {
    if (c["server"].contains("pid")) {
      pid_t pg = c["server"]["pid"].get<pid_t>();
      auto left = group_members(pg);
      if (!left.empty()) s += c["id"].get<std::string>() + ": server group " + std::to_string(pg) + " has " + std::to_string(left.size()) + " processes; ";
    }
    if (c.contains("loadgen_process") && c["loadgen_process"]["pid"].is_number()) {
      pid_t lg = c["loadgen_process"]["pid"].get<pid_t>();
      if (!group_members(lg).empty()) s += c["id"].get<std::string>() + ": loadgen group " + std::to_string(lg) + " alive; ";
    }
  }
  return s;
}

// The cell ids `muxbench run --dry-run` lists for these arguments.
inline std::vector<std::string> planned_ids(std::vector<std::string> args) {
  args.insert(args.begin(), "run");
  args.push_back("--dry-run");
  RunResult r = run_muxbench(args, std::chrono::seconds(30));
  std::vector<std::string> ids;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("  ", 0) != 0) continue;
    std::istringstream words(line);
    std::string id;
    words >> id;
    if (id.find('/') != std::string::npos) ids.push_back(id);
  }
  return ids;
}

inline std::vector<std::string> recorded_ids(const json& doc) {
  std::vector<std::string> ids;
  for (const auto& c : doc["cells"]) ids.push_back(c["id"].get<std::string>());
  return ids;
}

// Waits until the results file `out` holds at least `n` cells (a run being
// interrupted mid-way); false when `timeout` passes first.
inline bool wait_for_cells(const std::string& out, std::size_t n, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      if (read_json(out)["cells"].size() >= n) return true;
    } catch (...) {  // not written yet, or being replaced
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace muxbench::test
