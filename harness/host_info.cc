// muxbench host-info: this host's environment and the interface that holds
// the benchmark address, as one JSON line. The harness runs it on every host
// of a host file through mpirun, and records the answers (docs/results.md).
//
//   muxbench host-info --address 127.0.0.1
#include <cstdio>

#include "commands.h"
#include "environment.h"

namespace muxbench::harness {

CommandMain setup_host_info(CLI::App& sub) {
  auto address = std::make_shared<std::string>("127.0.0.1");
  sub.add_option("--address", *address, "The benchmark address of this host")->capture_default_str();
  return [address]() -> int {
    std::printf("%s\n", host_info(*address).dump().c_str());
    return kExitOk;
  };
}

}  // namespace muxbench::harness
