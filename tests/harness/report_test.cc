// What `muxbench show` (and the end of `muxbench run`) prints for a cell
// that missed its open-loop rate: a verdict of its own, next to its numbers,
// never passed off as ok (harness/report.h); and one real cell that misses
// it, end to end.
#include "report.h"

#include <gtest/gtest.h>

#include "harness_fixture.h"

namespace muxbench::harness {
namespace {

using test::RunResult;
using test::TempDir;
using test::run_muxbench;

json rate_cell(const std::string& strategy, int rep, const std::string& status, double rps,
               double missed_fraction) {
  json c;
  c["id"] = strategy + "/rate/c10/r" + std::to_string(rep);
  c["strategy"] = strategy;
  c["workload"] = "rate";
  c["connections"] = 10;
  c["repetition"] = rep;
  c["status"] = status;
  c["reason"] = status == "ok" ? json(nullptr)
                               : json("rate not met: 2295 of 4000 requests due (57.4 %, more than "
                                      "1 %) were not sent on schedule; target 1000/s, achieved "
                                      "455/s");
  c["metrics"] = {{"requests_per_s", rps},
                  {"p99_ns", status == "ok" ? 300e3 : 4.9e9},
                  {"rate_met", status == "ok"},
                  {"rate_missed_fraction", missed_fraction},
                  {"bound", "neither"}};
  return c;
}

// The table line of a strategy ("  poll   455 4.9s - RATE NOT MET").
std::string line_of(const std::string& text, const std::string& strategy) {
  std::size_t at = 0;
  while ((at = text.find("\n  " + strategy + " ", at)) != std::string::npos) {
    const std::size_t end = text.find('\n', at + 1);
    return text.substr(at + 1, end - at - 1);
  }
  return "";
}

json doc_with(std::vector<json> cells) {
  json d;
  d["suite"] = {{"name", "t"}, {"workloads", {"rate"}}, {"strategies", {"epoll", "poll"}}};
  d["environment"] = json::object();
  d["started"] = "2026-12-01T05:30:00Z";
  d["finished"] = "2026-12-01T05:40:00Z";
  d["cells"] = cells;
  return d;
}

TEST(ShowRateNotMet, TheHeadlineLeadsWithTheVerdictThenTheNumbers) {
  EXPECT_EQ(headline(rate_cell("epoll", 0, "rate_not_met", 455, 0.57375)),
            "RATE NOT MET (57.4 % of due requests not sent on schedule): 455 req/s, p99 4.9s, "
            "neither");
  EXPECT_EQ(headline(rate_cell("epoll", 0, "ok", 1000, 0)), "1.00k req/s, p99 300µs, neither");
  EXPECT_TRUE(is_measured(rate_cell("epoll", 0, "rate_not_met", 455, 0.5)));
  EXPECT_TRUE(is_measured(rate_cell("epoll", 0, "ok", 1000, 0)));
  json failed = rate_cell("epoll", 0, "failed", 0, 0);
  EXPECT_FALSE(is_measured(failed));
}

TEST(ShowRateNotMet, TablesMarkTheCellListItsReasonAndCountIt) {
  const json d = doc_with({rate_cell("epoll", 0, "ok", 1000, 0),
                           rate_cell("poll", 0, "rate_not_met", 455, 0.57375)});
  const std::string t = summary_tables(d);
  const std::string poll = line_of(t, "poll"), epoll = line_of(t, "epoll");
  EXPECT_NE(poll.find("455 4.9s - RATE NOT MET"), std::string::npos) << t;
  EXPECT_NE(epoll.find("1.00k 300µs -"), std::string::npos) << t;
  EXPECT_EQ(epoll.find("RATE NOT MET"), std::string::npos) << t;
  EXPECT_NE(t.find("\nRATE NOT MET (1): "), std::string::npos) << t;
  EXPECT_NE(t.find("  poll/rate/c10/r0: rate not met: 2295 of 4000 requests due"),
            std::string::npos)
      << t;
  EXPECT_EQ(t.find("FAILED"), std::string::npos) << t;
  const std::string h = document_header(d, "x.json");
  EXPECT_NE(h.find("cells: 1 ok, 1 RATE NOT MET, 0 failed, 0 skipped"), std::string::npos) << h;
}

TEST(ShowRateNotMet, SomeRepetitionsMissingTheRateAreCounted) {
  const json d = doc_with({rate_cell("epoll", 0, "ok", 1000, 0),
                           rate_cell("epoll", 1, "rate_not_met", 900, 0.1),
                           rate_cell("epoll", 2, "ok", 1000, 0)});
  const std::string t = summary_tables(d);
  EXPECT_NE(line_of(t, "epoll").find("1.00k 300µs - (1 RATE NOT MET)"), std::string::npos) << t;
  // Without any, the header does not mention it.
  const json ok = doc_with({rate_cell("epoll", 0, "ok", 1000, 0)});
  EXPECT_NE(document_header(ok, "x.json").find("cells: 1 ok, 0 failed, 0 skipped"),
            std::string::npos);
}

// A server slowed to 2 ms per reply (at most 500/s) asked for 1000/s on one
// connection: the cell runs cleanly but cannot keep the schedule. It is
// recorded as rate_not_met with its numbers, valid against the schema, and
// `muxbench show` says so. (About 4 s: 1 s measured, then the drain sends
// the backlog.)
TEST(ShowRateNotMet, ASlowedRateCellIsRecordedAndShownAsRateNotMet) {
  TempDir dir;
  const std::string suite = dir.write("rate.json", R"J({"name": "ratemiss",
      "strategies": ["epoll"], "workloads": ["rate"], "connections": [1],
      "duration_s": 1, "warmup_s": 0, "pause_s": 0,
      "workload_params": {"rate": {"rate_per_s": 1000}},
      "server_args": {"epoll": ["--delay-us", "2000"]}})J");
  const std::string out = dir.file("r.json");
  RunResult r = run_muxbench({"run", "--suite", suite, "--out", out, "--allow-debug-build"},
                             std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  const json doc = test::read_json(out);
  ASSERT_EQ(doc["cells"].size(), 1u);
  const json& c = doc["cells"][0];
  EXPECT_EQ(c["status"], "rate_not_met") << c["reason"];
  ASSERT_TRUE(c["reason"].is_string());
  EXPECT_EQ(c["reason"].get<std::string>().rfind("rate not met: ", 0), 0u) << c["reason"];
  EXPECT_EQ(c["metrics"]["rate_met"], false);
  EXPECT_GT(c["metrics"]["rate_missed_fraction"].get<double>(), 0.2);
  EXPECT_LT(c["metrics"]["requests_per_s"].get<double>(), 700);
  const json& lg = c["loadgen"];
  EXPECT_EQ(lg["latency"]["count"], lg["rate"]["due"]);
  EXPECT_EQ(test::schema_errors(out), "");
  RunResult show = run_muxbench({"show", out});
  ASSERT_EQ(show.exit_code(), 0) << show.err;
  EXPECT_NE(show.out.find("cells: 0 ok, 1 RATE NOT MET, 0 failed, 0 skipped"), std::string::npos)
      << show.out;
  EXPECT_NE(show.out.find("RATE NOT MET (1): "), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("epoll/rate/c1/r0: rate not met: "), std::string::npos) << show.out;
}

}  // namespace
}  // namespace muxbench::harness
