// What the harness can run: the server's strategies (asked from the binary at
// run time, `muxbench-server --list-json`; the harness never links server
// code) and the built-in workloads.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace muxbench::harness {

struct StrategyInfo {
  std::string name;
  std::string family;   // blocking, readiness, libevent, libuv, asio, completion
  std::string summary;
  int default_threads = 0;
  bool takes_threads = false;
};

// Runs `server_path --list-json` (bounded) and parses it. On failure returns
// nullopt and sets *err.
std::optional<std::vector<StrategyInfo>> load_strategies(const std::string& server_path,
                                                         std::string* err);

// A workload: a shape of load, parameterised by the suite.
struct WorkloadInfo {
  const char* name;
  const char* summary;
  int message_size_bytes;   // default line size, '\n' included
  int active;               // default active connections (capped at N); 0: all N
  double rate_per_s;        // default open-loop rate; 0: closed loop
  bool reconnect;           // a new connection per request
};

const std::vector<WorkloadInfo>& workloads();
const WorkloadInfo* find_workload(const std::string& name);
std::string workload_names();  // "pingpong, idle, churn, bulk, rate"

}  // namespace muxbench::harness
