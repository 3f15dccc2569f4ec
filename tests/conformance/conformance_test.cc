// The conformance suite: every case runs once per strategy in the registry
// (read from `muxbench-server --list-json`, so a new strategy is tested the
// moment it is listed), against the real binary on an ephemeral port.
//
// Named expectations: where a strategy cannot meet a case by design, the
// case checks the documented behaviour instead (see kDesignLimits), never
// skips silently.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "muxbench/build.h"
#include "muxbench/line_codec.h"
#include "muxbench/net.h"
#include "process.h"
#include "reference_model.h"

namespace muxbench::test {
namespace {

using namespace std::chrono_literals;

// One way to start a strategy: its arguments, and the design limits (from
// --list-json, never from its name) the suite checks in place of the general
// expectation.
struct Variant {
  std::string strategy;
  std::vector<std::string> args;   // e.g. {"--backend", "select"}
  std::string label;               // test-name suffix
  std::vector<std::string> limits; // e.g. {"fd_setsize"}
  bool optional_mode = false;      // a mode a kernel may not take: then the case skips, saying so

  bool has_limit(const char* limit) const {
    return std::find(limits.begin(), limits.end(), limit) != limits.end();
  }
};

void PrintTo(const Variant& v, std::ostream* os) { *os << v.label; }

nlohmann::json server_list() {
  std::string cmd = bin_dir() + "/muxbench-server --list-json";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return nlohmann::json();
  std::string text;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) text.append(buf, n);
  ::pclose(p);
  return nlohmann::json::parse(text, nullptr, false);
}

std::vector<std::string> strings(const nlohmann::json& arr) {
  std::vector<std::string> out;
  if (arr.is_array()) {
    for (const auto& v : arr) out.push_back(v.get<std::string>());
  }
  return out;
}

// Strategies from the registry, each started every way its --list-json entry
// names: once per backend (so libevent-over-select is held to the same rules
// as raw select); once by default and once per mode (a kernel that does not
// take a mode makes that variant skip, saying so); strategies whose threads
// are event loops once with --threads 1 and once with --threads 2, whatever
// the machine's CPU count; the others once.
std::vector<Variant> variants() {
  std::vector<Variant> out;
  auto list = server_list();
  if (!list.is_array()) return out;
  for (const auto& s : list) {
    const std::string name = s["name"].get<std::string>();
    const auto limits = strings(s["limits"]);
    if (!s["backends"].empty()) {
      for (const auto& b : s["backends"]) {
        const std::string backend = b["name"].get<std::string>();
        out.push_back({name, {"--backend", backend}, name + "_" + backend, strings(b["limits"])});
      }
    } else if (!s["modes"].empty()) {
      out.push_back({name, {}, name, limits});
      for (const auto& m : s["modes"]) {
        out.push_back({name, strings(m["args"]), name + "_" + m["name"].get<std::string>(), limits,
                       true});
      }
    } else if (s["threads"] == "loops") {
      for (const char* t : {"1", "2"}) {
        out.push_back({name, {"--threads", t}, name + "_t" + t, limits});
      }
    } else {
      out.push_back({name, {}, name, limits});
    }
  }
  return out;
}

// The strategies that run one event loop per thread.
std::vector<Variant> threaded_variants() {
  std::vector<Variant> out;
  auto list = server_list();
  if (!list.is_array()) return out;
  for (const auto& s : list) {
    if (s["threads"] != "loops") continue;
    std::string name = s["name"].get<std::string>();
    out.push_back({name, {"--threads", "2"}, name + "_t2", strings(s["limits"])});
  }
  return out;
}

class Conformance : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    raise_nofile_limit();
    ignore_sigpipe();
    std::vector<std::string> args = GetParam().args;
    stats_path_ = "/tmp/muxbench-conf-stats-" + std::to_string(::getpid()) + "-" +
                  std::to_string(counter_++) + ".json";
    args.push_back("--stats");
    args.push_back(stats_path_);
    server_ = std::make_unique<Server>(GetParam().strategy, args);
    if (!server_->ok() && GetParam().optional_mode &&
        server_->process().stderr_text().find("this kernel does not take it") != std::string::npos) {
      GTEST_SKIP() << "kernel lacks this mode: " << server_->process().stderr_text();
    }
    ASSERT_TRUE(server_->ok()) << "no READY line; stderr: " << server_->process().stderr_text();
  }
  void TearDown() override {
    server_.reset();  // kills the process group
    ::unlink(stats_path_.c_str());
  }
  const std::string& strategy() const { return GetParam().strategy; }

  int connect() {
    int fd = connect_loopback(server_->port());
    EXPECT_GE(fd, 0) << "connect: " << errno_string(errno);
    return fd;
  }

  // One client: send all of `data` (in `chunks` if given), half-close, read to EOF.
  std::string round(const std::string& data, std::chrono::milliseconds timeout = 20s) {
    int fd = connect();
    if (fd < 0) return {};
    std::string got = exchange(fd, data, timeout);
    ::close(fd);
    return got;
  }

  std::unique_ptr<Server> server_;
  std::string stats_path_;
  static inline int counter_ = 0;
};

// Sends `data` in the given chunk sizes with tiny pauses (so TCP cannot
// coalesce them all), half-closes, and reads the whole reply concurrently.
std::string exchange_chunked(int fd, const std::string& data, const std::vector<std::size_t>& chunks,
                             std::chrono::milliseconds timeout) {
  std::thread writer([&] {
    std::size_t pos = 0;
    for (std::size_t i = 0; pos < data.size(); ++i) {
      std::size_t n = std::min(chunks[i % chunks.size()], data.size() - pos);
      if (!write_all(fd, data.data() + pos, n)) break;
      pos += n;
      if (i % 7 == 0) std::this_thread::sleep_for(50us);
    }
    ::shutdown(fd, SHUT_WR);
  });
  std::string got = read_exactly(fd, SIZE_MAX, timeout);
  writer.join();
  return got;
}

TEST_P(Conformance, BookExampleLine) {
  // The line the libevent book's ROT13 servers are tried with.
  EXPECT_EQ(round("Hello, World!\n"), "Uryyb, Jbeyq!\n");
  EXPECT_EQ(round("Why is ROT13 a good test? 0123456789\n"), "Jul vf EBG13 n tbbq grfg? 0123456789\n");
}

TEST_P(Conformance, EveryByteValue) {
  std::string in;
  for (int b = 0; b < 256; ++b) in.push_back(static_cast<char>(b));
  in += "\n";
  EXPECT_EQ(round(in), reference_reply(in, true));
}

TEST_P(Conformance, RandomLinesInRandomChunks) {
  std::mt19937_64 rng(std::hash<std::string>{}(GetParam().label));
  for (int client = 0; client < 3; ++client) {
    std::string in;
    for (int l = 0; l < 12; ++l) {
      std::size_t len = rng() % 40001;
      for (std::size_t i = 0; i < len; ++i) {
        char ch = static_cast<char>(rng() % 256);
        in.push_back(ch == '\n' ? 'n' : ch);
      }
      in.push_back('\n');
    }
    in += "unterminated tail";
    std::vector<std::size_t> chunks;
    for (int i = 0; i < 64; ++i) chunks.push_back(1 + rng() % (i % 2 ? 100 : 9000));
    int fd = connect();
    ASSERT_GE(fd, 0);
    std::string got = exchange_chunked(fd, in, chunks, 30s);
    ::close(fd);
    ASSERT_EQ(got.size(), reference_reply(in, true).size()) << "client " << client;
    EXPECT_TRUE(got == reference_reply(in, true)) << "client " << client << ": bytes differ";
  }
}

TEST_P(Conformance, ThousandPipelinedLinesInOneWrite) {
  std::string in;
  for (int i = 0; i < 1000; ++i) in += "pipelined line number " + std::to_string(i) + "\n";
  EXPECT_EQ(round(in), reference_reply(in, true));
}

TEST_P(Conformance, OverlongLinesAreCutAtMaxLine) {
  for (std::size_t len : {kMaxLine - 1, kMaxLine, kMaxLine + 1, std::size_t{100000}}) {
    std::string in(len, 'a');
    in += "\nnext\n";
    std::string got = round(in);
    EXPECT_EQ(got.size(), reference_reply(in, true).size()) << "line of " << len << " bytes";
    EXPECT_TRUE(got == reference_reply(in, true)) << "line of " << len << " bytes";
  }
}

TEST_P(Conformance, HalfCloseFlushesPartialLineThenEof) {
  int fd = connect();
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(write_all(fd, "whole\npartial", 13));
  EXPECT_EQ(read_exactly(fd, 6, 5s), "jubyr\n");  // the complete line comes first
  ::shutdown(fd, SHUT_WR);
  EXPECT_EQ(read_exactly(fd, SIZE_MAX, 5s), "cnegvny");  // then the partial one, then EOF
  ::close(fd);
}

void reset_close(int fd) {
  linger lg{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  ::close(fd);  // RST instead of FIN
}

TEST_P(Conformance, ResetMidLineAndMidReplyThenFreshClientServed) {
  int a = connect();
  ASSERT_GE(a, 0);
  ASSERT_TRUE(write_all(a, "half a li", 9));
  std::this_thread::sleep_for(20ms);
  reset_close(a);

  int b = connect();
  ASSERT_GE(b, 0);
  std::string big;
  for (int i = 0; i < 20000; ++i) big += "a reply that will be cut off by a reset\n";
  ASSERT_TRUE(write_all(b, big.data(), 64 * 1024));
  EXPECT_EQ(read_exactly(b, 100, 5s).size(), 100u);  // the reply has started
  reset_close(b);
  std::this_thread::sleep_for(50ms);

  EXPECT_EQ(round("still serving\n"), "fgvyy freivat\n");
  EXPECT_TRUE(server_->process().running()) << server_->process().stderr_text();
}

TEST_P(Conformance, ClientThatNeverReadsIsBoundedAndOthersAreServed) {
  int hog = connect();
  ASSERT_GE(hog, 0);
  const long rss_before = rss_kb(server_->process().pid());
  // Push up to 64 MiB of lines without reading a byte of the replies.
  ASSERT_TRUE(set_nonblocking(hog));
  std::string chunk;
  while (chunk.size() < 64 * 1024) chunk += "the hog sends and never reads\n";
  std::size_t sent = 0;
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (sent < (64u << 20) && std::chrono::steady_clock::now() < deadline) {
    ssize_t w = ::send(hog, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (w > 0) {
      sent += static_cast<std::size_t>(w);
    } else {
      std::this_thread::sleep_for(5ms);
    }
  }
  // The server must have stopped reading: far less than 64 MiB went in.
  EXPECT_LT(sent, 64u << 20) << "the server kept reading a client that never reads";

  if (GetParam().has_limit("one_client_at_a_time")) {
    // Design limit: the one connection being served blocks everyone else.
    int other = connect();
    ASSERT_GE(other, 0);
    write_all(other, "x\n", 2);
    EXPECT_EQ(read_exactly(other, 2, 500ms), "") << "a one-client-at-a-time strategy served two at once?";
    ::close(other);
  } else {
    EXPECT_EQ(round("served meanwhile\n", 10s), "freirq zrnajuvyr\n");
  }
  const long rss_after = rss_kb(server_->process().pid());
  EXPECT_LT(rss_after - rss_before, 32 * 1024) << "server memory grew by "
                                               << (rss_after - rss_before) << " kB";
  reset_close(hog);
}

// N clients, each doing `rounds` verified request/reply round trips, all
// driven from one poll() loop so they are really concurrent.
TEST_P(Conformance, FiveHundredConcurrentClientsFiftyRoundTrips) {
  constexpr int kClients = 500;
  constexpr int kRounds = 50;
  struct Client {
    int fd = -1;
    int done = 0;
    std::string expect;
    std::string got;
  };
  std::vector<Client> clients(kClients);
  std::mt19937_64 rng(7);
  auto next_request = [&](Client& c, int i) {
    std::string req = "client " + std::to_string(i) + " round " + std::to_string(c.done) + " " +
                      std::to_string(rng()) + "\n";
    c.expect = reference_reply(req, false);
    c.got.clear();
    return write_all(c.fd, req.data(), req.size());
  };
  for (int i = 0; i < kClients; ++i) {
    clients[i].fd = connect();
    ASSERT_GE(clients[i].fd, 0) << "client " << i;
  }
  for (int i = 0; i < kClients; ++i) ASSERT_TRUE(next_request(clients[i], i));
  int finished = 0;
  int mismatches = 0;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  std::vector<pollfd> pfds;
  while (finished < kClients && std::chrono::steady_clock::now() < deadline) {
    pfds.clear();
    for (auto& c : clients) pfds.push_back({c.done < kRounds ? c.fd : -1, POLLIN, 0});
    if (::poll(pfds.data(), pfds.size(), 1000) <= 0) continue;
    for (int i = 0; i < kClients; ++i) {
      if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Client& c = clients[i];
      char buf[4096];
      ssize_t r = ::read(c.fd, buf, sizeof buf);
      if (r <= 0) {
        c.done = kRounds;  // closed early: counted as unfinished below
        ++mismatches;
        ++finished;
        continue;
      }
      c.got.append(buf, static_cast<std::size_t>(r));
      if (c.got.size() < c.expect.size()) continue;
      if (c.got != c.expect) ++mismatches;
      if (++c.done == kRounds) {
        ++finished;
        ::shutdown(c.fd, SHUT_WR);  // let one-at-a-time servers move on
      } else {
        next_request(c, i);
      }
    }
  }
  int completed = 0;
  for (auto& c : clients) {
    completed += c.done == kRounds ? 1 : 0;
    ::close(c.fd);
  }
  EXPECT_EQ(finished, kClients) << "clients that did not finish within 60 s";
  EXPECT_EQ(completed, kClients);
  EXPECT_EQ(mismatches, 0);
}

// More connections than FD_SETSIZE, all open at once; then each sends one
// line and half-closes. select must close the ones whose fd cannot enter an
// fd_set (counted) and serve the rest; every other strategy serves them all.
TEST_P(Conformance, MoreConnectionsThanFdSetsize) {
  constexpr int kConns = FD_SETSIZE + 100;
  std::vector<int> fds;
  for (int i = 0; i < kConns; ++i) {
    int fd = connect();
    ASSERT_GE(fd, 0) << "connection " << i;
    fds.push_back(fd);
  }
  std::this_thread::sleep_for(200ms);  // let the server accept them all
  for (int i = 0; i < kConns; ++i) {
    std::string line = "conn " + std::to_string(i) + "\n";
    write_all(fds[i], line.data(), line.size());
    ::shutdown(fds[i], SHUT_WR);
  }
  int served = 0;
  int refused = 0;
  for (int i = 0; i < kConns; ++i) {
    std::string got = read_exactly(fds[i], SIZE_MAX, 20s);
    std::string expect = reference_reply("conn " + std::to_string(i) + "\n", true);
    if (got == expect) {
      ++served;
    } else {
      EXPECT_EQ(got, "") << "connection " << i << " got a wrong reply";
      ++refused;
    }
    ::close(fds[i]);
  }
  if (GetParam().has_limit("fd_setsize")) {
    EXPECT_GT(served, FD_SETSIZE - 20);
    EXPECT_GE(refused, 100);
  } else {
    EXPECT_EQ(served, kConns);
  }
  EXPECT_EQ(round("after the crowd\n"), "nsgre gur pebjq\n");
}

TEST_P(Conformance, SigtermExitsCleanlyWithinOneSecondAndWritesStats) {
  for (int i = 0; i < 3; ++i) EXPECT_EQ(round("count me\n"), "pbhag zr\n");
  // Idle connections held open, so thread/fork strategies have live workers.
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(connect());
  std::this_thread::sleep_for(100ms);
  const pid_t pid = server_->process().pid();
  auto t0 = std::chrono::steady_clock::now();
  server_->process().signal(SIGTERM);
  const auto bound = 1000ms * build::kTimeScale;  // release: 1 s
  int status = server_->process().wait(bound);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - t0);
  ASSERT_NE(status, -1) << "still running " << bound.count() << " ms after SIGTERM";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
  EXPECT_LE(took, bound);
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(group_members(pid).empty()) << "processes of the server outlived it";
  for (int fd : idle) ::close(fd);

  std::ifstream f(stats_path_);
  ASSERT_TRUE(f.good()) << "--stats file not written";
  auto stats = nlohmann::json::parse(f, nullptr, false);
  ASSERT_TRUE(stats.is_object());
  EXPECT_EQ(stats["strategy"], strategy());
  EXPECT_EQ(stats["complete"], true) << "the strategy overran its stop deadline";
  EXPECT_GE(stats["counters"]["accepted"].get<int>(), 3);
  EXPECT_GE(stats["counters"]["lines"].get<int>(), 3);
  EXPECT_GE(stats["counters"]["bytes_in"].get<int>(), 27);
  // The shape docs/results.md gives (a name clash once made it an array).
  const auto& rejected = stats["counters"]["rejected"];
  ASSERT_TRUE(rejected.is_object()) << rejected.dump();
  EXPECT_TRUE(rejected["fd_setsize"].is_number_integer()) << rejected.dump();
  EXPECT_TRUE(rejected["fd_exhausted"].is_number_integer()) << rejected.dump();
  EXPECT_TRUE(stats["counters"]["errors"].is_object()) << stats["counters"].dump();
  // Multi-thread strategies list each thread; the entries add up to the totals.
  ASSERT_TRUE(stats["per_thread"].is_array());
  if (!stats["per_thread"].empty()) {
    for (const char* key : {"accepted", "closed", "lines", "bytes_in", "bytes_out"}) {
      long sum = 0;
      for (const auto& t : stats["per_thread"]) sum += t[key].get<long>();
      EXPECT_EQ(sum, stats["counters"][key].get<long>()) << key;
    }
  }
}

// Any local address (docs/protocol.md, section 1): the IPv6 wildcard is
// dual-stack, so one listener serves clients on 127.0.0.1 and ::1 alike.
TEST_P(Conformance, WildcardBindServesIpv4AndIpv6) {
  std::vector<std::string> args = GetParam().args;
  args.insert(args.end(), {"--bind", "::"});
  Server wild(strategy(), args);
  ASSERT_TRUE(wild.ok()) << "no READY line with --bind ::; stderr: " << wild.process().stderr_text();
  for (const char* host : {"127.0.0.1", "::1"}) {
    SockAddr addr;
    std::string err;
    ASSERT_TRUE(parse_address(host, wild.port(), &addr, &err)) << err;
    int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::connect(fd, addr.get(), addr.len), 0) << host << ": " << errno_string(errno);
    EXPECT_EQ(exchange(fd, "Hello, World!\n", 10s), "Uryyb, Jbeyq!\n") << "client on " << host;
    ::close(fd);
  }
}

INSTANTIATE_TEST_SUITE_P(Strategies, Conformance, ::testing::ValuesIn(variants()),
                         [](const ::testing::TestParamInfo<Variant>& p) {
                           std::string n = p.param.label;
                           for (char& ch : n) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

// Every event loop of a multi-thread strategy serves connections. The server
// delays each reply by 50 ms (test aid), so a loop is busy while the next
// connections arrive: EPOLLEXCLUSIVE then has to wake another loop (an idle
// server's first loop would otherwise take them all, by design), the
// SO_REUSEPORT hash spreads 16 connections over both listeners (all on one:
// odds 2^-15), and hand-off is round-robin. --stats lists each thread.
class ThreadedConformance : public ::testing::TestWithParam<Variant> {};

TEST_P(ThreadedConformance, WithTwoThreadsBothLoopsServeConnections) {
  raise_nofile_limit();
  ignore_sigpipe();
  const std::string stats_path =
      "/tmp/muxbench-conf-threads-" + std::to_string(::getpid()) + ".json";
  std::vector<std::string> args = GetParam().args;
  args.insert(args.end(), {"--delay-us", "50000", "--stats", stats_path});
  Server server(GetParam().strategy, args);
  ASSERT_TRUE(server.ok()) << "no READY line; stderr: " << server.process().stderr_text();

  constexpr int kConns = 16;
  std::vector<int> fds;
  for (int i = 0; i < kConns; ++i) {
    int fd = connect_loopback(server.port());
    ASSERT_GE(fd, 0) << "connect: " << errno_string(errno);
    ASSERT_TRUE(write_all(fd, "x\n", 2));
    fds.push_back(fd);
    if (i == 0) std::this_thread::sleep_for(20ms);  // the first loop is in its delay now
  }
  for (int i = 0; i < kConns; ++i) {
    EXPECT_EQ(read_exactly(fds[i], 2, 10s), "k\n") << "connection " << i;
    ::close(fds[i]);
  }
  server.process().signal(SIGTERM);
  ASSERT_NE(server.process().wait(2s), -1) << "still running after SIGTERM";

  std::ifstream f(stats_path);
  auto stats = nlohmann::json::parse(f, nullptr, false);
  ::unlink(stats_path.c_str());
  ASSERT_TRUE(stats.is_object()) << "--stats file missing or invalid";
  ASSERT_TRUE(stats["per_thread"].is_array()) << stats.dump();
  int loops = 0;
  long accepted = 0;
  for (const auto& t : stats["per_thread"]) {
    accepted += t["accepted"].get<long>();
    if (t["role"] != "loop") continue;
    ++loops;
    EXPECT_GE(t["accepted"].get<long>(), 1) << "a loop served no connection: " << stats.dump();
    EXPECT_GE(t["lines"].get<long>(), 1) << "a loop answered no request: " << stats.dump();
  }
  EXPECT_EQ(loops, 2) << stats.dump();
  EXPECT_EQ(accepted, stats["counters"]["accepted"].get<long>());
  EXPECT_EQ(stats["counters"]["accepted"].get<long>(), kConns);
}

INSTANTIATE_TEST_SUITE_P(Strategies, ThreadedConformance, ::testing::ValuesIn(threaded_variants()),
                         [](const ::testing::TestParamInfo<Variant>& p) {
                           std::string n = p.param.label;
                           for (char& ch : n) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

// --threads on a strategy that runs one thread by design is refused at
// start-up with one line naming the strategy and those that take it.
TEST(ServerStartup, ThreadsOnASingleThreadStrategyIsOneClearError) {
  for (const char* s : {"epoll", "libuv", "asio"}) {
    Process p({bin_dir() + "/muxbench-server", "--strategy", s, "--port", "0", "--threads", "2"});
    int status = p.wait(5s);
    ASSERT_NE(status, -1) << s << ": still running";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << s << ": status " << status;
    EXPECT_NE(p.stderr_text().find(std::string("--threads does not apply to --strategy ") + s),
              std::string::npos)
        << p.stderr_text();
    EXPECT_NE(p.stderr_text().find("epoll-exclusive"), std::string::npos) << p.stderr_text();
    EXPECT_EQ(p.read_all(1s), "") << s << ": printed something on stdout (a READY line?)";
  }
}

// The io_uring options: refused with one line (exit 2) for another strategy
// and in a combination the kernel never takes; in effect, each is named in
// the READY line and in the "options" of --stats, so that a run records it.
TEST(ServerStartup, UringOptionsAreCheckedAndReported) {
  const std::string bin = bin_dir() + "/muxbench-server";
  struct Bad {
    std::vector<std::string> args;
    const char* says;
    bool exit2;  // our check (exit 2), not CLI11's own validation
  };
  const Bad bad[] = {
      {{"--strategy", "epoll", "--uring-fixed-files"}, "--uring-fixed-files applies only to --strategy io_uring", true},
      {{"--strategy", "libuv", "--uring-taskrun", "coop"}, "--uring-taskrun applies only to --strategy io_uring", true},
      {{"--strategy", "epoll", "--backend", "poll"}, "--backend applies only to --strategy libevent", true},
      {{"--strategy", "epoll", "--uring-recv-bundle"}, "--uring-recv-bundle applies only to --strategy io_uring", true},
      {{"--strategy", "asio", "--uring-send-zc"}, "--uring-send-zc applies only to --strategy io_uring", true},
      {{"--strategy", "io_uring", "--uring-sqpoll", "--uring-taskrun", "defer"},
       "--uring-sqpoll cannot be combined with --uring-taskrun=defer", true},
      {{"--strategy", "io_uring", "--uring-taskrun", "sometimes"}, "--uring-taskrun", false},
  };
  for (const Bad& b : bad) {
    std::vector<std::string> argv = {bin, "--port", "0"};
    argv.insert(argv.end(), b.args.begin(), b.args.end());
    Process p(argv);
    int status = p.wait(5s);
    ASSERT_NE(status, -1) << b.says << ": still running";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << b.says << ": status " << status;
    if (b.exit2) {
      EXPECT_EQ(WEXITSTATUS(status), 2) << b.says;
    }
    EXPECT_NE(p.stderr_text().find(b.says), std::string::npos) << p.stderr_text();
    EXPECT_EQ(p.read_all(1s), "") << b.says << ": printed something on stdout (a READY line?)";
  }

  const std::string stats_path = "/tmp/muxbench-conf-uring-" + std::to_string(::getpid()) + ".json";
  Server server("io_uring", {"--uring-fixed-files", "--uring-taskrun", "none", "--stats", stats_path});
  if (!server.ok() &&
      server.process().stderr_text().find("need Linux") != std::string::npos) {
    GTEST_SKIP() << "kernel lacks registered files: " << server.process().stderr_text();
  }
  ASSERT_TRUE(server.ok()) << server.process().stderr_text();
  EXPECT_NE(server.ready_line().find(" fixed_files=on"), std::string::npos) << server.ready_line();
  EXPECT_NE(server.ready_line().find(" sqpoll=off"), std::string::npos) << server.ready_line();
  EXPECT_NE(server.ready_line().find(" taskrun=none"), std::string::npos) << server.ready_line();
  EXPECT_NE(server.ready_line().find(" recv_bundle=off"), std::string::npos) << server.ready_line();
  EXPECT_NE(server.ready_line().find(" send_zc=off"), std::string::npos) << server.ready_line();
  server.process().signal(SIGTERM);
  ASSERT_NE(server.process().wait(2s), -1) << "still running after SIGTERM";
  std::ifstream f(stats_path);
  auto stats = nlohmann::json::parse(f, nullptr, false);
  ::unlink(stats_path.c_str());
  ASSERT_TRUE(stats.is_object()) << "--stats file missing or invalid";
  EXPECT_EQ(stats["options"]["fixed_files"], "on") << stats.dump();
  EXPECT_EQ(stats["options"]["taskrun"], "none") << stats.dump();
  EXPECT_EQ(stats["options"]["recv"], "multishot") << stats.dump();
  EXPECT_EQ(stats["options"]["send_zc"], "off") << stats.dump();
  ASSERT_TRUE(stats["mechanism"].is_object()) << stats.dump();
  EXPECT_EQ(stats["mechanism"]["recv_bundles"], 0) << stats.dump();
  EXPECT_EQ(stats["mechanism"]["sends_zc"], 0) << stats.dump();
}

// --list-json: the families come in blocks (registry order), a strategy built
// on a library names it with the version it runs, and every limit, backend,
// option and mode is well formed.
TEST(ServerList, FamiliesLimitsAndLibraryVersions) {
  auto list = server_list();
  ASSERT_TRUE(list.is_array());
  ASSERT_FALSE(list.empty());
  std::vector<std::string> families_seen;
  const std::vector<std::string> known_limits = {"one_client_at_a_time", "fd_setsize"};
  for (const auto& s : list) {
    SCOPED_TRACE(s.dump());
    const std::string fam = s["family"].get<std::string>();
    if (families_seen.empty() || families_seen.back() != fam) {
      EXPECT_EQ(std::find(families_seen.begin(), families_seen.end(), fam), families_seen.end())
          << "family " << fam << " is split: the registry lists a family's strategies together";
      families_seen.push_back(fam);
    }
    if (!s["library"].is_null()) {
      ASSERT_TRUE(s["library_version"].is_string());
      EXPECT_FALSE(s["library_version"].get<std::string>().empty());
    }
    EXPECT_EQ(s["takes_threads"].get<bool>(), !s["threads"].is_null());
    for (const auto& l : s["limits"]) {
      EXPECT_NE(std::find(known_limits.begin(), known_limits.end(), l), known_limits.end());
    }
    for (const auto& b : s["backends"]) EXPECT_TRUE(b["name"].is_string() && b["limits"].is_array());
    for (const auto& m : s["modes"]) {
      EXPECT_TRUE(m["name"].is_string());
      ASSERT_TRUE(m["args"].is_array());
      for (const auto& a : m["args"]) {
        const std::string arg = a.get<std::string>();
        if (arg.rfind("--", 0) == 0) {
          EXPECT_NE(std::find(s["options"].begin(), s["options"].end(), arg), s["options"].end())
              << "mode " << m["name"] << " uses " << arg << ", which is not in its options";
        }
      }
    }
  }
}

// A bind address that is not this host's fails at start-up with one line
// naming the address and the reason, whatever the strategy.
TEST(ServerStartup, ForeignBindAddressIsOneClearError) {
  Process p({bin_dir() + "/muxbench-server", "--strategy", "epoll", "--port", "0", "--bind",
             "192.0.2.254"});
  int status = p.wait(5s);
  ASSERT_NE(status, -1) << "still running";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  EXPECT_NE(p.stderr_text().find("192.0.2.254"), std::string::npos) << p.stderr_text();
  EXPECT_NE(p.stderr_text().find("Cannot assign requested address"), std::string::npos)
      << p.stderr_text();
}

}  // namespace
}  // namespace muxbench::test
