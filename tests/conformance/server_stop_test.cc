// Stop-time and overload cases aimed at one strategy or at main.cc, with the
// real binary: what a SIGTERM at an awkward moment leaves in --stats.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "muxbench/build.h"
#include "muxbench/net.h"
#include "process.h"

namespace muxbench::test {
namespace {

using namespace std::chrono_literals;

// A private directory under /tmp, removed with what is left in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/muxbench-stop-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    if (path_.empty()) return;
    if (DIR* d = ::opendir(path_.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") ::unlink((path_ + "/" + n).c_str());
      }
      ::closedir(d);
    }
    ::rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Threads of `pid` currently inside system call `nr` (from /proc/.../syscall).
int threads_in_syscall(pid_t pid, long nr) {
  int n = 0;
  std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(task_dir.c_str());
  if (d == nullptr) return 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(task_dir + "/" + e->d_name + "/syscall");
    long got = -1;
    if (f >> got && got == nr) ++n;
  }
  ::closedir(d);
  return n;
}

nlohmann::json read_stats(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f, nullptr, false);
}

// main.cc gives a strategy 800 ms after SIGTERM (times build::kTimeScale)
// and then writes the stats itself, marked incomplete and without counters;
// a strategy returning later must not write them a second time.
// Made deterministic with a FIFO in place of the stats file's temporary: a
// writer blocks in open() until the test opens the FIFO for reading, so
// every writer that ever starts is seen, at the same time, in openat().
TEST(ServerStop, SlowStopWritesTheStatsOnce) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string stats = dir.path() + "/stats.json";
  const std::string tmp = stats + ".tmp";
  ASSERT_EQ(::mkfifo(tmp.c_str(), 0600), 0);
  // Four lines in one write (release build): one read, one on_lines(4), one
  // 1.2 s sleep. All of it scales with the server's deadline (4 x scale
  // lines, 0.3 s each), so the stop timer always gives up first.
  const int scale = build::kTimeScale;
  Server server("epoll", {"--stats", stats, "--delay-us", "300000"});
  ASSERT_TRUE(server.ok()) << server.process().stderr_text();
  int fd = connect_loopback(server.port());
  ASSERT_GE(fd, 0);
  std::string lines;
  for (int i = 0; i < 4 * scale; ++i) lines += "x\n";
  ASSERT_TRUE(write_all(fd, lines.data(), lines.size()));
  std::this_thread::sleep_for(200ms);  // the server is in its delay now
  server.process().signal(SIGTERM);
  // 800 ms: the stop timer gives up and writes; ~1 s: the strategy returns.
  std::this_thread::sleep_for(1500ms * scale);
  const int writers = threads_in_syscall(server.process().pid(), SYS_openat);

  int rd = ::open(tmp.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(rd, 0);
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{rd, POLLIN, 0};
    ::poll(&p, 1, 50);
    char buf[4096];
    ssize_t r = ::read(rd, buf, sizeof buf);
    if (r > 0) {
      got.append(buf, static_cast<std::size_t>(r));
    } else if (!server.process().running()) {
      break;  // every writer is gone and the pipe is drained
    }
  }
  ::close(rd);
  ::close(fd);
  EXPECT_EQ(writers, 1) << "threads writing the stats at once";
  std::size_t docs = 0;
  for (auto pos = got.find("\"schema_version\""); pos != std::string::npos;
       pos = got.find("\"schema_version\"", pos + 1)) {
    ++docs;
  }
  EXPECT_EQ(docs, 1u) << got;
  auto j = nlohmann::json::parse(got, nullptr, false);
  ASSERT_TRUE(j.is_object()) << "not one JSON document: " << got;
  // Written by the stop timer: the strategy's counters were not merged yet,
  // so the file says so instead of reporting zeros.
  EXPECT_EQ(j["complete"], false) << got;
  EXPECT_TRUE(j["counters"].is_null()) << got;
  EXPECT_NE(server.process().stderr_text().find("did not return within"), std::string::npos)
      << server.process().stderr_text();
}

// thread: a connection's thread closes its fd before it leaves the live set;
// the acceptor can be handed the same fd number meanwhile. Removal by fd
// number then dropped the *new* connection from the set, SIGTERM never shut
// it down, and its counters were lost. Churn (fds recycled constantly) plus
// connections that stay open, then SIGTERM: every accepted connection must
// be counted closed.
TEST(ServerStop, ThreadCountsEveryConnectionClosedAfterChurn) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string stats = dir.path() + "/stats.json";
  Server server("thread", {"--stats", stats});
  ASSERT_TRUE(server.ok()) << server.process().stderr_text();

  std::atomic<bool> stop{false};
  std::atomic<int> churned{0};
  auto churn = [&] {
    for (int i = 0; i < 3000 && !stop.load(); ++i) {
      int fd = connect_loopback(server.port());
      if (fd < 0) continue;
      if (write_all(fd, "x\n", 2)) read_exactly(fd, 2, 2s);
      ::close(fd);
      churned.fetch_add(1);
    }
  };
  std::vector<std::thread> churners;
  for (int t = 0; t < 2; ++t) churners.emplace_back(churn);
  // Connections that stay open, opened while the churn recycles fd numbers;
  // each is checked to be served, so it is past accept().
  std::vector<int> idle;
  for (int i = 0; i < 400; ++i) {
    int fd = connect_loopback(server.port());
    if (fd < 0) continue;
    idle.push_back(fd);
    if (write_all(fd, "y\n", 2)) read_exactly(fd, 2, 2s);
  }
  stop.store(true);
  for (auto& t : churners) t.join();

  server.process().signal(SIGTERM);
  const int status = server.process().wait(5s);
  for (int fd : idle) ::close(fd);
  ASSERT_NE(status, -1) << "still running after SIGTERM";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  auto j = read_stats(stats);
  ASSERT_TRUE(j.is_object()) << "--stats file missing or invalid";
  const auto& c = j["counters"];
  EXPECT_GE(c["accepted"].get<long>(), static_cast<long>(idle.size()) + churned.load());
  EXPECT_EQ(c["accepted"].get<long>(), c["closed"].get<long>())
      << "connections accepted but never counted closed (" << idle.size() << " idle, "
      << churned.load() << " churned)";
}

}  // namespace
}  // namespace muxbench::test
