// muxbench-minclient: the smallest honest epoll ping-pong client, the yardstick
// for muxbench-loadgen's own overhead (scripts/loadgen-overhead.sh).
//
// N blocking connects, then per thread one level-triggered epoll loop: when a
// whole reply has arrived, write the next request. No verification, no
// latency, no clock per request: only a count. What it costs per request is
// the floor a load generator can reach with the same syscalls
// (read + write + a share of epoll_wait).
//
//   muxbench-minclient --target 127.0.0.1:40713 --connections 100 --duration 5
//   minclient connections=100 threads=1 ... requests_per_s=251234.5 cpu_user_s=... cpu_sys_s=...
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "muxbench/line_codec.h"
#include "muxbench/net.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Shared {
  std::atomic<bool> counting{false};
  std::atomic<bool> stop{false};
};

struct alignas(64) Count {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
};

void client_thread(const std::vector<int>& fds, std::size_t msg, int cpu, Shared& shared,
                   Count& out) {
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<std::size_t> got(fds.size(), 0);
  for (std::size_t i = 0; i < fds.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
  }
  std::string request(msg - 1, 'a');
  request.push_back('\n');
  for (int fd : fds) {
    if (::write(fd, request.data(), msg) != static_cast<ssize_t>(msg)) ++out.errors;
  }
  char buf[65536];
  epoll_event events[1024];
  std::uint64_t requests = 0;
  bool counting = false;
  while (!shared.stop.load(std::memory_order_relaxed)) {
    int n = ::epoll_wait(ep, events, 1024, 100);
    if (!counting && shared.counting.load(std::memory_order_relaxed)) {
      counting = true;
      requests = 0;
    }
    for (int i = 0; i < n; ++i) {
      const std::size_t k = events[i].data.u64;
      ssize_t r = ::read(fds[k], buf, sizeof buf);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        ++out.errors;
        ::epoll_ctl(ep, EPOLL_CTL_DEL, fds[k], nullptr);
        continue;
      }
      got[k] += static_cast<std::size_t>(r);
      if (got[k] < msg) continue;
      got[k] -= msg;
      ++requests;
      if (::write(fds[k], request.data(), msg) != static_cast<ssize_t>(msg)) ++out.errors;
    }
  }
  out.requests = counting ? requests : 0;
  ::close(ep);
}

double cpu_seconds(const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

}  // namespace

int main(int argc, char** argv) {
  std::string target = "127.0.0.1:" + std::to_string(muxbench::kDefaultPort);
  int connections = 10;
  int threads = 1;
  std::size_t msg = 64;
  double warmup = 1.0;
  double duration = 5.0;
  std::vector<int> cpus;
  CLI::App app{"muxbench-minclient: minimal epoll ping-pong client (the overhead yardstick)"};
  app.add_option("--target", target, "HOST:PORT: IPv4, [IPv6] or a host name")
      ->capture_default_str();
  app.add_option("--connections", connections)->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--threads", threads)->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--message-size", msg, "Bytes per line including '\\n'")
      ->check(CLI::Range(std::size_t{1}, std::size_t{65536}))
      ->capture_default_str();
  app.add_option("--warmup", warmup)->check(CLI::Range(0.0, 3600.0))->capture_default_str();
  app.add_option("--duration", duration)->check(CLI::Range(0.01, 3600.0))->capture_default_str();
  app.add_option("--cpu", cpus, "CPU per thread (thread i on the i-th)")->delimiter(',');
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "muxbench-minclient: %s\n", e.what());
    return 2;
  }
  muxbench::SockAddr addr;
  std::string err;
  std::string host;
  std::uint16_t port = 0;
  if (!muxbench::split_host_port(target, &host, &port, &err)) {
    std::fprintf(stderr, "muxbench-minclient: --target %s: %s\n", target.c_str(), err.c_str());
    return 2;
  }
  if (!muxbench::resolve_host_port(target, &addr, &err)) {
    std::fprintf(stderr, "muxbench-minclient: --target %s: %s\n", target.c_str(), err.c_str());
    return 1;
  }
  muxbench::ignore_sigpipe();
  muxbench::raise_nofile_limit();
  if (threads > connections) threads = connections;

  std::vector<std::vector<int>> fds(static_cast<std::size_t>(threads));
  for (int i = 0; i < connections; ++i) {
    int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, addr.get(), addr.len) != 0) {
      std::fprintf(stderr, "muxbench-minclient: connect %s: %s\n", target.c_str(),
                   muxbench::errno_string(errno).c_str());
      return 1;
    }
    muxbench::set_nodelay(fd);
    muxbench::set_nonblocking(fd);
    fds[static_cast<std::size_t>(i % threads)].push_back(fd);
  }

  Shared shared;
  std::vector<Count> counts(static_cast<std::size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    const int cpu = cpus.empty() ? -1 : cpus[static_cast<std::size_t>(t) % cpus.size()];
    workers.emplace_back(client_thread, std::cref(fds[static_cast<std::size_t>(t)]), msg, cpu,
                         std::ref(shared), std::ref(counts[static_cast<std::size_t>(t)]));
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
  rusage r0{};
  ::getrusage(RUSAGE_SELF, &r0);
  const auto t0 = Clock::now();
  shared.counting.store(true);
  std::this_thread::sleep_for(std::chrono::duration<double>(duration));
  shared.stop.store(true);
  const auto t1 = Clock::now();
  rusage r1{};
  ::getrusage(RUSAGE_SELF, &r1);
  for (auto& w : workers) w.join();

  std::uint64_t requests = 0, errors = 0;
  for (const Count& c : counts) {
    requests += c.requests;
    errors += c.errors;
  }
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  const double user = cpu_seconds(r1.ru_utime) - cpu_seconds(r0.ru_utime);
  const double sys = cpu_seconds(r1.ru_stime) - cpu_seconds(r0.ru_stime);
  std::printf(
      "minclient connections=%d threads=%d message_size=%zu duration_s=%.3f requests=%llu "
      "requests_per_s=%.1f cpu_user_s=%.3f cpu_sys_s=%.3f requests_per_cpu_s=%.1f errors=%llu\n",
      connections, threads, msg, secs, static_cast<unsigned long long>(requests),
      static_cast<double>(requests) / secs, user, sys,
      user + sys > 0 ? static_cast<double>(requests) / (user + sys) : 0.0,
      static_cast<unsigned long long>(errors));
  for (auto& v : fds) {
    for (int fd : v) ::close(fd);
  }
  return 0;
}
