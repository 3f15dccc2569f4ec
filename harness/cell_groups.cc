#include "cell_groups.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "report.h"

namespace muxbench::harness {

std::vector<CellGroup> measured_groups(const json& doc) {
  std::vector<CellGroup> out;
  std::map<std::string, std::size_t> index;
  const bool ab = doc.contains("ab");
  for (const auto& c : doc["cells"]) {
    if (ab && c.value("side", "") != "new") continue;
    if (!is_measured(c)) continue;
    std::string name = series_name(c) + "/" + c["workload"].get<std::string>() + "/c" +
                       std::to_string(c["connections"].get<long>());
    auto [it, fresh] = index.emplace(name, out.size());
    if (fresh) out.push_back({name, {}});
    out[it->second].cells.push_back(&c);
  }
  return out;
}

std::optional<FieldSummary> summarize_field(const CellGroup& g, const std::string& field) {
  std::vector<double> v;
  for (const json* c : g.cells) {
    const json& ms = (*c)["metrics"];
    if (ms.is_object() && ms.contains(field) && ms[field].is_number()) {
      const double x = ms[field].get<double>();
      if (std::isfinite(x)) v.push_back(x);
    }
  }
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return FieldSummary{n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v.front(), v.back(), n};
}

}  // namespace muxbench::harness
