// The pure half of a cell: what the server agent and the load generator saw,
// turned into metrics and a verdict. Each case is a JSON fixture
// (fixtures/cells/observations.json) with the expected status, reason and
// metrics, so the rules are checked without running a process.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "cell_observation.h"
#include "hosts.h"

namespace muxbench::harness {
namespace {

json fixtures() {
  std::ifstream f(std::string(MUXBENCH_SOURCE_DIR) + "/tests/harness/fixtures/cells/observations.json");
  return json::parse(f);
}

void expect_values(const json& want, const json& got, const std::string& where) {
  for (const auto& [k, v] : want.items()) {
    ASSERT_TRUE(got.contains(k)) << where << "." << k << " missing";
    if (v.is_number() && got[k].is_number()) {
      EXPECT_NEAR(got[k].get<double>(), v.get<double>(), 1e-9 * std::max(1.0, std::abs(v.get<double>())))
          << where << "." << k;
    } else {
      EXPECT_EQ(got[k], v) << where << "." << k;
    }
  }
}

class CellObservation : public ::testing::TestWithParam<json> {};

TEST_P(CellObservation, MetricsAndVerdictAsTheFixtureSays) {
  const json& c = GetParam();
  CellPlan plan;
  plan.connections = c["plan"]["connections"];
  ServerObservation s = server_observation_from_json(c["server"]);
  LoadgenObservation l = loadgen_observation_from_json(c["loadgen"]);
  json measurement;
  json m = cell_metrics(plan, s, l, &measurement);
  const CellVerdict verdict = cell_verdict(s, l);
  const auto& why = verdict.reason;
  const json& want = c["expect"];
  EXPECT_EQ(verdict.status, want["status"].get<std::string>()) << (why ? *why : "");
  EXPECT_EQ(verdict.status == "failed", cell_failure(s, l).has_value());
  EXPECT_EQ(verdict.status == "ok", !why.has_value());
  if (want.contains("reason_starts")) {
    ASSERT_TRUE(why);
    EXPECT_EQ(why->rfind(want["reason_starts"].get<std::string>(), 0), 0u) << *why;
  }
  if (want.contains("reason_contains")) {
    ASSERT_TRUE(why);
    EXPECT_NE(why->find(want["reason_contains"].get<std::string>()), std::string::npos) << *why;
  }
  if (want.contains("reason")) {
    ASSERT_TRUE(why);
    EXPECT_EQ(*why, want["reason"].get<std::string>());
  }
  if (want.contains("metrics")) expect_values(want["metrics"], m, "metrics");
  if (want.contains("measurement")) expect_values(want["measurement"], measurement, "measurement");
  // Every metric is always present, null when unknown.
  const json all = empty_metrics();
  for (const auto& [k, v] : all.items()) EXPECT_TRUE(m.contains(k)) << k;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CellObservation, ::testing::ValuesIn([] {
                           std::vector<json> v;
                           for (const auto& c : fixtures()) v.push_back(c);
                           return v;
                         }()),
                         [](const ::testing::TestParamInfo<json>& p) {
                           return p.param["name"].get<std::string>();
                         });

TEST(AgentEvents, SamplesRoundTripThroughJson) {
  GroupSample s;
  s.t_s = 1.5;
  s.cpu_user_s = 0.25;
  s.cpu_sys_s = 0.5;
  s.rss_bytes = 123456789;
  s.processes = 3;
  s.threads = 7;
  s.mem_available_bytes = 1ULL << 34;
  GroupSample r = sample_from_json(json::parse(sample_to_json(s).dump()));
  EXPECT_EQ(r.t_s, s.t_s);
  EXPECT_EQ(r.cpu_user_s, s.cpu_user_s);
  EXPECT_EQ(r.cpu_sys_s, s.cpu_sys_s);
  EXPECT_EQ(r.rss_bytes, s.rss_bytes);
  EXPECT_EQ(r.processes, s.processes);
  EXPECT_EQ(r.threads, s.threads);
  EXPECT_EQ(r.mem_available_bytes, s.mem_available_bytes);
}

// Host files: every error names the file and the field, and says what is allowed.
std::string host_file_error(const std::string& text) {
  try {
    parse_host_file(json::parse(text), "h.json");
  } catch (const SuiteError& e) {
    return e.what();
  }
  return "";
}

const char* kGoodHosts = R"J({"name": "lab",
  "launcher": {"mpirun": ["mpirun"], "mca": {"plm_rsh_agent": "ssh", "btl_tcp_if_include": "eth1"},
               "env": {"X": "1"}},
  "hosts": [{"name": "s", "address": "192.0.2.11", "cpus": "0-3", "slots": 1, "role": "server"},
            {"name": "c1", "address": "192.0.2.12", "cpus": "1", "slots": 2, "role": "loadgen"},
            {"name": "c2", "address": "2001:db8::2", "slots": 2, "role": "loadgen"}],
  "network": {"kind": "lab"}})J";

TEST(HostFile, AGoodFileParses) {
  HostFile hf = parse_host_file(json::parse(kGoodHosts), "h.json");
  EXPECT_EQ(hf.server().name, "s");
  ASSERT_EQ(hf.load_hosts().size(), 2u);
  EXPECT_EQ(hf.load_hosts()[1]->address, "2001:db8::2");
  EXPECT_EQ(hf.launcher.mca[0].first, "plm_rsh_agent");
  EXPECT_EQ(launcher_env(hf.launcher), std::vector<std::string>{"X=1"});
}

TEST(HostFile, BadInputNamesTheFileTheFieldAndWhatIsAllowed) {
  auto with = [](const std::string& from, const std::string& to) {
    std::string t = kGoodHosts;
    auto p = t.find(from);
    EXPECT_NE(p, std::string::npos) << from;
    return t.replace(p, from.size(), to);
  };
  EXPECT_EQ(host_file_error(with(R"("slots": 2, "role": "loadgen"})", R"("slots": 2, "role": "client"})")),
            "h.json: hosts[1].role: 'client' is not a role; allowed: server, loadgen");
  EXPECT_EQ(host_file_error(with("192.0.2.12", "cli1.example")),
            "h.json: hosts[1].address: 'cli1.example' is not a numeric address; allowed: IPv4 or "
            "IPv6, e.g. 192.0.2.11");
  EXPECT_EQ(host_file_error(with(R"("cpus": "0-3")", R"("cpus": "3-1")")),
            "h.json: hosts[0].cpus: '3-1' is not a CPU list; allowed: e.g. 0 or 0-3 or 0,2");
  EXPECT_EQ(host_file_error(with(R"("slots": 1)", R"("slots": 0)")),
            "h.json: hosts[0].slots: 0 is out of range; allowed: an integer from 1 to 4096");
  EXPECT_EQ(host_file_error(with(R"("role": "server")", R"("role": "loadgen")")),
            "h.json: hosts: 0 hosts have role server; allowed: exactly one");
  EXPECT_EQ(host_file_error(with(R"("mpirun": ["mpirun"])", R"("mpirun": [])")),
            "h.json: launcher.mpirun: [] is not a non-empty list of strings; allowed: e.g. [\"mpirun\"]");
  EXPECT_EQ(host_file_error(with(R"("network")", R"("netwrok")")),
            "h.json: hosts file.netwrok: unknown key; allowed keys: name, launcher, hosts, network");
  EXPECT_EQ(host_file_error(with(R"("name": "c1")", R"("name": "s")")),
            "h.json: hosts[1].name: 's' appears twice; allowed: each host once");
}

TEST(HostFile, MpirunCommandLines) {
  HostFile hf = parse_host_file(json::parse(kGoodHosts), "h.json");
  auto a = mpirun_argv(hf.launcher, {{"c1", 2, {"/b/muxbench-loadgen", "--x"}}, {"c2", 1, {"/b/muxbench-loadgen", "--y"}}});
  std::vector<std::string> want = {"mpirun", "--mca", "plm_rsh_agent", "ssh", "--mca", "btl_tcp_if_include",
                                   "eth1", "--bind-to", "none", "-np", "2", "--host", "c1:2",
                                   "/b/muxbench-loadgen", "--x", ":", "-np", "1", "--host", "c2:1",
                                   "/b/muxbench-loadgen", "--y"};
  EXPECT_EQ(a, want);
}

}  // namespace
}  // namespace muxbench::harness
