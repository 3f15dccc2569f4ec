// Host files: where the server and the load generators of a run are placed,
// and how Open MPI's mpirun reaches those hosts (docs/distributed.md).
//
// muxbench has no launcher of its own: every process on another host is
// started by mpirun, which already reaches hosts over ssh, Slurm, PBS or
// Kubernetes. A host file names the hosts, their addresses on the benchmark
// network, their CPUs, and the mpirun command line with its MCA settings:
//
//   {
//     "name": "lab",
//     "launcher": {"mpirun": ["mpirun"], "mca": {"plm_rsh_agent": "ssh"},
//                  "env": {}, "bin_dir": "/opt/muxbench/bin"},
//     "hosts": [
//       {"name": "srv1", "address": "10.0.0.5", "cpus": "0-15", "slots": 1, "role": "server"},
//       {"name": "cli1", "address": "10.0.0.6", "cpus": "0-15", "slots": 16, "role": "loadgen"}
//     ],
//     "network": {"kind": "25GbE"}
//   }
//
// `scripts/testbed.sh up` writes one for its network namespaces.
#pragma once

#include <string>
#include <vector>

#include "suite.h"

namespace muxbench::harness {

struct Host {
  std::string name;     // as mpirun's --host knows it
  std::string address;  // numeric IPv4/IPv6 on the benchmark network
  std::string cpus;     // CPU list on that host ("0-3"); "" : not pinned
  int slots = 1;        // load-generator ranks it may take
  std::string role;     // "server" or "loadgen"
};

struct Launcher {
  std::vector<std::string> mpirun;                          // argv prefix
  std::vector<std::pair<std::string, std::string>> mca;     // --mca KEY VALUE
  std::vector<std::pair<std::string, std::string>> env;     // set for mpirun
  std::string bin_dir;  // muxbench binaries on the hosts; "" : the same path as here
};

struct HostFile {
  std::string path;  // where it was read from, for messages
  std::string name;
  Launcher launcher;
  std::vector<Host> hosts;
  json network;      // recorded as given (null when absent)

  const Host& server() const;
  std::vector<const Host*> load_hosts() const;
  json to_json() const;  // as recorded in results files
};

// Reads and validates a host file. Throws SuiteError whose message names the
// file, the field, the value and what is allowed.
HostFile load_host_file(const std::string& path);
HostFile parse_host_file(const json& j, const std::string& path);

// One group of processes of an mpirun job: `ranks` copies of argv on `host`.
struct AppContext {
  std::string host;
  int ranks = 1;
  std::vector<std::string> argv;
};

// mpirun's command line for one job (MPMD when there are several contexts):
// the launcher prefix, its MCA settings, then `-np N --host H argv...` per
// context joined by ":".
std::vector<std::string> mpirun_argv(const Launcher& l, const std::vector<AppContext>& apps);

// The launcher for ranks on this machine only (no host file): plain mpirun,
// oversubscribed, allowed to run as root.
Launcher local_launcher();

// Launcher environment as KEY=VALUE strings, for SpawnOptions::env.
std::vector<std::string> launcher_env(const Launcher& l);

}  // namespace muxbench::harness
