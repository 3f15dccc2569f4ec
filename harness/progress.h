// Progress of a run, on stderr. On a terminal: one live line (cell i/N,
// strategy, workload, connections, phase, elapsed, estimated time left, the
// last cell's headline). Otherwise: one plain line per finished cell.
#pragma once

#include <chrono>
#include <string>

#include "suite.h"

namespace muxbench::harness {

class Progress {
 public:
  // `total` cells in the run, `estimate_s` the planned time of those left to
  // run; `tty`: draw the live line.
  Progress(int total, double estimate_s, bool tty);

  void begin_cell(int index, const CellPlan& cell, double estimate_s);
  void phase(const std::string& name);
  void tick();  // redraws the live line (at most every 250 ms)
  void end_cell(const json& record);
  void message(const std::string& line);  // a line above the live line
  void clear();                           // removes the live line

 private:
  void draw(bool force);

  using Clock = std::chrono::steady_clock;
  int total_;
  double estimate_left_s_;   // planned seconds of the cells not yet finished
  double planned_done_s_ = 0;  // planned seconds of finished cells
  bool tty_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point cell_start_;
  Clock::time_point last_draw_{};
  int index_ = 0;
  double cell_estimate_s_ = 0;
  std::string label_;
  std::string phase_;
  std::string last_;
  bool drawn_ = false;
};

}  // namespace muxbench::harness
