// The report of several ranks without MPI: each rank's results go through
// the wire format (encode/decode, what ranks_gather carries to rank 0 under
// mpirun) and build_report merges them. Checks that the open-loop counters
// of the backlog (due, sent in the drain, unsent, censored) and the censored
// latencies cross the wire and are summed, and that every `ranks[]` entry
// has its own.
#include <gtest/gtest.h>

#include "report.h"
#include "wire.h"

namespace muxbench::loadgen {
namespace {

using nlohmann::json;

// One rank of an open-loop run: `due` requests, `in_drain` of the sent ones
// sent late, `unsent` never sent, `lost` sent but unanswered; completed
// requests take 1 ms, censored ones `censored_ns` + their index.
RankResult open_loop_rank(int rank, std::uint64_t due, std::uint64_t in_drain,
                          std::uint64_t unsent, std::uint64_t lost, std::uint64_t censored_ns) {
  RankResult r;
  r.rank = rank;
  r.host = "h" + std::to_string(rank);
  r.pid = 100 + rank;
  r.connections = 1;
  r.active = 1;
  r.rate = 500;
  r.start_realtime_ns = 1'000'000'000 + rank;
  r.run.measure_ns = 2'000'000'000;
  WorkerResult w;
  w.rank = rank;
  w.connections = 1;
  w.active = 1;
  w.due = due;
  w.sent = due - unsent;
  w.sent_in_drain = in_drain;
  w.sent_late = in_drain > 0 ? in_drain - 1 : 0;  // one just after the window: on time
  w.unsent = unsent;
  w.lost = lost;
  w.completed = w.verified = w.sent - lost;
  w.completed_in_window = w.completed - in_drain;
  for (std::uint64_t i = 0; i < w.completed; ++i) {
    w.latency.record(1'000'000);
    w.latency_uncorrected.record(1'000'000);
  }
  w.censored = unsent + lost;
  for (std::uint64_t i = 0; i < w.censored; ++i) {
    w.latency.record(censored_ns + i);
    w.latency_censored.record(censored_ns + i);
  }
  r.workers.push_back(w);
  return r;
}

RankResult through_the_wire(const RankResult& r) {
  RankResult back;
  EXPECT_TRUE(decode(encode(r), &back));
  return back;
}

TEST(LoadgenMerge, BacklogCountersAndCensoredLatenciesCrossTheWireAndAddUp) {
  Config cfg;
  cfg.rate = 500;
  cfg.total_rate = 1000;
  cfg.ranks = 2;
  cfg.connections = cfg.active = 1;
  cfg.total_connections = cfg.total_active = 2;
  cfg.duration_s = 2;
  cfg.warmup_s = 0;
  const std::vector<RankResult> ranks = {
      through_the_wire(open_loop_rank(0, 1000, 100, 300, 1, 700'000'000)),
      through_the_wire(open_loop_rank(1, 1000, 50, 0, 0, 0))};
  const WorkerResult& w0 = ranks[0].workers.at(0);
  EXPECT_EQ(w0.due, 1000u);
  EXPECT_EQ(w0.sent_in_drain, 100u);
  EXPECT_EQ(w0.sent_late, 99u);
  EXPECT_EQ(w0.unsent, 300u);
  EXPECT_EQ(w0.censored, 301u);
  EXPECT_EQ(w0.latency_censored.count(), 301u);
  EXPECT_EQ(w0.latency_censored.min(), 700'000'000u);

  const json r = build_report(cfg, ranks, true);
  const json& rate = r["rate"];
  EXPECT_EQ(rate["due"], 2000u);
  EXPECT_EQ(rate["sent_in_drain"], 150u);
  EXPECT_EQ(rate["sent_late"], 148u);
  EXPECT_EQ(rate["unsent"], 300u);
  EXPECT_EQ(rate["missed"], 448u) << "late + unsent; a send just after the window is on time";
  EXPECT_EQ(rate["sent_in_window"], 2000u - 300u - 150u);
  EXPECT_DOUBLE_EQ(rate["missed_fraction"].get<double>(), 448.0 / 2000);
  EXPECT_EQ(rate["censored"], 301u);
  EXPECT_EQ(r["requests"]["censored"], 301u);
  EXPECT_EQ(r["requests"]["sent"], 1700u);
  EXPECT_EQ(r["requests"]["lost"], 1u);
  EXPECT_EQ(r["latency"]["count"], 2000u) << "every due request has a latency";
  EXPECT_EQ(r["latency_censored"]["count"], 301u);
  EXPECT_EQ(r["latency_censored"]["min_ns"], 700'000'000u);
  EXPECT_EQ(r["latency_censored"]["max_ns"], 700'000'300u);
  EXPECT_EQ(r["latency"]["max_ns"], 700'000'300u);
  ASSERT_EQ(r["ranks"].size(), 2u);
  EXPECT_EQ(r["ranks"][0]["due"], 1000u);
  EXPECT_EQ(r["ranks"][0]["missed"], 399u);
  EXPECT_EQ(r["ranks"][0]["censored"], 301u);
  EXPECT_EQ(r["ranks"][1]["due"], 1000u);
  EXPECT_EQ(r["ranks"][1]["missed"], 49u);
  EXPECT_EQ(r["ranks"][1]["censored"], 0u);
  // Both ranks' warnings say the schedule was missed (tagged with the rank).
  bool tagged = false;
  for (const auto& w : r["warnings"]) {
    tagged = tagged || w.get<std::string>().rfind("rank", 0) == 0;
  }
  EXPECT_FALSE(tagged) << "the merged warning is the job's, not a rank's: " << r["warnings"].dump();
  bool missed = false, censored = false;
  for (const auto& w : r["warnings"]) {
    const std::string t = w.get<std::string>();
    missed = missed || t.rfind("448 of 2000 requests due", 0) == 0;
    censored = censored || t.rfind("301 requests due", 0) == 0;
  }
  EXPECT_TRUE(missed) << r["warnings"].dump();
  EXPECT_TRUE(censored) << r["warnings"].dump();
}

TEST(LoadgenMerge, ClosedLoopHasNoScheduleFields) {
  Config cfg;  // rate 0: closed loop
  RankResult rk;
  rk.run.measure_ns = 1'000'000'000;
  WorkerResult w;
  w.sent = w.completed = w.verified = 10;
  for (int i = 0; i < 10; ++i) w.latency.record(1000);
  rk.workers.push_back(w);
  const json r = build_report(cfg, {through_the_wire(rk)}, false);
  EXPECT_TRUE(r["rate"].is_null());
  EXPECT_TRUE(r["latency_censored"].is_null());
  EXPECT_EQ(r["requests"]["censored"], 0u);
  EXPECT_TRUE(r["ranks"][0]["due"].is_null());
  EXPECT_TRUE(r["ranks"][0]["censored"].is_null());
}

}  // namespace
}  // namespace muxbench::loadgen
