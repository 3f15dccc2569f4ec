#include "catalog.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "muxbench/wire.h"
#include "spawn.h"

namespace muxbench::harness {

std::optional<std::vector<StrategyInfo>> load_strategies(const std::string& server_path,
                                                         std::string* err) {
  char tmpl[] = "/tmp/muxbench-list-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) {
    *err = "cannot create a temporary file";
    return std::nullopt;
  }
  ::close(fd);
  std::string out_path = tmpl;
  SpawnOptions so;
  so.argv = {server_path, "--list-json"};
  so.stdout_path = out_path;
  so.stderr_path = out_path + ".err";
  auto cleanup = [&] {
    std::remove(out_path.c_str());
    std::remove(so.stderr_path.c_str());
  };
  std::string spawn_err;
  auto child = Child::spawn(so, &spawn_err);
  if (!child) {
    *err = spawn_err;
    cleanup();
    return std::nullopt;
  }
  if (!child->wait_until(Clock::now() + std::chrono::seconds(10))) {
    *err = server_path + " --list-json did not finish within 10 s";
    cleanup();
    return std::nullopt;
  }
  if (!child->exit_info()->clean()) {
    *err = server_path + " --list-json: " + child->exit_info()->describe() + ": " +
           file_tail(so.stderr_path, 400);
    cleanup();
    return std::nullopt;
  }
  std::vector<StrategyInfo> out;
  try {
    std::FILE* f = std::fopen(out_path.c_str(), "rb");
    nlohmann::json j = f ? nlohmann::json::parse(f) : nlohmann::json();
    if (f) std::fclose(f);
    for (const auto& s : j) {
      using namespace wire::list;
      StrategyInfo info;
      info.name = s.at(kName).get<std::string>();
      info.family = s.at(kFamily).get<std::string>();
      info.summary = s.value(kSummary, "");
      info.default_threads = s.value(kDefaultThreads, 0);
      info.takes_threads = s.value(kTakesThreads, false);
      if (s.contains(kLibrary) && s[kLibrary].is_string()) info.library = s[kLibrary];
      out.push_back(std::move(info));
    }
  } catch (const std::exception& e) {
    *err = server_path + " --list-json printed something that is not a strategy list: " +
           e.what();
    cleanup();
    return std::nullopt;
  }
  cleanup();
  if (out.empty()) {
    *err = server_path + " --list-json lists no strategy";
    return std::nullopt;
  }
  return out;
}

std::vector<std::string> family_names(const std::vector<StrategyInfo>& catalog) {
  std::vector<std::string> out;
  for (const auto& st : catalog) {
    if (std::find(out.begin(), out.end(), st.family) == out.end()) out.push_back(st.family);
  }
  return out;
}

const std::vector<WorkloadInfo>& workloads() {
  static const std::vector<WorkloadInfo> kWorkloads = {
      {"pingpong", "all N connections active, closed loop, 64-byte lines: the scaling curve",
       64, 0, 0, false},
      {"idle", "N connections open, a fixed number active (default 100, capped at N): the C10K curve",
       64, 100, 0, false},
      {"churn", "a new connection per request: the cost of accept, fork, thread creation",
       64, 0, 0, true},
      {"bulk", "16 KiB lines, closed loop: bytes per second, copies and buffer handling",
       16384, 0, 0, false},
      {"rate", "open loop at a fixed total request rate: latency under load, corrected for CO",
       64, 0, 2000, false},
  };
  return kWorkloads;
}

const WorkloadInfo* find_workload(const std::string& name) {
  for (const auto& w : workloads()) {
    if (name == w.name) return &w;
  }
  return nullptr;
}

bool is_open_loop(const std::string& workload) {
  const WorkloadInfo* w = find_workload(workload);
  return w != nullptr && w->rate_per_s > 0;
}

std::string workload_names() {
  std::string s;
  for (const auto& w : workloads()) {
    if (!s.empty()) s += ", ";
    s += w.name;
  }
  return s;
}

}  // namespace muxbench::harness
