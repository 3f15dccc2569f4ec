#include "sampler.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <unordered_map>

namespace muxbench::harness {
namespace {

using std::chrono::duration;

constexpr int kPssMaxProcesses = 2000;

const double kTick = [] {
  long t = ::sysconf(_SC_CLK_TCK);
  return 1.0 / static_cast<double>(t > 0 ? t : 100);
}();
const std::uint64_t kPage = [] {
  long p = ::sysconf(_SC_PAGESIZE);
  return static_cast<std::uint64_t>(p > 0 ? p : 4096);
}();

// Fields of /proc/PID/stat after the command name, numbered as in proc(5).
struct ProcStat {
  char state = 0;
  long pgrp = 0;
  unsigned long long utime = 0, stime = 0;
  long long cutime = 0, cstime = 0;
  long num_threads = 0;
  long long rss_pages = 0;
};

bool read_stat(const char* pid, ProcStat* out) {
  char path[300];
  std::snprintf(path, sizeof path, "/proc/%s/stat", pid);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return false;
  // 3 state, 4 ppid, 5 pgrp, 6 session, 7 tty_nr, 8 tpgid, 9 flags, 10 minflt,
  // 11 cminflt, 12 majflt, 13 cmajflt, 14 utime, 15 stime, 16 cutime,
  // 17 cstime, 18 priority, 19 nice, 20 num_threads, 21 itrealvalue,
  // 22 starttime, 23 vsize, 24 rss
  long ppid = 0;
  int got = std::sscanf(p + 1,
                        " %c %ld %ld %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld %*d %*d "
                        "%ld %*d %*u %*u %lld",
                        &out->state, &ppid, &out->pgrp, &out->utime, &out->stime, &out->cutime,
                        &out->cstime, &out->num_threads, &out->rss_pages);
  return got == 9;
}

double thread_cpu_s() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

std::uint64_t mem_available_bytes() {
  int fd = ::open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[2048];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* p = std::strstr(buf, "MemAvailable:");
  return p ? std::strtoull(p + 13, nullptr, 10) * 1024 : 0;
}

std::optional<std::uint64_t> group_pss_bytes(pid_t pgid, int max_processes) {
  std::vector<std::string> pids;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return std::nullopt;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    ProcStat st;
    if (read_stat(e->d_name, &st) && st.pgrp == pgid && st.state != 'Z' && st.state != 'X') {
      pids.emplace_back(e->d_name);
    }
  }
  ::closedir(d);
  if (pids.empty() || static_cast<int>(pids.size()) > max_processes) return std::nullopt;
  std::uint64_t total = 0;
  char path[300];
  char buf[4096];
  for (const auto& pid : pids) {
    std::snprintf(path, sizeof path, "/proc/%s/smaps_rollup", pid.c_str());
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // it exited meanwhile
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    const char* pss = std::strstr(buf, "\nPss:");
    if (pss != nullptr) total += std::strtoull(pss + 5, nullptr, 10) * 1024;
  }
  return total;
}

namespace {

// Calls f(tid, run_ns, wait_ns) for every thread of `pid`, from
// /proc/PID/task/TID/schedstat (time on a CPU, time runnable but waiting).
template <typename F>
void for_each_thread_schedstat(int pid, F f) {
  char path[300];
  std::snprintf(path, sizeof path, "/proc/%d/task", pid);
  DIR* d = ::opendir(path);
  if (d == nullptr) return;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    std::snprintf(path, sizeof path, "/proc/%d/task/%s/schedstat", pid, e->d_name);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[128];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    char* end = nullptr;
    std::uint64_t run = std::strtoull(buf, &end, 10);
    std::uint64_t wait = std::strtoull(end, nullptr, 10);
    f(std::atol(e->d_name), run, wait);
  }
  ::closedir(d);
}

}  // namespace

std::uint64_t process_runtime_ns(pid_t pid) {
  std::uint64_t total = 0;
  for_each_thread_schedstat(static_cast<int>(pid),
                            [&](long, std::uint64_t run, std::uint64_t) { total += run; });
  return total;
}

std::vector<std::pair<long, std::uint64_t>> thread_busy_ns(const std::vector<int>& pids) {
  std::vector<std::pair<long, std::uint64_t>> out;
  for (int pid : pids) {
    for_each_thread_schedstat(pid, [&](long tid, std::uint64_t run, std::uint64_t wait) {
      out.emplace_back(tid, run + wait);
    });
  }
  return out;
}

GroupSample sample_group(pid_t pgid, std::vector<int>* pids) {
  GroupSample g;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return g;
  long long user_ticks = 0, sys_ticks = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    ProcStat st;
    if (!read_stat(e->d_name, &st) || st.pgrp != pgid) continue;
    // A zombie's times still count (its parent has not added them to its
    // cutime yet); it has no memory and is not a live process.
    user_ticks += static_cast<long long>(st.utime) + st.cutime;
    sys_ticks += static_cast<long long>(st.stime) + st.cstime;
    if (st.state == 'Z' || st.state == 'X') continue;
    g.rss_bytes += static_cast<std::uint64_t>(std::max(0LL, st.rss_pages)) * kPage;
    g.processes += 1;
    if (pids != nullptr) pids->push_back(std::atoi(e->d_name));
    g.threads += static_cast<int>(st.num_threads);
  }
  ::closedir(d);
  g.mem_available_bytes = mem_available_bytes();
  g.cpu_user_s = static_cast<double>(user_ticks) * kTick;
  g.cpu_sys_s = static_cast<double>(sys_ticks) * kTick;
  return g;
}

Sampler::Sampler(pid_t pgid, Clock::time_point epoch, std::chrono::milliseconds interval)
    : pgid_(pgid), epoch_(epoch), interval_(interval) {
  thread_ = std::thread([this] { loop(); });
}

Sampler::~Sampler() {
  if (thread_.joinable()) stop();
}

void Sampler::loop() {
  auto next = Clock::now();
  auto next_pss = Clock::now();
  const auto pss_interval = std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(500));
  auto interval = std::chrono::duration_cast<Clock::duration>(interval_);
  std::unordered_map<long, std::uint64_t> busy_before;  // tid -> ns at the last scan
  double busy_before_t = -1;
  std::vector<int> pids;
  for (;;) {
    auto t0 = Clock::now();
    double c0 = thread_cpu_s();
    pids.clear();
    GroupSample g = sample_group(pgid_, &pids);
    std::vector<std::pair<long, std::uint64_t>> busy;
    if (g.threads <= kBusyMaxThreads) busy = thread_busy_ns(pids);
    double scan_cpu = thread_cpu_s() - c0;
    auto t1 = Clock::now();
    g.t_s = std::chrono::duration<double>(t0 - epoch_).count() +
            std::chrono::duration<double>(t1 - t0).count() / 2;
    if (g.threads <= kBusyMaxThreads) {
      const double dt = g.t_s - busy_before_t;
      if (busy_before_t >= 0 && dt > 0) {
        g.busy_max = g.busy_total = 0;
        for (const auto& [tid, ns] : busy) {
          // A thread born since the last scan: all of its time is in the interval.
          auto it = busy_before.find(tid);
          double d = static_cast<double>(ns - (it != busy_before.end() ? std::min(it->second, ns) : 0)) / 1e9;
          double f = std::min(1.0, d / dt);
          g.busy_max = std::max(g.busy_max, f);
          g.busy_total += f;
        }
      }
      busy_before.clear();
      for (const auto& [tid, ns] : busy) busy_before[tid] = ns;
      busy_before_t = g.t_s;
    } else {
      busy_before_t = -1;
    }
    double scan_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    {
      std::lock_guard<std::mutex> lock(mu_);
      samples_.push_back(g);
      scan_ms_max_ = std::max(scan_ms_max_, scan_ms);
      scan_cpu_ms_total_ += scan_cpu * 1000;
    }
    // Keep the sampler's own cost under ~5% of a CPU (its CPU time: the wall
    // time of a scan includes waiting for a CPU on a busy machine).
    auto scan = std::chrono::duration_cast<Clock::duration>(duration<double>(scan_cpu));
    if (scan * 20 > interval) interval = scan * 20;
    if (stop_.load()) return;
    if (g.processes > kPssMaxProcesses) {
      std::lock_guard<std::mutex> lock(mu_);
      pss_incomplete_ = true;  // a peak it could not read: no peak at all
    } else if (Clock::now() >= next_pss) {
      double p0 = thread_cpu_s();
      auto pss = group_pss_bytes(pgid_, kPssMaxProcesses);
      double cost = thread_cpu_s() - p0;
      next_pss = Clock::now() + std::max<Clock::duration>(
                                    pss_interval, std::chrono::duration_cast<Clock::duration>(
                                                      duration<double>(cost * 20)));
      std::lock_guard<std::mutex> lock(mu_);
      scan_cpu_ms_total_ += cost * 1000;
      if (pss && (!pss_peak_ || *pss > *pss_peak_)) pss_peak_ = pss;
    }
    next += interval;
    auto now = Clock::now();
    if (next < now) next = now;
    while (!stop_.load() && Clock::now() < next) {
      std::this_thread::sleep_for(std::min<Clock::duration>(next - Clock::now(),
                                                            std::chrono::milliseconds(10)));
    }
  }
}

std::vector<GroupSample> Sampler::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  return samples_;
}

std::vector<GroupSample> Sampler::samples_from(std::size_t first) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (first >= samples_.size()) return {};
  return {samples_.begin() + static_cast<std::ptrdiff_t>(first), samples_.end()};
}

std::optional<std::uint64_t> Sampler::pss_peak_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (pss_incomplete_) return std::nullopt;
  return pss_peak_;
}

Sampler::Stats Sampler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s;
  s.samples = static_cast<int>(samples_.size());
  if (samples_.size() >= 2) {
    s.interval_ms_mean =
        (samples_.back().t_s - samples_.front().t_s) * 1000.0 / (samples_.size() - 1);
  }
  s.scan_ms_max = scan_ms_max_;
  s.scan_cpu_ms_total = scan_cpu_ms_total_;
  return s;
}

SampleSummary summarize(const std::vector<GroupSample>& s, double from_s, double to_s) {
  SampleSummary out;
  for (const auto& g : s) {
    if (g.t_s < from_s || g.t_s > to_s) continue;
    out.rss_peak_bytes = std::max(out.rss_peak_bytes, g.rss_bytes);
    out.processes_max = std::max(out.processes_max, g.processes);
    out.threads_max = std::max(out.threads_max, g.threads);
    if (g.mem_available_bytes > 0 &&
        (out.mem_available_min_bytes == 0 || g.mem_available_bytes < out.mem_available_min_bytes)) {
      out.mem_available_min_bytes = g.mem_available_bytes;
    }
  }
  return out;
}

std::optional<std::pair<double, double>> cpu_between(const std::vector<GroupSample>& s,
                                                     double from_s, double to_s) {
  if (s.size() < 2 || to_s <= from_s) return std::nullopt;
  // Group CPU is cumulative but can dip for an instant (a child exits and is
  // reaped between reading it and reading its parent); use the running max.
  std::vector<double> user(s.size()), sys(s.size());
  double mu = 0, ms = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    mu = std::max(mu, s[i].cpu_user_s);
    ms = std::max(ms, s[i].cpu_sys_s);
    user[i] = mu;
    sys[i] = ms;
  }
  // Allow half an interval of slack at either end: the window comes from the
  // load generator's phase durations, the samples from our own clock.
  double slack = (s.back().t_s - s.front().t_s) / static_cast<double>(s.size() - 1) / 2;
  if (from_s < s.front().t_s - slack || to_s > s.back().t_s + slack) return std::nullopt;
  auto at = [&](const std::vector<double>& v, double t) {
    if (t <= s.front().t_s) return v.front();
    if (t >= s.back().t_s) return v.back();
    auto it = std::lower_bound(s.begin(), s.end(), t,
                               [](const GroupSample& g, double x) { return g.t_s < x; });
    std::size_t i = static_cast<std::size_t>(it - s.begin());
    double t0 = s[i - 1].t_s, t1 = s[i].t_s;
    double f = t1 > t0 ? (t - t0) / (t1 - t0) : 1.0;
    return v[i - 1] + f * (v[i] - v[i - 1]);
  };
  return std::make_pair(at(user, to_s) - at(user, from_s), at(sys, to_s) - at(sys, from_s));
}

}  // namespace muxbench::harness
