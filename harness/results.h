// The results file: one JSON document per run (docs/results.md), rewritten
// atomically after every cell (temp file, fsync, rename), so an interrupted
// run leaves a valid file holding every finished cell, and `--resume`
// continues it.
#pragma once

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "suite.h"

namespace muxbench::harness {

inline constexpr int kResultsSchemaVersion = 1;

class ResultsFile {
 public:
  ResultsFile(std::string path, json doc);

  // A new document: no cells, finished null.
  static json new_document(const json& environment, const json& suite,
                           const std::vector<std::string>& argv);
  // Reads and checks an existing file: what every reader (show, compare,
  // run --resume) relies on, the rules in docs/results.md ("Reading results
  // files"). Throws SuiteError, one line naming the file and the field:
  //   r.json: cells[3].workload: 7 is not a string; allowed: a workload name
  static json load(const std::string& path);
  // The same checks on a parsed document; errors name the field, not the file.
  static void check(const json& doc);

  const json& doc() const { return doc_; }
  const std::string& path() const { return path_; }
  bool has_cell(const std::string& id) const { return ids_.count(id) != 0; }
  std::size_t cell_count() const { return ids_.size(); }

  void add_cell(json cell);        // and writes
  // Appends {at, host, git_commit, cells_before} to "resumed", and writes.
  void note_resumed(const json& environment);
  void set_finished();             // sets "finished", and writes
  void write();                    // throws std::runtime_error on I/O errors

 private:
  std::string path_;
  json doc_;
  std::set<std::string> ids_;
};

// results/<date>-<host>-<suite>.json, relative to the current directory;
// never an existing file.
std::string default_results_path(const std::string& suite_name);

}  // namespace muxbench::harness
