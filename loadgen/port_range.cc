#include "port_range.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <vector>

namespace muxbench::loadgen {
namespace {

std::string shown(std::string_view text) {
  std::string s;
  for (char c : text.substr(0, 40)) s += (c == '\n' || c == '\t') ? ' ' : c;
  while (!s.empty() && s.back() == ' ') s.pop_back();
  if (text.size() > 40) s += "...";
  return s;
}

std::string fallback(std::string_view text, const std::string& why) {
  return "net.ipv4.ip_local_port_range '" + shown(text) + "' " + why +
         "; assuming the kernel's default " + std::to_string(kDefaultPortLo) + "-" +
         std::to_string(kDefaultPortHi);
}

bool blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

PortRange parse_port_range(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && blank(text[i])) ++i;
    const std::size_t start = i;
    while (i < text.size() && !blank(text[i])) ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  PortRange r;
  if (fields.empty()) {
    r.problem = fallback(text, "is empty");
    return r;
  }
  if (fields.size() != 2) {
    r.problem = fallback(text, "is not two port numbers");
    return r;
  }
  long v[2] = {0, 0};
  for (int k = 0; k < 2; ++k) {
    const std::string_view f = fields[static_cast<std::size_t>(k)];
    auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), v[k]);
    if (ec != std::errc() || end != f.data() + f.size()) {
      r.problem = fallback(text, "is not two port numbers");
      return r;
    }
    if (v[k] < 1 || v[k] > 65535) {
      r.problem = fallback(text, "has a port outside 1..65535");
      return r;
    }
  }
  r.lo = static_cast<int>(std::min(v[0], v[1]));
  r.hi = static_cast<int>(std::max(v[0], v[1]));
  if (v[0] > v[1]) {
    r.problem = "net.ipv4.ip_local_port_range '" + shown(text) + "' is reversed; using " +
                std::to_string(r.lo) + "-" + std::to_string(r.hi);
  }
  return r;
}

PortRange read_port_range(const std::string& path) {
  std::ifstream f(path);
  if (!f) {
    PortRange r;
    r.problem = "cannot read " + path + "; assuming the kernel's default " +
                std::to_string(kDefaultPortLo) + "-" + std::to_string(kDefaultPortHi);
    return r;
  }
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse_port_range(ss.str());
}

int source_addresses_needed(int connections, int ports, bool reconnect) {
  ports = std::max(ports, 1);
  connections = std::max(connections, 0);
  // Each address is kept at most half full; a one-port range holds one
  // connection per address.
  const long per_address = std::max(ports / 2, 1);
  long want = reconnect ? 64 : 1;
  if (static_cast<long>(connections) * 4 > static_cast<long>(ports) * 3) {
    want = std::max(want, (connections + per_address - 1) / per_address);
  }
  return static_cast<int>(std::min<long>(want, kMaxSourceAddresses));
}

}  // namespace muxbench::loadgen
