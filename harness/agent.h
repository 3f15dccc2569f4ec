// The server side of a cell: `muxbench serve-cell`, a small agent that runs
// next to the server, on the server's host, and the harness's handle on it.
//
// The agent starts muxbench-server in its own process group (pinned if
// asked), waits for READY, samples the group from /proc there (sampler.h),
// and on "stop" stops it (SIGTERM, a grace period, SIGKILL to the group) and
// reads its --stats file. Everything it learns goes to stdout as JSON lines:
//
//   {"event":"ready","port":41234,"pid":1234,"host":"h1","idle":{...}}
//   {"event":"sample","t_s":0.1,"cpu_user_s":...,"rss_bytes":...}   (~10/s)
//   {"event":"exited","t_s":2.5,"exit":"signal 9 (Killed)"}          (died early)
//   {"event":"failed","reason":"no READY line within 10 s: ..."}      (never ready)
//   {"event":"done","exit":"exited 0","clean":true,"stop_hung":false,...}
//
// It reads commands from stdin: "stop" (or EOF, SIGTERM, SIGINT) ends it.
// Locally the harness runs it as a child; on another host mpirun starts it
// (and forwards stdin and stdout), so a local and a remote cell take the same
// path. Times (t_s) count from the agent's READY; the harness maps them onto
// its own clock at the moment the ready line arrives (mpirun's forwarding adds
// a few milliseconds, small against a measurement window).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cell_observation.h"
#include "spawn.h"

namespace muxbench::harness {

// The harness's side: one agent process (direct, or mpirun running it).
class ServerAgent {
 public:
  static std::optional<ServerAgent> start(const SpawnOptions& so, std::string* err);

  // Reads events until "ready" or "failed", the agent's exit or `deadline`.
  // Returns the port (0: not ready; obs().start_failure says why).
  int wait_ready(Clock::time_point deadline, const std::function<bool()>& interrupted);

  // Takes the events that arrived, without waiting. True while the server lives.
  bool poll();

  // "stop", then events until "done" (bounded by `deadline`), then the agent
  // process is reaped (and its group killed if it lingers).
  void stop(Clock::time_point deadline);

  // Interrupted: stop quickly, leaving nothing behind.
  void abandon();

  const ServerObservation& obs() const { return obs_; }
  Clock::time_point ready_at() const { return ready_at_; }
  pid_t pid() const { return child_.pid(); }

 private:
  explicit ServerAgent(Child c) : child_(std::move(c)) {}
  void take(const std::string& line);  // one event line into obs_
  void end_process(Clock::time_point deadline);

  Child child_;
  ServerObservation obs_;
  Clock::time_point ready_at_{};
  std::string stderr_path_;
};

}  // namespace muxbench::harness
