// The repetitions of each cell of a results file taken together, as
// `export` and `trend` read them: one group per strategy[/tT]/workload/c<N>,
// measured repetitions only (ok, rate_not_met), and of an A/B file the new
// side (the build under test).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "suite.h"

namespace muxbench::harness {

struct CellGroup {
  std::string name;  // strategy[/tT]/workload/c<N>
  std::vector<const json*> cells;
};

// In file order of first appearance.
std::vector<CellGroup> measured_groups(const json& doc);

struct FieldSummary {
  double median = 0, min = 0, max = 0;
  std::size_t n = 0;
};

// The repetitions' values of metrics.<field>; none when no repetition has one.
std::optional<FieldSummary> summarize_field(const CellGroup& g, const std::string& field);

}  // namespace muxbench::harness
