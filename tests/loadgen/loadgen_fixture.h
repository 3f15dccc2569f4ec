// Helpers for the load-generator tests: run the real muxbench-loadgen binary
// (its own process group, killed on scope exit even when a test fails) and
// parse its JSON report from stdout.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "muxbench/wire.h"
#include "process.h"

namespace muxbench::test {

struct LoadgenRun {
  int exit_code = -1;  // -1: did not exit in time, or killed by a signal
  std::string stdout_text;
  std::string stderr_text;
  nlohmann::json report;  // null if stdout was not JSON
};

inline std::string loadgen_path() { return bin_dir() + "/muxbench-loadgen"; }

inline std::vector<std::string> loadgen_argv(std::uint16_t port, std::vector<std::string> args) {
  std::vector<std::string> argv = {loadgen_path(), "--target", "127.0.0.1:" + std::to_string(port),
                                   "--json", "-"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// Waits for a started loadgen process and collects its output.
inline LoadgenRun collect(Process& p, std::chrono::seconds limit) {
  LoadgenRun r;
  r.stdout_text = p.read_all(limit);
  int st = p.wait(std::chrono::seconds(5));
  if (st != -1 && WIFEXITED(st)) r.exit_code = WEXITSTATUS(st);
  r.stderr_text = p.stderr_text();
  r.report = nlohmann::json::parse(r.stdout_text, nullptr, /*allow_exceptions=*/false);
  if (r.report.is_discarded()) r.report = nullptr;
  return r;
}

// Runs muxbench-loadgen against 127.0.0.1:port with --json - plus `args`.
inline LoadgenRun run_loadgen(std::uint16_t port, std::vector<std::string> args,
                              std::chrono::seconds limit = std::chrono::seconds(60)) {
  Process p(loadgen_argv(port, std::move(args)));
  return collect(p, limit);
}

// Runs it with raw arguments only (usage-error tests).
inline LoadgenRun run_loadgen_raw(std::vector<std::string> args) {
  std::vector<std::string> argv = {loadgen_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  Process p(argv);
  return collect(p, std::chrono::seconds(20));
}

// A test-only server that damages replies on purpose (corrupt_server.cc).
class CorruptServer {
 public:
  explicit CorruptServer(std::vector<std::string> args)
      : proc_([&] {
          std::vector<std::string> argv = {bin_dir() + "/muxbench-test-corrupt-server"};
          argv.insert(argv.end(), args.begin(), args.end());
          return argv;
        }()) {
    std::string ready = proc_.read_line(std::chrono::seconds(10));
    port_ = static_cast<std::uint16_t>(wire::ready_port(ready));
  }
  std::uint16_t port() const { return port_; }
  Process& process() { return proc_; }

 private:
  Process proc_;
  std::uint16_t port_ = 0;
};

// A file path under /tmp, removed when the test ends (passed or not).
class TempFile {
 public:
  explicit TempFile(const std::string& stem)
      : path_("/tmp/muxbench-loadgen-test-" + std::to_string(::getpid()) + "-" + stem) {}
  ~TempFile() { ::unlink(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Sum of the non-empty histogram buckets of a <LATENCY> object.
inline std::uint64_t bucket_total(const nlohmann::json& latency) {
  std::uint64_t n = 0;
  for (const auto& b : latency["histogram"]["buckets"]) n += b[1].get<std::uint64_t>();
  return n;
}

#define ASSERT_REPORT(run)                                                        \
  ASSERT_FALSE((run).report.is_null()) << "stdout: " << (run).stdout_text.substr(0, 2000) \
                                       << "\nstderr: " << (run).stderr_text

}  // namespace muxbench::test
