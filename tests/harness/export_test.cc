// muxbench export on fixtures/export/results.json (make_fixtures.py): each
// format byte for byte against its expected file, and the arithmetic each
// consumer relies on checked independently.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "harness_fixture.h"

namespace muxbench::test {
namespace {

std::string fixture(const std::string& name) {
  return source_dir() + "/tests/harness/fixtures/export/" + name;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST(Export, GithubActionBenchmarkSplitsByDirection) {
  TempDir dir;
  RunResult r = run_muxbench({"export", fixture("results.json"), "--format",
                              "github-action-benchmark", "--out", dir.path()});
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  for (const char* f : {"bigger_is_better.json", "smaller_is_better.json"}) {
    EXPECT_EQ(slurp(dir.file(f)), slurp(fixture(f))) << f;
  }
  // The action's custom tools read {name, unit, value} (range, extra optional).
  json bigger = read_json(dir.file("bigger_is_better.json"));
  json smaller = read_json(dir.file("smaller_is_better.json"));
  ASSERT_EQ(bigger.size(), 4u);  // throughput of 4 cells
  EXPECT_EQ(smaller.size(), 12u);  // p50, p99, cpu_per_request of 4 cells
  for (const auto& e : bigger) {
    EXPECT_NE(e["name"].get<std::string>().find(" throughput"), std::string::npos);
    EXPECT_TRUE(e["value"].is_number());
    EXPECT_EQ(e["unit"], "requests/s");
  }
  EXPECT_EQ(bigger[0]["name"], "epoll/pingpong/c10 throughput");
  EXPECT_DOUBLE_EQ(bigger[0]["value"].get<double>(), 100000);  // the median of 5
}

TEST(Export, BencherMetricFormat) {
  RunResult r = run_muxbench({"export", fixture("results.json"), "--format", "bmf"});
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out, slurp(fixture("bmf.json")));
  json bmf = json::parse(r.out);
  ASSERT_TRUE(bmf.contains("epoll/pingpong/c10"));
  const json& t = bmf["epoll/pingpong/c10"]["throughput"];
  EXPECT_LE(t["lower_value"].get<double>(), t["value"].get<double>());
  EXPECT_LE(t["value"].get<double>(), t["upper_value"].get<double>());
  EXPECT_EQ(bmf.size(), 4u);
}

TEST(Export, HgrmIsHdrHistogramsPercentileDistribution) {
  TempDir dir;
  RunResult r = run_muxbench(
      {"export", fixture("results.json"), "--format", "hgrm", "--out", dir.path()});
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  // Only epoll's repetitions carry a latency histogram.
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    files.push_back(e.path().filename().string());
  }
  ASSERT_EQ(files, std::vector<std::string>{"epoll_pingpong_c10.hgrm"});
  const std::string text = slurp(dir.file("epoll_pingpong_c10.hgrm"));
  EXPECT_EQ(text, slurp(fixture("epoll_pingpong_c10.hgrm")));
  // HdrHistogram's header, then value / percentile / total count lines whose
  // counts never fall and end at the union of the 5 repetitions (5 x 100),
  // the last at percentile 1, then the #[...] footer.
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "       Value     Percentile TotalCount 1/(1-Percentile)");
  std::getline(in, line);
  EXPECT_EQ(line, "");
  long long last_count = 0;
  double last_pct = -1, pct = 0;
  int rows = 0, footer = 0;
  while (std::getline(in, line)) {
    if (line.rfind("#[", 0) == 0) {
      ++footer;
      continue;
    }
    double value = 0;
    long long count = 0;
    std::istringstream w(line);
    w >> value >> pct >> count;
    ASSERT_FALSE(w.fail()) << line;
    EXPECT_GE(count, last_count) << line;
    EXPECT_GT(pct, last_pct) << line;
    last_count = count;
    last_pct = pct;
    ++rows;
  }
  EXPECT_EQ(last_count, 500);
  EXPECT_DOUBLE_EQ(pct, 1.0);
  EXPECT_EQ(footer, 3);
  EXPECT_GT(rows, 20);
  EXPECT_NE(text.find("#[Max     =     1.003519, Total count    =          500]"), std::string::npos);
}

TEST(Export, UsageErrors) {
  EXPECT_EQ(run_muxbench({"export", fixture("results.json"), "--format", "csv"}).exit_code(), 2);
  RunResult r = run_muxbench({"export", fixture("results.json"), "--format", "hgrm"});
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_NE(r.err.find("--out: hgrm writes several files"), std::string::npos) << r.err;
  EXPECT_EQ(run_muxbench({"export", fixture("missing.json"), "--format", "bmf"}).exit_code(), 2);
}

}  // namespace
}  // namespace muxbench::test
