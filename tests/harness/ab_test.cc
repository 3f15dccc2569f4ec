// muxbench ab end to end (label `slow`): a tiny suite run with two builds
// into one file. Both sides are recorded, in ABBA order; a side whose
// server crashes fails only its own cells; an injected delay on the new
// side alone is a regression of the paired comparison; an interrupted file
// is continued with the builds it records.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "harness_fixture.h"

namespace muxbench::test {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> tiny_ab(const std::string& base_bin, const std::string& new_bin,
                                 const std::string& out, const std::string& repeat) {
  return {"ab",         "--base-bin",   base_bin, "--new-bin",  new_bin,  "--suite",
          "smoke",      "--strategies", "epoll",  "--workloads", "pingpong", "--connections",
          "4",          "--repeat",     repeat,   "--duration", "0.3",    "--warmup",
          "0.1",        "--out",        out,      "--allow-debug-build"};
}

// A build directory whose server crashes after two lines (the real server,
// --crash-after 2) and whose load generator is the real one.
std::string crashing_build(const TempDir& dir) {
  const std::string b = dir.file("crashing");
  std::filesystem::create_directory(b);
  const std::string server = bin_dir() + "/muxbench-server";
  std::ofstream(b + "/muxbench-server")
      << "#!/bin/sh\ncase \" $* \" in *\" --list\"*) exec '" << server << "' \"$@\" ;; esac\n"
      << "exec '" << server << "' \"$@\" --crash-after 2\n";
  ::chmod((b + "/muxbench-server").c_str(), 0755);
  std::filesystem::create_symlink(bin_dir() + "/muxbench-loadgen", b + "/muxbench-loadgen");
  return b;
}

TEST(AbRun, BothSidesInAbbaOrderAndAFailedSideFailsOnlyItsCells) {
  TempDir dir;
  const std::string out = dir.file("ab.json");
  RunResult r = run_muxbench(tiny_ab(crashing_build(dir), bin_dir(), out, "2"), 120s);
  // Base fails in every cell, new never: an improvement, not a regression.
  EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
  json doc = read_json(out);
  EXPECT_EQ(schema_errors(out), "");
  EXPECT_EQ(survivors(doc), "");
  ASSERT_EQ(doc["cells"].size(), 4u);
  const std::vector<std::string> ids = recorded_ids(doc);
  EXPECT_EQ(ids, (std::vector<std::string>{"epoll/pingpong/c4/r0/base", "epoll/pingpong/c4/r0/new",
                                           "epoll/pingpong/c4/r1/new", "epoll/pingpong/c4/r1/base"}));
  for (const auto& c : doc["cells"]) {
    SCOPED_TRACE(c["id"].get<std::string>());
    if (c["side"] == "base") {
      EXPECT_EQ(c["status"], "failed") << c["reason"];
      EXPECT_NE(c["server"]["agent_argv"].dump().find("/crashing/muxbench-server"), std::string::npos);
    } else {
      EXPECT_EQ(c["side"], "new");
      EXPECT_EQ(c["status"], "ok") << c["reason"];
    }
  }
  EXPECT_EQ(doc["ab"]["order"], "ABBA");
  EXPECT_EQ(doc["ab"]["new"]["bin_dir"], bin_dir());
  EXPECT_NE(r.out.find("failed in base in 2 of 2 repetitions, never in new"), std::string::npos)
      << r.out;
  // The file compares on its own, paired; `show` prints each side.
  RunResult c = run_muxbench({"compare", out, "--json", dir.file("c.json")});
  EXPECT_EQ(c.exit_code(), 0) << c.out << c.err;
  EXPECT_EQ(read_json(dir.file("c.json"))["mode"], "paired");
  RunResult show = run_muxbench({"show", out});
  EXPECT_EQ(show.exit_code(), 0) << show.err;
  EXPECT_NE(show.out.find("== base: "), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("== new: "), std::string::npos);
}

TEST(AbRun, ADelayOnTheNewSideIsAPairedRegression) {
  TempDir dir;
  const std::string out = dir.file("ab.json");
  std::vector<std::string> args = tiny_ab(bin_dir(), bin_dir(), out, "5");
  // 200 µs per reply against a loopback round trip of tens of µs: far more
  // than the 5 % threshold. Five pairs all one way: p = 1/32 for the one
  // test, which alpha 0.05 accepts (the A/B default, 0.01, needs more pairs).
  args.insert(args.end(), {"--new-server-arg=--delay-us=200", "--metric", "throughput",
                           "--alpha", "0.05", "--json", dir.file("c.json")});
  RunResult r = run_muxbench(args, 180s);
  EXPECT_EQ(r.exit_code(), 1) << r.out << r.err;
  json doc = read_json(out);
  for (const auto& c : doc["cells"]) {
    EXPECT_EQ(c["params"]["server_args"],
              c["side"] == "new" ? json::array({"--delay-us=200"}) : json::array())
        << c["id"];
  }
  json rep = read_json(dir.file("c.json"));
  ASSERT_EQ(rep["cells"].size(), 1u) << rep.dump(1);
  const json& row = rep["cells"][0];
  EXPECT_EQ(row["verdict"], "regressed");
  EXPECT_EQ(row["test"], "wilcoxon signed-rank exact");
  EXPECT_EQ(row["pairs"], 5);
  EXPECT_NEAR(row["p_value"].get<double>(), 1.0 / 32, 1e-12);
  EXPECT_LT(row["ratio"].get<double>(), 0.5);
  EXPECT_LT(row["ratio_ci"][1].get<double>(), 0.95);
  EXPECT_NE(r.out.find("result: REGRESSION (exit 1)"), std::string::npos) << r.out;
  EXPECT_EQ(rep["alpha"], 0.05);

  // Without --alpha an A/B file is judged at 0.01, which 5 pairs cannot
  // reach (p >= 1/32): the row says so, and the threshold alone decides.
  RunResult d = run_muxbench({"compare", out, "--metric", "throughput", "--json", dir.file("d.json")});
  EXPECT_EQ(d.exit_code(), 1) << d.out << d.err;
  json def = read_json(dir.file("d.json"));
  EXPECT_EQ(def["alpha"], 0.01);  // docs/ci.md: the A/B default
  EXPECT_EQ(def["cells"][0]["test"], "threshold only") << def.dump(1);
  EXPECT_EQ(def["cells"][0]["verdict"], "regressed");
}

// A build directory holding copies of this build's binaries: its own
// modification times, which the test can change without touching the build.
std::string copied_build(const TempDir& dir) {
  const std::string b = dir.file("copied");
  std::filesystem::create_directory(b);
  for (const char* name : {"muxbench-server", "muxbench-loadgen"}) {
    std::filesystem::copy_file(bin_dir() + "/" + name, b + "/" + name);
  }
  return b;
}

// An interrupted A/B file is continued by `ab --resume` with the builds,
// side-only flags and suite it records, to the same cells in ABBA order; a
// plain run's --resume, other builds, another suite and a rebuilt binary are
// refused with one line.
TEST(AbRun, InterruptedAbResumesWithTheRecordedBuilds) {
  TempDir dir;
  const std::string out = dir.file("ab.json");
  const std::string build = copied_build(dir);
  std::vector<std::string> argv = tiny_ab(build, build, out, "3");
  argv.insert(argv.begin(), bin_dir() + "/muxbench");
  argv.push_back("--new-server-arg=--delay-us=1");
  {
    Process p(argv);
    ASSERT_TRUE(wait_for_cells(out, 2, 60s)) << "no cell recorded in time";
    std::this_thread::sleep_for(200ms);
    p.signal(SIGINT);
    int st = p.wait(20s);
    ASSERT_NE(st, -1) << "muxbench ab did not stop on SIGINT";
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 130) << p.stderr_text();
    EXPECT_NE(p.stderr_text().find("muxbench ab --resume " + out), std::string::npos)
        << p.stderr_text();
  }
  const json partial = read_json(out);
  EXPECT_EQ(schema_errors(out), "");
  EXPECT_TRUE(partial["finished"].is_null());
  const std::size_t before = partial["cells"].size();
  ASSERT_GE(before, 2u);
  ASSERT_LT(before, 6u);
  EXPECT_TRUE(partial["ab"]["new"]["mtime_ns"]["server"].is_number_integer())
      << partial["ab"].dump();

  const std::vector<std::pair<std::vector<std::string>, std::string>> refused = {
      {{"run", "--resume", out, "--allow-debug-build"}, "muxbench ab --resume " + out},
      {{"ab", "--resume", out, "--new-bin", bin_dir(), "--allow-debug-build"},
       "--new-bin " + bin_dir() + ": the file was started with " + build},
      {{"ab", "--resume", out, "--new-server-arg=--delay-us=2", "--allow-debug-build"},
       "--new-server-arg: the file was started with [\"--delay-us=1\"]"},
      {{"ab", "--resume", out, "--repeat", "4", "--allow-debug-build"},
       "repeat: 3 in the results file, 4 now"},
      {{"ab", "--new-bin", build, "--allow-debug-build"}, "--base-bin is required"},
  };
  for (const auto& [args, message] : refused) {
    RunResult r = run_muxbench(args);
    EXPECT_EQ(r.exit_code(), 2) << r.out << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  }
  // A rebuilt binary (a newer modification time) cannot continue the file.
  const std::string loadgen = build + "/muxbench-loadgen";
  const auto built = std::filesystem::last_write_time(loadgen);
  std::filesystem::last_write_time(loadgen, built + 1s);
  RunResult rebuilt = run_muxbench({"ab", "--resume", out, "--allow-debug-build"});
  EXPECT_EQ(rebuilt.exit_code(), 2) << rebuilt.out << rebuilt.err;
  EXPECT_NE(rebuilt.err.find("muxbench-loadgen in " + build + " was rebuilt"), std::string::npos)
      << rebuilt.err;
  std::filesystem::last_write_time(loadgen, built);
  EXPECT_EQ(read_json(out), partial) << "a refused resume changed the file";

  // Compared once all ran: with three pairs the verdict (threshold only) on
  // these 0.3 s cells is noise, so 0 and 1 are both fine here.
  RunResult r = run_muxbench({"ab", "--resume", out, "--allow-debug-build"}, 120s);
  ASSERT_TRUE(r.exit_code() == 0 || r.exit_code() == 1) << r.out << r.err;
  EXPECT_NE(r.out.find("result: "), std::string::npos) << r.out;
  const json done = read_json(out);
  EXPECT_EQ(schema_errors(out), "");
  EXPECT_TRUE(done["finished"].is_string());
  EXPECT_EQ(done["resumed"].size(), 1u);
  EXPECT_EQ(recorded_ids(done),
            (std::vector<std::string>{"epoll/pingpong/c4/r0/base", "epoll/pingpong/c4/r0/new",
                                      "epoll/pingpong/c4/r1/new", "epoll/pingpong/c4/r1/base",
                                      "epoll/pingpong/c4/r2/base", "epoll/pingpong/c4/r2/new"}));
  for (std::size_t i = 0; i < before; ++i) {
    EXPECT_EQ(done["cells"][i], partial["cells"][i]) << "a recorded cell changed on resume";
  }
  for (const auto& c : done["cells"]) {
    EXPECT_EQ(c["status"], "ok") << c["id"] << ": " << c["reason"];
    EXPECT_EQ(c["params"]["server_args"],
              c["side"] == "new" ? json::array({"--delay-us=1"}) : json::array())
        << c["id"];
  }
  EXPECT_EQ(survivors(done), "");
}

// scripts/compare-calibrate.sh --ab end to end on a tiny suite: every run
// happens, and the table names each kind of comparison with its count (what
// the gate decided on these 0.2 s cells is not checked: that is noise).
TEST(AbRun, CalibrationScriptPlumbing) {
  TempDir dir;
  const std::string suite = dir.write("tiny.json", R"J({"name": "tiny", "strategies": ["epoll"],
      "workloads": ["pingpong"], "connections": [2], "duration_s": 0.2, "warmup_s": 0.05,
      "repeat": 2, "pause_s": 0.05})J");
  const std::string cmd = "'" + source_dir() + "/scripts/compare-calibrate.sh' --ab --bin '" +
                          bin_dir() + "' --aa 2 --detect 1 --delays 200 --suite '" + suite +
                          "' --allow-debug-build --out '" + dir.file("runs") + "' --table '" +
                          dir.file("table.md") + "' > '" + dir.file("log") + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream log(dir.file("log"));
  std::string log_text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  ASSERT_EQ(rc, 0) << log_text;
  std::ifstream f(dir.file("table.md"));
  std::string table((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(table.find("| A/A (same build) | 2 | "), std::string::npos) << table;
  EXPECT_NE(table.find("| --delay-us 200 on new | 1 | "), std::string::npos) << table;
  for (const char* run : {"aa-1.json", "aa-2.json", "delay-200-1.json"}) {
    EXPECT_TRUE(std::filesystem::exists(dir.file("runs/") + run)) << run;
  }
  // --table-only tabulates what is there, up to the counts asked, running nothing.
  const std::string again = "'" + source_dir() + "/scripts/compare-calibrate.sh' --ab --bin '" +
                            bin_dir() + "' --aa 1 --detect 3 --delays 200,300 --table-only --out '" +
                            dir.file("runs") + "' --table '" + dir.file("only.md") + "' > '" +
                            dir.file("log2") + "' 2>&1";
  ASSERT_EQ(std::system(again.c_str()), 0);
  std::ifstream f2(dir.file("only.md"));
  std::string only((std::istreambuf_iterator<char>(f2)), std::istreambuf_iterator<char>());
  EXPECT_NE(only.find("| A/A (same build) | 1 | "), std::string::npos) << only;
  EXPECT_NE(only.find("| --delay-us 200 on new | 1 | "), std::string::npos) << only;
  EXPECT_EQ(only.find("--delay-us 300"), std::string::npos) << only;
  EXPECT_FALSE(std::filesystem::exists(dir.file("runs/delay-300-1.json")));
  json delayed = read_json(dir.file("runs/delay-200-1.json"));
  EXPECT_EQ(delayed["ab"]["new"]["server_args"], json::array({"--delay-us=200"}));
  EXPECT_EQ(delayed["ab"]["base"]["server_args"], json::array());
}

}  // namespace
}  // namespace muxbench::test
