// Measures a server from the outside: every ~100 ms, /proc for every process
// of its process group (the server, the children it forked) and their threads.
//
// CPU: a process's utime/stime in /proc/PID/stat already include its exited
// threads; cutime/cstime add the children it has reaped. Summing
// utime+stime+cutime+cstime over the group therefore counts a forked child
// while it lives and, through its parent, after it was reaped. (A child whose
// parent ignores SIGCHLD is reaped by the kernel and its time after the last
// sample is lost; wait4() at the end is exact for everything else.)
//
// Reading /proc costs CPU on the machine being measured. The interval grows
// when one scan takes more than 5% of it (10,000 forked children), and the
// figures are recorded with the cell.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace muxbench::harness {

struct GroupSample {
  double t_s = 0;            // seconds since the sampler's epoch (steady clock)
  double cpu_user_s = 0;     // the whole group, including reaped children
  double cpu_sys_s = 0;
  std::uint64_t rss_bytes = 0;  // resident set summed over the processes
  int processes = 0;         // live processes in the group
  int threads = 0;           // their threads
  std::uint64_t mem_available_bytes = 0;  // the machine's MemAvailable
  // Since the previous sample, per thread of the group: (CPU time + time
  // runnable but waiting for a CPU) / wall time, from
  // /proc/PID/task/TID/schedstat, the way the load generator measures
  // itself. busy_max: the busiest thread; busy_total: summed over threads
  // (CPUs' worth). -1: unknown (first sample, or more than kBusyMaxThreads).
  double busy_max = -1;
  double busy_total = -1;
};

// Above this many threads the per-thread busy figures are not read (a scan
// of 10,000 schedstat files every 100 ms would cost more than it tells).
inline constexpr int kBusyMaxThreads = 4000;

// The machine's MemAvailable (/proc/meminfo), in bytes.
std::uint64_t mem_available_bytes();

// One scan of process group `pgid`. `t_s` is left 0; the live processes'
// pids go to *pids when given.
GroupSample sample_group(pid_t pgid, std::vector<int>* pids = nullptr);

// CPU time + run-queue wait (ns) of every thread of these processes, by tid.
std::vector<std::pair<long, std::uint64_t>> thread_busy_ns(const std::vector<int>& pids);

// Proportional set size summed over the group (/proc/PID/smaps_rollup):
// shared pages split between the processes sharing them, so forked children
// are not counted many times over as in the RSS sum. Walking page tables is
// costly: nullopt when the group has more than `max_processes` processes.
std::optional<std::uint64_t> group_pss_bytes(pid_t pgid, int max_processes = 2000);

// CPU time of one process's live threads, in ns (summed
// /proc/PID/task/*/schedstat: precise, unlike the 10 ms ticks of stat).
std::uint64_t process_runtime_ns(pid_t pid);

class Sampler {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts sampling `pgid` on a thread, times relative to `epoch`.
  Sampler(pid_t pgid, Clock::time_point epoch,
          std::chrono::milliseconds interval = std::chrono::milliseconds(100));
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // Stops the thread; returns every sample taken.
  std::vector<GroupSample> stop();

  // The samples taken so far, from the `first` on (for streaming them).
  std::vector<GroupSample> samples_from(std::size_t first) const;

  // The largest group_pss_bytes() reading: taken every 500 ms or less often
  // (cost-bounded like the scans). nullopt when the group ever had more than
  // 2000 processes: the peak was then not read.
  std::optional<std::uint64_t> pss_peak_bytes() const;

  struct Stats {
    int samples = 0;
    double interval_ms_mean = 0;
    double scan_ms_max = 0;       // wall time of the slowest scan
    double scan_cpu_ms_total = 0;  // the sampler's own CPU time, all scans
  };
  Stats stats() const;

 private:
  void loop();

  pid_t pgid_;
  Clock::time_point epoch_;
  std::chrono::milliseconds interval_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<GroupSample> samples_;
  double scan_ms_max_ = 0;
  double scan_cpu_ms_total_ = 0;
  std::optional<std::uint64_t> pss_peak_;
  bool pss_incomplete_ = false;
  std::thread thread_;
};

// Peak/maxima and CPU over a window, from a series of samples.
struct SampleSummary {
  std::uint64_t rss_peak_bytes = 0;
  std::uint64_t mem_available_min_bytes = 0;  // 0: no sample
  int processes_max = 0;
  int threads_max = 0;
};
SampleSummary summarize(const std::vector<GroupSample>& s, double from_s, double to_s);

// Group CPU (user, sys) consumed between from_s and to_s, linearly
// interpolated between samples. nullopt when the samples do not cover it.
std::optional<std::pair<double, double>> cpu_between(const std::vector<GroupSample>& s,
                                                     double from_s, double to_s);

}  // namespace muxbench::harness
