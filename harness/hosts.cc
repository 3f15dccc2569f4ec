#include "hosts.h"

#include <algorithm>
#include <fstream>
#include <iterator>

#include "json_check.h"
#include "muxbench/net.h"
#include "spawn.h"

namespace muxbench::harness {
namespace {

using namespace check;

const std::vector<std::string> kRoles = {"server", "loadgen"};

std::vector<std::string> string_list(const json& v, const std::string& path) {
  if (!v.is_array() || v.empty()) {
    fail(path, v, "is not a non-empty list of strings; allowed: e.g. [\"mpirun\"]");
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    out.push_back(get_string(v[i], path + "[" + std::to_string(i) + "]", "a string"));
  }
  return out;
}

// {"key": "value" | number} in file order; numbers become their text.
std::vector<std::pair<std::string, std::string>> string_map(const json& v, const std::string& path) {
  require_object(v, path, "an object of strings, e.g. {\"plm_rsh_agent\": \"ssh\"}");
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, x] : v.items()) {
    if (x.is_number_integer()) {
      out.emplace_back(k, std::to_string(x.get<long long>()));
    } else {
      out.emplace_back(k, get_string(x, path + "." + k, "a string or an integer"));
    }
  }
  return out;
}

Launcher parse_launcher(const json& v, const std::string& path) {
  require_object(v, path, "an object with keys mpirun, mca, env, bin_dir");
  check_keys(v, path, {"mpirun", "mca", "env", "bin_dir"});
  Launcher l;
  if (!v.contains("mpirun")) fail(path + ".mpirun", json(), "is missing; allowed: the argv prefix that runs mpirun, e.g. [\"mpirun\"]");
  l.mpirun = string_list(v["mpirun"], path + ".mpirun");
  if (v.contains("mca")) l.mca = string_map(v["mca"], path + ".mca");
  if (v.contains("env")) l.env = string_map(v["env"], path + ".env");
  if (v.contains("bin_dir")) {
    l.bin_dir = get_string(v["bin_dir"], path + ".bin_dir", "an absolute directory");
    if (l.bin_dir.empty() || l.bin_dir[0] != '/') {
      fail(path + ".bin_dir", v["bin_dir"], "is not absolute; allowed: an absolute directory");
    }
  }
  return l;
}

Host parse_host(const json& v, const std::string& path) {
  const std::string keys = "an object with keys name, address, cpus, slots, role";
  require_object(v, path, keys);
  check_keys(v, path, {"name", "address", "cpus", "slots", "role"});
  for (const char* k : {"name", "address", "role"}) {
    if (!v.contains(k)) fail(path + "." + k, json(), std::string("is missing; allowed: ") + keys);
  }
  Host h;
  h.name = get_string(v["name"], path + ".name", "a host name as mpirun --host takes it");
  if (h.name.empty() || h.name.find_first_of(" ,:") != std::string::npos) {
    fail(path + ".name", v["name"], "is not a host name; allowed: no spaces, commas or colons");
  }
  h.address = get_string(v["address"], path + ".address", "a numeric IPv4 or IPv6 address");
  SockAddr addr;
  std::string err;
  if (!parse_address(h.address, 1, &addr, &err)) {
    fail(path + ".address", v["address"], "is not a numeric address; allowed: IPv4 or IPv6, e.g. 192.0.2.11");
  }
  if (v.contains("cpus")) {
    h.cpus = get_string(v["cpus"], path + ".cpus", "a CPU list like 0 or 0-3 or 0,2");
    if (!parse_cpu_list(h.cpus, &err, 1L << 20)) {
      fail(path + ".cpus", v["cpus"], "is not a CPU list; allowed: e.g. 0 or 0-3 or 0,2");
    }
  }
  if (v.contains("slots")) h.slots = get_int(v["slots"], path + ".slots", 1, 4096, "an integer from 1 to 4096");
  h.role = get_string(v["role"], path + ".role", "server or loadgen");
  if (std::find(kRoles.begin(), kRoles.end(), h.role) == kRoles.end()) {
    fail(path + ".role", v["role"], "is not a role; allowed: " + join(kRoles));
  }
  return h;
}

}  // namespace

const Host& HostFile::server() const {
  return *std::find_if(hosts.begin(), hosts.end(), [](const Host& h) { return h.role == "server"; });
}

std::vector<const Host*> HostFile::load_hosts() const {
  std::vector<const Host*> out;
  for (const Host& h : hosts) {
    if (h.role == "loadgen") out.push_back(&h);
  }
  return out;
}

json HostFile::to_json() const {
  json hs = json::array();
  for (const Host& h : hosts) {
    hs.push_back({{"name", h.name}, {"address", h.address},
                  {"cpus", h.cpus.empty() ? json(nullptr) : json(h.cpus)},
                  {"slots", h.slots}, {"role", h.role}});
  }
  json mca = json::object();
  for (const auto& [k, v] : launcher.mca) mca[k] = v;
  return {{"name", name}, {"path", path},
          {"launcher", {{"mpirun", launcher.mpirun}, {"mca", mca},
                        {"bin_dir", launcher.bin_dir.empty() ? json(nullptr) : json(launcher.bin_dir)}}},
          {"hosts", hs}, {"network", network}};
}

HostFile parse_host_file(const json& j, const std::string& path) {
  const std::string where = path + ": ";
  try {
    require_object(j, "hosts file", "an object with keys name, launcher, hosts, network");
    check_keys(j, "hosts file", {"name", "launcher", "hosts", "network"});
    HostFile hf;
    hf.path = path;
    hf.name = j.contains("name") ? get_string(j["name"], "name", "a string") : path;
    if (!j.contains("launcher")) fail("launcher", json(), "is missing; allowed: an object with keys mpirun, mca, env, bin_dir");
    hf.launcher = parse_launcher(j["launcher"], "launcher");
    if (!j.contains("hosts") || !j["hosts"].is_array() || j["hosts"].empty()) {
      fail("hosts", j.value("hosts", json()), "is not a non-empty list; allowed: a list of hosts, one with role server and at least one with role loadgen");
    }
    for (std::size_t i = 0; i < j["hosts"].size(); ++i) {
      std::string p = "hosts[" + std::to_string(i) + "]";
      Host h = parse_host(j["hosts"][i], p);
      for (const Host& o : hf.hosts) {
        if (o.name == h.name) fail(p + ".name", j["hosts"][i]["name"], "appears twice; allowed: each host once");
      }
      hf.hosts.push_back(h);
    }
    auto count = [&](const char* role) {
      return std::count_if(hf.hosts.begin(), hf.hosts.end(), [&](const Host& h) { return h.role == role; });
    };
    if (count("server") != 1) {
      fail("hosts", json(count("server")), "hosts have role server; allowed: exactly one");
    }
    if (count("loadgen") < 1) fail("hosts", json(0), "hosts have role loadgen; allowed: at least one");
    if (j.contains("network")) {
      require_object(j["network"], "network", "an object describing the benchmark network");
      hf.network = j["network"];
    }
    return hf;
  } catch (const SuiteError& e) {
    throw SuiteError(where + e.what());
  }
}

HostFile load_host_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw SuiteError(path + ": cannot read the hosts file");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  json j;
  try {
    j = check::parse(text);
  } catch (const SuiteError& e) {
    throw SuiteError(path + ": " + e.what());
  }
  return parse_host_file(j, path);
}

std::vector<std::string> mpirun_argv(const Launcher& l, const std::vector<AppContext>& apps) {
  std::vector<std::string> a = l.mpirun;
  for (const auto& [k, v] : l.mca) a.insert(a.end(), {"--mca", k, v});
  // Our processes pin themselves (--cpus, --cpu) to the host file's CPUs.
  a.insert(a.end(), {"--bind-to", "none"});
  for (std::size_t i = 0; i < apps.size(); ++i) {
    if (i > 0) a.push_back(":");
    a.insert(a.end(), {"-np", std::to_string(apps[i].ranks)});
    if (!apps[i].host.empty()) a.insert(a.end(), {"--host", apps[i].host + ":" + std::to_string(apps[i].ranks)});
    a.insert(a.end(), apps[i].argv.begin(), apps[i].argv.end());
  }
  return a;
}

Launcher local_launcher() {
  Launcher l;
  l.mpirun = {"mpirun", "--oversubscribe"};
  l.env = {{"OMPI_ALLOW_RUN_AS_ROOT", "1"}, {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"}};
  return l;
}

std::vector<std::string> launcher_env(const Launcher& l) {
  std::vector<std::string> out;
  for (const auto& [k, v] : l.env) out.push_back(k + "=" + v);
  return out;
}

}  // namespace muxbench::harness
