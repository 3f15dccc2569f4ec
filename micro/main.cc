// muxbench-micro: Google Benchmark micro-benchmarks of the readiness
// mechanisms (libevent's test/bench.c measurement), their registration cost,
// the line codec and the latency histogram. docs/micro.md says how to run and
// read them.
//
// Every benchmark is registered here from explicit tables, not by static
// self-registration (which a static library silently drops).
#include <benchmark/benchmark.h>
#include <asio/version.hpp>
#include <event2/event.h>
#include <uv.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/utsname.h>

#include <cstdio>
#include <string>

#include "mechanism.h"
#include "muxbench/net.h"

namespace muxbench::micro {
namespace {

// The mechanisms, in the order the results list them.
const Mechanism* const kMechanisms[] = {
    &kSelect,      &kPoll,           &kEpoll,        &kEpollEt,
    &kIoUringPoll, &kLibeventSelect, &kLibeventPoll, &kLibeventEpoll,
    &kLibuv,       &kAsio,
};

// N: watched descriptors (socketpair read ends, see workload.h). select()
// takes them up to 1,000: the watched ends get the lowest descriptors.
constexpr int kWatched[] = {10, 100, 1000, 5000, 10000};
// A: active pairs, written to at the start of each round (only those <= N).
constexpr int kActive[] = {1, 100};
// W: chained writes per round, so a round delivers A + W events.
constexpr int kChainedWrites = 1000;
// Descriptors besides the pairs: stdio, the benchmark output file, an epoll
// or io_uring descriptor.
constexpr int kSpareFds = 16;

// Every watched descriptor below FD_SETSIZE (the writers are placed above).
bool fits_fd_setsize(int n) {
  return n + kSpareFds <= FD_SETSIZE;
}

void register_dispatch_benchmarks() {
  for (const Mechanism* m : kMechanisms) {
    for (int n : kWatched) {
      if (m->fd_setsize_bound && !fits_fd_setsize(n)) continue;
      for (int a : kActive) {
        if (a > n) continue;
        const Workload w{n, a, kChainedWrites};
        const std::string name = std::string("BM_Dispatch/") + m->name + "/" + std::to_string(n) +
                                 "/" + std::to_string(a);
        benchmark::RegisterBenchmark(name.c_str(),
                                     [m, w](benchmark::State& s) { m->dispatch(s, w); });
      }
    }
  }
}

void register_registration_benchmarks() {
  for (const Mechanism* m : kMechanisms) {
    for (int n : kWatched) {
      if (m->fd_setsize_bound && !fits_fd_setsize(n)) continue;
      const std::string name = std::string("BM_Register/") + m->name + "/" + std::to_string(n);
      benchmark::RegisterBenchmark(name.c_str(),
                                   [m, n](benchmark::State& s) { m->registration(s, n); });
    }
  }
}

// Raises RLIMIT_NOFILE to the hard limit, and beyond it to what the largest N
// needs when the process may (CAP_SYS_RESOURCE). Returns the soft limit.
long open_file_limit() {
  long limit = raise_nofile_limit();
  const long need = 2L * kWatched[std::size(kWatched) - 1] + kSpareFds;
  if (limit >= 0 && limit < need) {
    rlimit rl{static_cast<rlim_t>(need), static_cast<rlim_t>(need)};
    if (::setrlimit(RLIMIT_NOFILE, &rl) == 0) limit = need;
  }
  return limit;
}

void add_context(long nofile) {
  benchmark::AddCustomContext("muxbench_build_type", MUXBENCH_BUILD_TYPE);
  benchmark::AddCustomContext("muxbench_sanitizer", MUXBENCH_SANITIZER);
  benchmark::AddCustomContext("muxbench_cxx_flags", MUXBENCH_CXX_FLAGS);
  utsname u{};
  if (::uname(&u) == 0) {
    benchmark::AddCustomContext("kernel", std::string(u.sysname) + " " + u.release);
  }
  benchmark::AddCustomContext("rlimit_nofile", std::to_string(nofile));
  benchmark::AddCustomContext("fd_setsize", std::to_string(FD_SETSIZE));
  benchmark::AddCustomContext("chained_writes", std::to_string(kChainedWrites));
  benchmark::AddCustomContext("libevent_version", event_get_version());
  benchmark::AddCustomContext("liburing_version", MUXBENCH_LIBURING_VERSION);
  benchmark::AddCustomContext("libuv_version", uv_version_string());
  benchmark::AddCustomContext("asio_version", std::to_string(ASIO_VERSION / 100000) + "." +
                                                  std::to_string(ASIO_VERSION / 100 % 1000) + "." +
                                                  std::to_string(ASIO_VERSION % 100));
  benchmark::AddCustomContext("io_uring_poll", io_uring_poll_mode());
}

// --list-json: the mechanisms, in table order, with their families (read by
// scripts/registry.py, which writes docs/registry.json for the charts).
void print_mechanisms_json() {
  std::printf("[");
  const char* sep = "\n";
  for (const Mechanism* m : kMechanisms) {
    std::printf("%s  {\"name\": \"%s\", \"family\": \"%s\", \"fd_setsize_bound\": %s}", sep,
                m->name, m->family, m->fd_setsize_bound ? "true" : "false");
    sep = ",\n";
  }
  std::printf("\n]\n");
}

}  // namespace
}  // namespace muxbench::micro

int main(int argc, char** argv) {
  using namespace muxbench::micro;
  if (argc == 2 && std::string(argv[1]) == "--list-json") {
    print_mechanisms_json();
    return 0;
  }
  const long nofile = open_file_limit();
  register_dispatch_benchmarks();
  register_registration_benchmarks();
  register_codec_benchmarks();
  register_histogram_benchmarks();

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  add_context(nofile);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
