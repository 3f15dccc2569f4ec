#include "environment.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace muxbench::harness {
namespace {

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t\r\n");
  auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string read_first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return trim(line);
}

// A sysctl as a number when it is one, as text otherwise ("32768 60999"),
// null when absent.
json sysctl(const std::string& name) {
  std::string path = "/proc/sys/" + name;
  std::ifstream f(path);
  if (!f) return nullptr;
  std::string v = read_first_line(path);
  std::string norm;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !norm.empty()) norm += ' ';
    space = false;
    norm += c;
  }
  char* end = nullptr;
  long long n = std::strtoll(norm.c_str(), &end, 10);
  if (!norm.empty() && *end == '\0') return n;
  return norm;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return trim(line.substr(colon + 1));
    }
  }
  return "";
}

json mem_total_bytes() {
  std::ifstream f("/proc/meminfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("MemTotal:", 0) == 0) return std::atoll(line.c_str() + 9) * 1024LL;
  }
  return nullptr;
}

// Output of a short command, or "" (git may be absent, or this no checkout).
std::string command_output(const std::string& cmd) {
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return "";
  std::string out;
  std::array<char, 256> buf{};
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  int rc = ::pclose(p);
  return rc == 0 ? out : "";
}

json or_null(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

}  // namespace

bool BuildInfo::unfit_for_results() const {
  if (sanitizer != "none" && !sanitizer.empty()) return true;
  return build_type.empty() || build_type == "Debug";
}

BuildInfo build_info() { return {MUXBENCH_BUILD_TYPE, MUXBENCH_SANITIZER}; }

json collect_environment(const std::string& server_path, const std::string& loadgen_path) {
  json e;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  e["host"] = host;
  utsname u{};
  ::uname(&u);
  e["kernel"] = std::string(u.sysname) + " " + u.release + " " + u.version;
  e["cpu_model"] = cpu_model();
  e["cpu_count"] = ::sysconf(_SC_NPROCESSORS_ONLN);
#if defined(__clang__)
  e["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  e["compiler"] = std::string("GCC ") + __VERSION__;
#else
  e["compiler"] = "unknown";
#endif
  e["cxx_flags"] = trim(MUXBENCH_CXX_FLAGS);
  BuildInfo b = build_info();
  e["build_type"] = b.build_type;
  e["sanitizer"] = b.sanitizer;
  const std::string src = MUXBENCH_SOURCE_DIR;
  std::string commit = trim(command_output("git -C '" + src + "' rev-parse HEAD 2>/dev/null"));
  e["git_commit"] = or_null(commit);
  if (!commit.empty()) {
    std::string dirty = command_output("git -C '" + src +
                                       "' status --porcelain --untracked-files=no 2>/dev/null");
    e["git_dirty"] = !trim(dirty).empty();
  } else {
    e["git_dirty"] = nullptr;
  }
  e["libevent_version"] = or_null(MUXBENCH_LIBEVENT_VERSION);
  e["liburing_version"] = or_null(MUXBENCH_LIBURING_VERSION);
  e["libuv_version"] = or_null(MUXBENCH_LIBUV_VERSION);
  e["asio_version"] = or_null(MUXBENCH_ASIO_VERSION);
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  e["nofile_soft"] = static_cast<long long>(rl.rlim_cur);
  e["nofile_hard"] = static_cast<long long>(rl.rlim_max);
  e["sysctl"] = {{"somaxconn", sysctl("net/core/somaxconn")},
                 {"ip_local_port_range", sysctl("net/ipv4/ip_local_port_range")},
                 {"tcp_tw_reuse", sysctl("net/ipv4/tcp_tw_reuse")},
                 {"tcp_max_syn_backlog", sysctl("net/ipv4/tcp_max_syn_backlog")},
                 {"tcp_fin_timeout", sysctl("net/ipv4/tcp_fin_timeout")},
                 {"file_max", sysctl("fs/file-max")},
                 {"pid_max", sysctl("kernel/pid_max")}};
  e["mem_total_bytes"] = mem_total_bytes();
  e["harness_version"] = MUXBENCH_VERSION;
  e["server_path"] = server_path;
  e["loadgen_path"] = loadgen_path;
  return e;
}

json interface_for(const std::string& address) {
  json out = {{"address", address}, {"interface", nullptr}, {"mtu", nullptr},
              {"addresses", json::array()}, {"loopback", nullptr}, {"qdisc", nullptr}};
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  std::string name;
  bool loopback = false;
  auto text = [](const sockaddr* sa) -> std::string {
    char buf[INET6_ADDRSTRLEN] = {};
    const void* a = sa->sa_family == AF_INET
                        ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr)
                        : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
    return ::inet_ntop(sa->sa_family, a, buf, sizeof buf) ? buf : "";
  };
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6)) continue;
    if (text(i->ifa_addr) == address) {
      name = i->ifa_name;
      loopback = (i->ifa_flags & IFF_LOOPBACK) != 0;
    }
  }
  for (ifaddrs* i = list; i != nullptr && !name.empty(); i = i->ifa_next) {
    if (i->ifa_addr == nullptr || name != i->ifa_name) continue;
    if (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6) {
      out["addresses"].push_back(text(i->ifa_addr));
    }
  }
  ::freeifaddrs(list);
  if (name.empty()) return out;
  out["interface"] = name;
  out["loopback"] = loopback;
  std::string mtu = read_first_line("/sys/class/net/" + name + "/mtu");
  out["mtu"] = mtu.empty() ? json(nullptr) : json(std::atol(mtu.c_str()));
  std::string qdisc = trim(command_output("tc qdisc show dev '" + name + "' 2>/dev/null"));
  out["qdisc"] = or_null(qdisc);
  return out;
}

json host_info(const std::string& address) {
  json e = collect_environment("", "");
  e.erase("server_path");
  e.erase("loadgen_path");
  e["interface"] = interface_for(address);
  return e;
}

json git_info(const std::string& dir) {
  std::string commit = trim(command_output("git -C '" + dir + "' rev-parse HEAD 2>/dev/null"));
  json g = {{"git_commit", or_null(commit)}, {"git_dirty", nullptr}};
  if (!commit.empty()) {
    g["git_dirty"] = !trim(command_output("git -C '" + dir +
                                          "' status --porcelain --untracked-files=no 2>/dev/null"))
                          .empty();
  }
  return g;
}

}  // namespace muxbench::harness
