// muxbench list: what can be run.
#include <cstdio>

#include "catalog.h"
#include "commands.h"
#include "suite.h"

namespace muxbench::harness {

CommandMain setup_list(CLI::App& sub) {
  struct Opts {
    std::string bin_dir;
    bool as_json = false;
  };
  auto o = std::make_shared<Opts>();
  sub.add_option("--bin-dir", o->bin_dir, "Directory of muxbench-server (default: next to muxbench)");
  sub.add_flag("--json", o->as_json, "Print JSON");
  return [o]() -> int {
    std::string bin = o->bin_dir.empty() ? default_bin_dir() : o->bin_dir;
    std::string err;
    auto strategies = load_strategies(bin + "/muxbench-server", &err);
    if (!strategies) {
      error(err);
      return kExitError;
    }
    json suites = json::array();
    for (const auto& [name, text] : builtin_suites()) {
      json s = {{"name", name}, {"description", ""}};
      try {
        json j = json::parse(text);
        s["description"] = j.value("description", "");
        Suite parsed = parse_suite(j, *strategies, name);
        auto cells = plan_cells(parsed, *strategies, 0);
        int run = 0;
        double est = 0;
        for (const auto& c : cells) {
          run += !c.skip_reason;
          est += estimate_cell_seconds(c, parsed);
        }
        s["cells"] = cells.size();
        s["cells_to_run"] = run;
        s["estimated_s"] = static_cast<long>(est);
      } catch (const std::exception& e) {
        s["error"] = e.what();
      }
      suites.push_back(s);
    }
    if (o->as_json) {
      json j;
      j["strategies"] = json::array();
      for (const auto& s : *strategies) {
        j["strategies"].push_back({{"name", s.name},
                                   {"family", s.family},
                                   {"summary", s.summary},
                                   {"default_threads", s.default_threads},
                                   {"takes_threads", s.takes_threads}});
      }
      j["families"] = json::array();
      for (const auto& fam : family_names(*strategies)) {
        json lib = nullptr;
        for (const auto& s : *strategies) {
          if (s.family == fam && !s.library.empty()) lib = s.library;
        }
        j["families"].push_back({{"name", fam}, {"library", lib}});
      }
      j["workloads"] = json::array();
      for (const auto& w : workloads()) {
        j["workloads"].push_back({{"name", w.name},
                                  {"summary", w.summary},
                                  {"message_size_bytes", w.message_size_bytes},
                                  {"active", w.active == 0 ? json("all") : json(w.active)},
                                  {"rate_per_s", w.rate_per_s > 0 ? json(w.rate_per_s) : json(nullptr)},
                                  {"reconnect", w.reconnect},
                                  {"open_loop", w.rate_per_s > 0}});
      }
      j["suites"] = suites;
      std::printf("%s\n", j.dump(2).c_str());
      return kExitOk;
    }
    std::printf("Strategies (%s/muxbench-server --list-json):\n", bin.c_str());
    for (const auto& s : *strategies) {
      std::printf("  %-18s %-11s %s\n", s.name.c_str(), s.family.c_str(), s.summary.c_str());
    }
    std::printf("\nWorkloads:\n");
    for (const auto& w : workloads()) std::printf("  %-18s %s\n", w.name, w.summary);
    std::printf("\nSuites (built in; `muxbench run --suite NAME`, or a JSON file):\n");
    for (const auto& s : suites) {
      std::printf("  %-18s %s\n", s["name"].get<std::string>().c_str(),
                  s["description"].get<std::string>().c_str());
      if (s.contains("error")) {
        std::printf("  %-18s INVALID: %s\n", "", s["error"].get<std::string>().c_str());
      } else {
        std::printf("  %-18s %d cells with these strategies, %d to run, about %ld s\n", "",
                    s["cells"].get<int>(), s["cells_to_run"].get<int>(),
                    s["estimated_s"].get<long>());
      }
    }
    return kExitOk;
  };
}

}  // namespace muxbench::harness
