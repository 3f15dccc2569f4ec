// The C10K case (label `slow`): 10,000 connections to the epoll server, 100 of
// them active, the rest open and idle for the whole run.
#include <signal.h>
#include <unistd.h>

#include <fstream>

#include "loadgen_fixture.h"

namespace muxbench::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TEST(LoadgenSlow, TenThousandConnections) {
  TempFile stats("slow-stats.json");
  Server server("epoll", {"--stats", stats.path()});
  ASSERT_TRUE(server.ok());
  auto run = run_loadgen(server.port(), {"--connections", "10000", "--active", "100", "--warmup",
                                         "0.5", "--duration", "2"},
                         120s);
  ASSERT_REPORT(run);
  const json& r = run.report;
  EXPECT_EQ(run.exit_code, 0) << run.stderr_text;
  EXPECT_EQ(r["status"], "ok");
  EXPECT_EQ(r["connect"]["established"], 10000);
  EXPECT_EQ(r["connections"]["open_at_measure_start"], 10000);
  EXPECT_EQ(r["connections"]["open_at_measure_end"], 10000);
  EXPECT_EQ(r["errors"]["total"], 0) << r["errors"].dump();
  EXPECT_EQ(r["verification"]["mismatched_replies"], 0);
  EXPECT_GT(r["requests"]["completed"].get<std::uint64_t>(), 1000u);
  EXPECT_GE(r["limits"]["nofile_soft"].get<long>(), 10000);
  EXPECT_EQ(r["connect"]["latency"]["count"], 10000);

  server.process().signal(SIGTERM);
  ASSERT_NE(server.process().wait(5s), -1);
  std::ifstream f(stats.path());
  json st = json::parse(f, nullptr, false);
  ASSERT_FALSE(st.is_discarded());
  EXPECT_EQ(st["counters"]["accepted"], 10000);
  EXPECT_EQ(st["counters"]["rejected"]["fd_exhausted"], 0);
}

}  // namespace
}  // namespace muxbench::test
