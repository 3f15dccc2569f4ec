// The machine and build a run happened on, recorded once per results file.
#pragma once

#include <string>

#include "suite.h"

namespace muxbench::harness {

struct BuildInfo {
  std::string build_type;  // CMAKE_BUILD_TYPE of the harness build
  std::string sanitizer;   // none, asan, tsan
  // True for builds whose numbers mean nothing: sanitizers, Debug, no type.
  bool unfit_for_results() const;
};

BuildInfo build_info();

// host, kernel, CPU, compiler and flags, build type, git commit, library
// versions, descriptor limits and the network sysctls (docs/results.md).
json collect_environment(const std::string& server_path, const std::string& loadgen_path);

// The network interface of this host that holds `address` (numeric): its
// name, MTU, addresses, whether it is loopback, and its queueing discipline
// as `tc qdisc show` prints it (netem delay/rate appear there).
json interface_for(const std::string& address);

// The git commit (null outside a work tree) and dirty flag of the tree that
// holds `dir`: which source a build directory (ab --base-bin) came from.
json git_info(const std::string& dir);

// `muxbench host-info`: collect_environment() plus interface_for(address), as
// run on each host of a host file through mpirun.
json host_info(const std::string& address);

}  // namespace muxbench::harness
