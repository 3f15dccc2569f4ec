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
  std::string library = {};  // the library its family is built on; "" for system calls only
};

// Runs `server_path --list-json` (bounded) and parses it. On failure returns
// nullopt and sets *err.
std::optional<std::vector<StrategyInfo>> load_strategies(const std::string& server_path,
                                                         std::string* err);

// The families of these strategies, in their order (registry order).
std::vector<std::string> family_names(const std::vector<StrategyInfo>& catalog);

// A workload: a shape of load, parameterised by the suite.
struct WorkloadInfo {
  const char* name;
  const char* summary;
  int message_size_bytes;   // default line size, '\n' included
  int active;               // default active connections (capped at N); 0: all N
  double rate_per_s;        // default open-loop rate; 0: closed loop
  bool reconnect;           // a new connection per request
};

// The built-in workloads, in presentation order: the one list of them.
// `muxbench list --json` exports it (docs/registry.json, the results schema's
// enums and the charts' order are generated from that export).
const std::vector<WorkloadInfo>& workloads();
const WorkloadInfo* find_workload(const std::string& name);
std::string workload_names();  // "pingpong, idle, churn, bulk, rate"

// Whether a workload paces requests at a rate (open loop); false for an
// unknown name.
bool is_open_loop(const std::string& workload);

}  // namespace muxbench::harness
