#include "results.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <fstream>

#include "cell.h"
#include "muxbench/net.h"

namespace muxbench::harness {

ResultsFile::ResultsFile(std::string path, json doc) : path_(std::move(path)), doc_(std::move(doc)) {
  for (const auto& c : doc_["cells"]) ids_.insert(c.value("id", ""));
}

json ResultsFile::new_document(const json& environment, const json& suite,
                               const std::vector<std::string>& argv) {
  json d;
  d["schema_version"] = kResultsSchemaVersion;
  d["tool"] = "muxbench";
  d["started"] = iso_now();
  d["finished"] = nullptr;
  d["command_line"] = argv;
  d["resumed"] = json::array();
  d["environment"] = environment;
  d["suite"] = suite;
  d["cells"] = json::array();
  return d;
}

json ResultsFile::load(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error(path + ": cannot open: " + errno_string(errno));
  json d;
  try {
    d = json::parse(f);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": not valid JSON: " + e.what());
  }
  if (!d.is_object() || d.value("tool", "") != "muxbench") {
    throw std::runtime_error(path + ": not a muxbench results file (no \"tool\": \"muxbench\")");
  }
  if (d.value("schema_version", 0) != kResultsSchemaVersion) {
    throw std::runtime_error(path + ": schema_version " + d.value("schema_version", json()).dump() +
                             " is not " + std::to_string(kResultsSchemaVersion));
  }
  if (!d.contains("suite") || !d["suite"].is_object() || !d.contains("cells") ||
      !d["cells"].is_array()) {
    throw std::runtime_error(path + ": has no \"suite\" object or no \"cells\" list");
  }
  return d;
}

void ResultsFile::add_cell(json cell) {
  ids_.insert(cell.value("id", ""));
  doc_["cells"].push_back(std::move(cell));
  write();
}

void ResultsFile::note_resumed(const json& environment) {
  if (!doc_.contains("resumed") || !doc_["resumed"].is_array()) doc_["resumed"] = json::array();
  doc_["resumed"].push_back({{"at", iso_now()},
                             {"host", environment.value("host", json())},
                             {"git_commit", environment.value("git_commit", json())},
                             {"cells_before", doc_["cells"].size()}});
  doc_["finished"] = nullptr;
  write();
}

void ResultsFile::set_finished() {
  doc_["finished"] = iso_now();
  write();
}

void ResultsFile::write() {
  // Stderr tails may hold any bytes: replace invalid UTF-8 rather than throw.
  std::string text = doc_.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
  std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot write " + tmp + ": " + errno_string(errno));
  bool ok = write_all(fd, text.data(), text.size()) && ::fsync(fd) == 0;
  int e = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write " + tmp + ": " + errno_string(e));
  }
  if (std::rename(tmp.c_str(), path_.c_str()) != 0) {
    e = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot rename " + tmp + " to " + path_ + ": " + errno_string(e));
  }
}

std::string default_results_path(const std::string& suite_name) {
  ::mkdir("results", 0755);
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%Y%m%d-%H%M%S", &tm);
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::string h = host;
  for (char& c : h) {
    if (c == '/' || c == ' ') c = '_';
  }
  std::string base = "results/" + std::string(date) + "-" + h + "-" + suite_name;
  std::string path = base + ".json";
  for (int i = 2; ::access(path.c_str(), F_OK) == 0; ++i) {
    path = base + "-" + std::to_string(i) + ".json";
  }
  return path;
}

}  // namespace muxbench::harness
