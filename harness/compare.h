// muxbench compare: two results files in, one verdict per cell and metric
// out, and an exit status a CI job can gate on (docs/ci.md).
//
// Cells are matched by (strategy, workload, connections, active, params
// without server_args): the id without its repetition, plus everything that
// shapes the load. server_args are recorded but not matched, so that a run
// with an injected server delay still lines up with a plain one. A metric of
// a matched cell is
//   regressed    its median moved in the bad direction by more than the
//                threshold AND a Mann-Whitney U test over the repetitions
//                says the move is significant at alpha;
//   improved     the same in the good direction;
//   unchanged    the medians are within the threshold;
//   inconclusive beyond the threshold but not significant (or not
//                measurable on one side).
// With too few repetitions for the test to ever reach alpha (one a side, or
// 2 vs 2 one-sided at 0.05) the threshold alone decides, and the row says so.
// A cell that fails in new but not in base is a regression too.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

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

struct CompareOptions {
  std::vector<const CompareMetric*> metrics;
  double threshold_pct = 5;                           // for metrics not listed below
  std::map<std::string, double> threshold_by_metric;  // metric name -> %
  double alpha = 0.05;
  bool two_sided = false;  // else one-sided, in the direction each verdict claims
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
// Throws CompareInputError when no cell matches at all.
json compare_results(const json& base_doc, const json& new_doc, const CompareOptions& o,
                     const std::string& base_path, const std::string& new_path,
                     const std::vector<EnvDifference>& env_diffs, bool env_mismatch_allowed);

// The terminal rendering of that document; `colour`: ANSI colours.
std::string compare_text(const json& report, bool colour);

}  // namespace muxbench::harness
