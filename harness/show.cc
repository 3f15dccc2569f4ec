// muxbench show: a results file as summary tables. A file that is not a
// valid results file is one line naming it and the field, and exit 2.
#include <cstdio>

#include "cell.h"
#include "commands.h"
#include "report.h"
#include "results.h"

namespace muxbench::harness {

CommandMain setup_show(CLI::App& sub) {
  struct Opts {
    std::string file;
    std::string metric = "requests";
    bool cells = false;
  };
  auto o = std::make_shared<Opts>();
  sub.add_option("file", o->file, "A results file written by `muxbench run`")->required();
  sub.add_option("--metric", o->metric,
                 std::string("What the tables show: ") + kTableMetricNames + " (default requests)");
  sub.add_flag("--cells", o->cells, "Also list every cell with its headline");
  return [o]() -> int {
    TableMetric metric;
    if (!parse_table_metric(o->metric, &metric)) {
      error("--metric: '" + o->metric + "' is not a table; allowed: " + kTableMetricNames);
      return kExitUsage;
    }
    json doc;
    try {
      doc = ResultsFile::load(o->file);
    } catch (const SuiteError& e) {  // unreadable or malformed: one line, file and field
      error(e.what());
      return kExitUsage;
    }
    std::printf("%s", document_header(doc, o->file).c_str());
    if (doc.contains("ab")) {  // an A/B file: each side's tables
      for (const char* side : {"base", "new"}) {
        json one = doc;
        one["cells"] = json::array();
        for (const auto& c : doc["cells"]) {
          if (c.value("side", "") == side) one["cells"].push_back(c);
        }
        std::printf("\n== %s: %s\n", side, doc["ab"][side].value("bin_dir", "?").c_str());
        std::printf("%s", summary_tables(one, metric).c_str());
      }
    } else {
      std::printf("%s", summary_tables(doc, metric).c_str());
    }
    if (o->cells) {
      std::printf("\ncells:\n");
      for (const auto& c : doc["cells"]) {
        std::printf("  %-36s %s\n", c.value("id", "?").c_str(), headline(c).c_str());
      }
    }
    return kExitOk;
  };
}

}  // namespace muxbench::harness
