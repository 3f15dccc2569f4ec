// What one cell saw of its two sides, as plain data, and the pure functions
// that turn it into the recorded metrics and the verdict (docs/results.md).
// Nothing here runs a process: tests feed these functions JSON fixtures
// (tests/harness/fixtures/cells/).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sampler.h"
#include "suite.h"

namespace muxbench::harness {

// The server side, as the serve-cell agent reported it (agent.h).
struct ServerObservation {
  json ready = nullptr;              // the "ready" event; null: never ready
  std::vector<GroupSample> samples;  // the "sample" events, t_s from READY
  json done = nullptr;               // the "done" event; null: the agent never said
  std::string start_failure;         // non-empty: why the server never got READY
  std::string died;                  // non-empty: how it ended during the run
};

// The load-generator side, as the harness saw it.
struct LoadgenObservation {
  bool started = false;
  std::string start_error;           // when it did not start
  std::optional<json> report;        // rank 0's report, when it passed check_loadgen_report
  std::string report_error;          // why there is none (an invalid one names the field)
  std::string exit;                  // "exited 0", "signal 9 (Killed)"
  std::string stderr_tail;
  double start_s = 0, end_s = 0;     // relative to the server's READY
  bool timed_out = false;
  double timeout_s = 0;
};

// Every metric, null: the metrics of a cell that did not run.
json empty_metrics();

// The metrics object of a cell record; *measurement gets the "measurement"
// object (the CPU window and how CPU per request was computed).
json cell_metrics(const CellPlan& plan, const ServerObservation& server,
                  const LoadgenObservation& loadgen, json* measurement);

// Which side limited a cell. A side is busy when its busiest thread was
// busy (CPU time + run-queue wait, over wall time) at least
// kBoundBusyFraction of the measurement; the load generator's own
// saturation threshold is the same. server-bound: only the server busy;
// client-bound: only the load generator; both; neither (the network, a
// rate, or think time set the pace). nullopt: a side is unknown.
inline constexpr double kBoundBusyFraction = 0.9;
std::optional<std::string> bound_side(std::optional<double> server_busy,
                                      std::optional<double> client_busy);

// Checks what the harness (and every reader of results files) reads from a
// load generator's --json report: `status` "ok" or "failed", and the type of
// every field used for metrics and verdicts when present (docs/results.md,
// "Reading results files"). Throws SuiteError naming the field under `path`.
void check_loadgen_report(const json& report, const std::string& path);

// Why the cell failed, the most specific reason first; nullopt: it is ok.
// The load generator ran past its timeout and the server accepted no
// connection: it never reached the server.
bool loadgen_never_reached(const ServerObservation& server, const LoadgenObservation& loadgen);

std::optional<std::string> cell_failure(const ServerObservation& server,
                                        const LoadgenObservation& loadgen);

// Open loop: whether the load generator kept its schedule. A request
// *missed* it when it was due in the measurement but not sent within it
// (sent late in the drain, or never: the load generator's `rate.missed`).
// The schedule is met when at most kRateMissMaxFraction of the due requests
// missed it: a request due in the window's last microseconds and sent just
// after is noise, a server (or client) that fell behind is not. Without
// this, an open-loop cell whose client could not send what was asked would
// pass as `ok`, with a corrected latency that looks better than the truth.
inline constexpr double kRateMissMaxFraction = 0.01;
struct RateCheck {
  double due = 0;       // requests due in the window
  double missed = 0;    // not sent within it
  double censored = 0;  // no reply by the end of the drain (latency a lower bound)
  double missed_fraction() const { return due > 0 ? missed / due : (missed > 0 ? 1 : 0); }
  bool met() const { return missed_fraction() <= kRateMissMaxFraction; }
};
// From a load generator report: nullopt in closed loop or when it cannot
// tell. Reports written before `rate.due` existed never sent in the drain:
// there `missed` is `rate.unsent` and `due` the target rate times the
// measurement.
std::optional<RateCheck> rate_check(const json& loadgen_report);

// The verdict of a cell that ran: "ok", "failed" (reason: cell_failure) or
// "rate_not_met" (it ran cleanly, its metrics stand, but the open-loop
// schedule was missed; the reason gives the numbers). A failure wins.
struct CellVerdict {
  std::string status;
  std::optional<std::string> reason;
};
CellVerdict cell_verdict(const ServerObservation& server, const LoadgenObservation& loadgen);

// Samples as the agent streams them.
json sample_to_json(const GroupSample& s);
GroupSample sample_from_json(const json& j);

// Whole observations as JSON (fixtures, and the agent's ready/done events).
ServerObservation server_observation_from_json(const json& j);
LoadgenObservation loadgen_observation_from_json(const json& j);

}  // namespace muxbench::harness
