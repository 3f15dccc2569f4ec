#include "json_check.h"

#include <algorithm>
#include <cmath>

namespace muxbench::harness::check {

std::string show(const json& v) {
  std::string s = v.is_string() ? "'" + v.get<std::string>() + "'" : v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

[[noreturn]] void fail(const std::string& path, const json& v, const std::string& why) {
  throw SuiteError(path + ": " + show(v) + " " + why);
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) {
    if (!s.empty()) s += sep;
    s += x;
  }
  return s;
}

void check_keys(const json& obj, const std::string& path, const std::vector<std::string>& allowed) {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      throw SuiteError(path + "." + key + ": unknown key; allowed keys: " + join(allowed));
    }
  }
}

void require_object(const json& v, const std::string& path, const std::string& allowed) {
  if (!v.is_object()) fail(path, v, "is not an object; allowed: " + allowed);
}

double get_number(const json& v, const std::string& path, double lo, double hi,
                  const std::string& allowed) {
  if (!v.is_number()) fail(path, v, "is not a number; allowed: " + allowed);
  double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) fail(path, v, "is out of range; allowed: " + allowed);
  return d;
}

int get_int(const json& v, const std::string& path, long lo, long hi, const std::string& allowed) {
  if (!v.is_number_integer()) fail(path, v, "is not an integer; allowed: " + allowed);
  long n = v.get<long>();
  if (n < lo || n > hi) fail(path, v, "is out of range; allowed: " + allowed);
  return static_cast<int>(n);
}

std::string get_string(const json& v, const std::string& path, const std::string& allowed) {
  if (!v.is_string()) fail(path, v, "is not a string; allowed: " + allowed);
  return v.get<std::string>();
}

}  // namespace muxbench::harness::check
