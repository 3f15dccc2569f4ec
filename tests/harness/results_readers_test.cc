// Every reader of results files (`show`, `compare`, `run --resume`) on bad
// input: a few hundred deterministic mutations of a valid file (types
// swapped, fields deleted, huge numbers, wrong nesting, truncated text) must
// each end in exit 0 (still valid) or 2 (one line naming the file), never in
// a signal or an uncaught exception. Plus the named cases of issue 13: a
// cell whose workload is 7, a file without `finished`, a number no double
// holds.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "harness_fixture.h"
#include "suite.h"  // json: ordered, as the harness writes it

namespace muxbench::harness {
namespace {

using test::run_muxbench;
using test::RunResult;
using test::TempDir;

const std::string kValid = test::source_dir() + "/tests/harness/fixtures/results/valid.json";

json valid_doc() {
  std::ifstream f(kValid);
  return json::parse(f);
}

// "exit 2", "signal 6", "timed out".
std::string how(const RunResult& r) {
  if (r.status < 0) return "timed out";
  if (WIFSIGNALED(r.status)) return "signal " + std::to_string(WTERMSIG(r.status));
  return "exit " + std::to_string(WEXITSTATUS(r.status));
}

std::size_t lines(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

// --- the named cases ----------------------------------------------------------------

TEST(ResultsReaders, ABadCellOrAMissingFinishedIsOneLineAndExitTwo) {
  TempDir dir;
  json d = valid_doc();
  d["cells"][1]["workload"] = 7;
  std::string seven = dir.write("seven.json", d.dump());
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"show", seven},
                                             {"compare", kValid, seven},
                                             {"compare", seven, kValid},
                                             {"run", "--resume", seven, "--dry-run"}}) {
    RunResult r = run_muxbench(args, std::chrono::seconds(30));
    EXPECT_EQ(how(r), "exit 2") << args[0] << ": " << r.err;
    EXPECT_EQ(r.err, "muxbench: " + seven +
                         ": cells[1].workload: 7 is not a string; allowed: a non-empty string\n")
        << args[0];
  }
  d = valid_doc();
  d.erase("finished");
  std::string unfinished = dir.write("no-finished.json", d.dump());
  RunResult r = run_muxbench({"show", unfinished});
  EXPECT_EQ(how(r), "exit 2") << r.err;
  EXPECT_EQ(r.err, "muxbench: " + unfinished +
                       ": finished: missing; allowed: a time, or null while running or when "
                       "interrupted\n");
  // Unreadable files are input errors too.
  r = run_muxbench({"show", dir.file("nothing-here.json")});
  EXPECT_EQ(how(r), "exit 2") << r.err;
  EXPECT_NE(r.err.find("nothing-here.json: cannot open"), std::string::npos) << r.err;
}

TEST(ResultsReaders, ANumberNoDoubleHoldsNamesTheFileAndTheField) {
  TempDir dir;
  std::string text = valid_doc().dump(1);
  const std::string from = "\"elapsed_s\": ";
  auto at = text.find(from);
  ASSERT_NE(at, std::string::npos);
  auto end = text.find_first_of(",\n", at + from.size());
  text.replace(at + from.size(), end - at - from.size(), "1e400");
  std::string path = dir.write("huge.json", text);
  RunResult r = run_muxbench({"show", path});
  EXPECT_EQ(how(r), "exit 2") << r.err;
  EXPECT_EQ(r.err.rfind("muxbench: " + path + ": cells[0].elapsed_s: 1e400 is out of range", 0), 0u)
      << r.err;
  EXPECT_EQ(lines(r.err), 1u) << r.err;
}

// --- the mutations ------------------------------------------------------------------

// Stands for a number JSON text can hold but a double cannot; replaced in the text.
const std::string kHugeMarker = "@@HUGE@@";

void pointers(const json& j, const json::json_pointer& at, std::vector<json::json_pointer>& out) {
  out.push_back(at);
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) pointers(v, at / k, out);
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) pointers(j[i], at / i, out);
  }
}

struct Mutant {
  std::string text;
  std::string what;  // the mutations, for the failure message
};

class Mutator {
 public:
  explicit Mutator(std::uint32_t seed) : rng_(seed) {}

  Mutant make(const json& base) {
    json d = base;
    Mutant m;
    int n = 1 + pick(3);
    bool truncate = false;
    for (int i = 0; i < n; ++i) {
      if (pick(12) == 0) {
        truncate = true;
        continue;
      }
      m.what += (m.what.empty() ? "" : "; ") + mutate(d);
    }
    m.text = pick(2) ? d.dump() : d.dump(1);
    const char* huge[] = {"1e400", "-1e400", "1e99999", "123456789012345678901234567890e300"};
    for (std::size_t p; (p = m.text.find("\"" + kHugeMarker + "\"")) != std::string::npos;) {
      m.text.replace(p, kHugeMarker.size() + 2, huge[pick(4)]);
    }
    if (truncate && !m.text.empty()) {
      std::size_t cut = pick(m.text.size());
      m.text.resize(cut);
      m.what += (m.what.empty() ? "" : "; ") + std::string("truncated at ") + std::to_string(cut);
    }
    return m;
  }

 private:
  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }

  // Half the time a field near the top (what the readers read), else anywhere.
  json::json_pointer target(const json& d) {
    std::vector<json::json_pointer> all;
    pointers(d, json::json_pointer(), all);
    if (pick(2) == 0) {
      std::vector<json::json_pointer> shallow;
      for (const auto& p : all) {
        const std::string text = p.to_string();
        if (std::count(text.begin(), text.end(), '/') <= 4) shallow.push_back(p);
      }
      if (!shallow.empty()) return shallow[pick(shallow.size())];
    }
    return all[pick(all.size())];
  }

  std::string mutate(json& d) {
    json::json_pointer p = target(d);
    const std::string where = p.to_string().empty() ? "(top)" : p.to_string();
    json& v = d[p];
    switch (pick(5)) {
      case 0: {  // another type
        const json others[] = {7,
                               -1,
                               0,
                               1.5,
                               "x",
                               "",
                               true,
                               false,
                               nullptr,
                               json::array(),
                               json::object(),
                               json::array({1, 2}),
                               json{{"a", 1}}};
        v = others[pick(std::size(others))];
        return where + " := " + v.dump();
      }
      case 1: {  // gone
        if (p.empty()) {
          d = json::object();
          return "(top) := {}";
        }
        json& parent = d[p.parent_pointer()];
        if (parent.is_object()) {
          parent.erase(p.back());
        } else {
          parent.erase(std::stoul(p.back()));
        }
        return "delete " + where;
      }
      case 2: {  // huge or extreme numbers
        const json numbers[] = {1e308,
                                -1e308,
                                18446744073709551615ULL,
                                9223372036854775807LL,
                                INT64_MIN,
                                4294967296LL,
                                2147483648LL,
                                1e-300,
                                -0.0};
        if (pick(3) == 0) {
          v = kHugeMarker;
          return where + " := a number beyond a double";
        }
        v = numbers[pick(std::size(numbers))];
        return where + " := " + v.dump();
      }
      case 3: {  // wrong nesting
        switch (pick(3)) {
          case 0:
            v = json::array({v});
            return "wrap " + where + " in a list";
          case 1:
            v = json{{"value", v}};
            return "wrap " + where + " in an object";
          default:
            if ((v.is_array() || v.is_object()) && !v.empty()) {
              json first = *v.begin();
              v = first;
              return "unwrap " + where;
            }
            v = json::array({v, v});
            return "pair " + where;
        }
      }
      default: {  // a value from elsewhere in the file, or a cell twice
        if (d.contains("cells") && d["cells"].is_array() && !d["cells"].empty() && pick(3) == 0) {
          json cell = d["cells"][pick(d["cells"].size())];
          d["cells"].push_back(cell);
          return "a cell twice";
        }
        json other = d[target(d)];
        v = other;
        return where + " := a value from elsewhere";
      }
    }
  }

  std::mt19937 rng_;
};

// 200 mutants, each through show, compare (one side or the other) and
// run --resume --dry-run: about 10 s on 2 cores (a minute under ASan).
TEST(ResultsReaders, MutatedFilesExitZeroOrTwoNeverOnASignal) {
  TempDir dir;
  const json base = valid_doc();
  Mutator mutator(20261213);
  int valid = 0, refused = 0;
  for (int i = 0; i < 200; ++i) {
    Mutant m = mutator.make(base);
    const std::string path = dir.write("m" + std::to_string(i) + ".json", m.text);
    const std::string label = "mutant " + std::to_string(i) + " (" + m.what + ")";
    RunResult show = run_muxbench({"show", "--cells", path}, std::chrono::seconds(30));
    ASSERT_TRUE(how(show) == "exit 0" || how(show) == "exit 2")
        << label << ": show: " << how(show) << "\n"
        << show.err;
    if (how(show) == "exit 2") {
      ++refused;
      EXPECT_EQ(show.err.rfind("muxbench: " + path + ": ", 0), 0u) << label << ": " << show.err;
      EXPECT_EQ(lines(show.err), 1u) << label << ": " << show.err;
    } else {
      ++valid;
    }
    // compare: 1 is a regression (a mutated metric), 2 bad input or environments.
    std::vector<std::string> cmp = {"compare", kValid, path};
    if (i % 2) std::swap(cmp[1], cmp[2]);
    RunResult c = run_muxbench(cmp, std::chrono::seconds(30));
    ASSERT_TRUE(how(c) == "exit 0" || how(c) == "exit 1" || how(c) == "exit 2")
        << label << ": compare: " << how(c) << "\n"
        << c.err;
    if (how(show) == "exit 2") {
      EXPECT_EQ(how(c), "exit 2") << label << ": compare accepted it";
    }
    RunResult resume =
        run_muxbench({"run", "--resume", path, "--dry-run"}, std::chrono::seconds(30));
    ASSERT_TRUE(how(resume) == "exit 0" || how(resume) == "exit 2")
        << label << ": run --resume: " << how(resume) << "\n"
        << resume.err;
    if (how(resume) == "exit 2") {
      EXPECT_NE(resume.err.find(path), std::string::npos) << label << ": " << resume.err;
      EXPECT_EQ(lines(resume.err), 1u) << label << ": " << resume.err;
    }
  }
  // The mutations reach both sides of the validation.
  EXPECT_GT(valid, 20);
  EXPECT_GT(refused, 80);
}

}  // namespace
}  // namespace muxbench::harness
