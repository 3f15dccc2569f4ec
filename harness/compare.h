// muxbench compare: two results files (or one A/B file, `muxbench ab`) in,
// one verdict per cell and metric out, and an exit status a CI job can gate
// on (docs/ci.md).
//
// Cells are matched by (strategy, workload, connections, active, params
// without server_args): the id without its repetition, plus everything that
// shapes the load. server_args are recorded but not matched, so that a run
// with an injected server delay still lines up with a plain one. In an A/B
// file the two sides of a cell are matched the same way, and its
// repetitions are paired by number (run back to back, ABBA).
//
// Each metric row has an effect, the ratio new/base (paired: the median of
// the per-repetition ratios; two files: of the medians) with a 95%
// confidence interval, and a one-sided rank test (two files: Mann-Whitney U
// over the repetitions; paired: Wilcoxon signed-rank over the log ratios).
// Every tested row is one test of a family, and Holm's adjustment over the
// family bounds the chance of any false regression in the whole report by
// alpha (signed_rank.h). A metric is
//   regressed    its ratio is beyond the threshold in the bad direction AND
//                the adjusted p of "new is worse" is <= alpha;
//   improved     the same in the good direction;
//   unchanged    the ratio is within the threshold;
//   inconclusive beyond the threshold but not significant (or not
//                measurable on one side).
// With too few repetitions for the test to ever reach alpha (one a side, or
// 2 vs 2 one-sided at 0.05) the threshold alone decides, the row says so,
// and it is not part of the family.
// A cell that fails in new but not in base is a regression too.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "suite.h"

namespace muxbench::harness {

// A metric compare knows about.
struct CompareMetric {
  const char* name;       // on the command line: "throughput"
  const char* field;      // in a cell's `metrics`: "requests_per_s"
  bool higher_is_better;  // the direction of an improvement
  const char* unit;       // how values print: rate, bytes_rate, ns, us, bytes, count
  const char* meaning;    // one line for --help and docs
};

// Every metric, in the order --help lists them.
const std::vector<CompareMetric>& compare_metrics();
// By name or by field ("p99" or "p99_ns"); null when unknown.
const CompareMetric* find_compare_metric(const std::string& name);
inline constexpr const char* kDefaultCompareMetrics = "throughput,p50,p99,cpu_per_request";
// --alpha's defaults. Paired (one A/B file): 0.01, chosen by the
// calibration in docs/ci.md (with the ci suite's 20 pairs it keeps A/A false
// alarms near 1 in 100 runs and still finds a 10 % slowdown). Two files
// (unpaired, a handful of repetitions): 0.05, not calibrated.
inline constexpr double kDefaultAlphaPaired = 0.01;
inline constexpr double kDefaultAlphaTwoFiles = 0.05;

struct CompareOptions {
  std::vector<const CompareMetric*> metrics;
  double threshold_pct = 5;                           // for metrics not listed below
  std::map<std::string, double> threshold_by_metric;  // metric name -> %
  double alpha = 0.05;
  bool two_sided = false;  // else one-sided, in the direction each verdict claims
  bool adjust = true;      // Holm's adjustment over every tested row (else raw p-values)
  bool paired = false;     // one A/B file: repetitions paired (signed-rank), else two files
  double threshold_for(const CompareMetric& m) const;
};

// Bad input: unreadable, not a results file, a cell without what matching
// needs. what() is one line naming the file.
class CompareInputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses --metric ("throughput,p99"); throws CompareInputError naming the
// unknown name and the allowed ones.
std::vector<const CompareMetric*> parse_compare_metrics(const std::string& list);
// Parses --threshold: "5%", "5", or per metric "5%,p99=15%,cpu_per_request=10".
void parse_thresholds(const std::string& text, CompareOptions* o);

// Loads a results file and checks every cell has what compare needs.
json load_for_compare(const std::string& path);

// True for a file written by `muxbench ab` (both sides, cells with `side`).
bool is_ab_file(const json& doc);

// One difference between the two files' environments. Material ones (CPU
// model, CPU count, kernel release, build type, sanitizer, CPU placement)
// make numbers incomparable; the rest are shown for information.
struct EnvDifference {
  std::string key;
  json base;
  json next;
  bool material = false;
};
std::vector<EnvDifference> environment_differences(const json& base_doc, const json& new_doc);

// The comparison, as the document `--json` writes (docs/ci.md describes it).
// With o.paired, base_doc is an A/B file and new_doc is ignored (pass it
// again). Throws CompareInputError when no cell matches at all.
json compare_results(const json& base_doc, const json& new_doc, const CompareOptions& o,
                     const std::string& base_path, const std::string& new_path,
                     const std::vector<EnvDifference>& env_diffs, bool env_mismatch_allowed);

// The terminal rendering of that document; `colour`: ANSI colours.
std::string compare_text(const json& report, bool colour);

// The command line of `muxbench compare` (and of the comparison `muxbench
// ab` ends with): the files and the options, as given.
struct CompareFlags {
  std::string base, next;  // next empty: base is an A/B file
  std::string metrics = kDefaultCompareMetrics;
  std::string threshold = "5%";
  std::optional<double> alpha;  // unset: kDefaultAlphaPaired or kDefaultAlphaTwoFiles
  bool two_sided = false;
  std::string adjust = "holm";
  std::string json_out;
  bool allow_env_mismatch = false;
};

// Registers --metric, --threshold, --alpha, --two-sided, --adjust, --json,
// --allow-env-mismatch.
void add_compare_flags(CLI::App& sub, CompareFlags& f);

// Compares, prints the table (and --json), returns the exit status: 0 no
// regression, 1 a regression, 2 usage or input error.
int compare_main(const CompareFlags& f);

}  // namespace muxbench::harness
