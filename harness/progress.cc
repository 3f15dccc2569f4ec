#include "progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "report.h"

namespace muxbench::harness {

Progress::Progress(int total, double estimate_s, bool tty)
    : total_(total), estimate_left_s_(estimate_s), tty_(tty) {}

void Progress::begin_cell(int index, const CellPlan& cell, double estimate_s) {
  index_ = index;
  cell_start_ = Clock::now();
  cell_estimate_s_ = estimate_s;
  label_ = cell.strategy + " " + cell.workload + " c" + std::to_string(cell.connections) + " r" +
           std::to_string(cell.repetition);
  phase_ = "start";
  draw(true);
}

void Progress::phase(const std::string& name) {
  phase_ = name;
  draw(true);
}

void Progress::tick() { draw(false); }

void Progress::draw(bool force) {
  if (!tty_) return;
  auto now = Clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(250)) return;
  last_draw_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double in_cell = std::chrono::duration<double>(now - cell_start_).count();
  // Scale the plan by how the finished cells compared with it.
  double actual_done = elapsed - in_cell;
  double scale = planned_done_s_ > 5 ? std::clamp(actual_done / planned_done_s_, 0.5, 3.0) : 1.0;
  double left = std::max(0.0, (estimate_left_s_ - std::min(in_cell, cell_estimate_s_)) * scale);
  char head[64];
  std::snprintf(head, sizeof head, "[%d/%d] ", index_ + 1, total_);
  std::string line = head + label_ + "  " + phase_ + "  " + format_duration(elapsed) +
                     " elapsed, ~" + format_duration(left) + " left";
  if (!last_.empty()) line += "  | last: " + last_;
  winsize ws{};
  std::size_t cols = 100;
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10) cols = ws.ws_col - 1;
  // Cut to the terminal width (counting UTF-8 characters, not bytes).
  std::size_t chars = 0, cut = line.size();
  for (std::size_t i = 0; i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0) != 0x80) {
      if (chars == cols) {
        cut = i;
        break;
      }
      ++chars;
    }
  }
  line.resize(cut);
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::end_cell(const json& record) {
  estimate_left_s_ = std::max(0.0, estimate_left_s_ - cell_estimate_s_);
  planned_done_s_ += cell_estimate_s_;
  std::string label = record.value("strategy", "") + " " + record.value("workload", "") + " c" +
                      std::to_string(record.value("connections", 0));
  if (record.value("status", "") != "skipped") last_ = label + ": " + headline(record);
  if (!tty_) {
    char head[64];
    std::snprintf(head, sizeof head, "[%d/%d] ", index_ + 1, total_);
    std::string status = record.value("status", "");
    std::string line = head + record.value("id", "") + ": " + headline(record);
    if (status != "skipped") {
      char el[32];
      std::snprintf(el, sizeof el, " (%.1f s)", record.value("elapsed_s", 0.0));
      line += el;
    }
    std::fprintf(stderr, "%s\n", line.c_str());
    return;
  }
  if (record.value("status", "") == "failed") message("FAILED " + record.value("id", "") + ": " +
                                                     record["reason"].get<std::string>());
  if (record.value("status", "") == kRateNotMet) {
    message("RATE NOT MET " + record.value("id", "") + ": " + record["reason"].get<std::string>());
  }
  draw(true);
}

void Progress::message(const std::string& line) {
  if (tty_ && drawn_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s\n", line.c_str());
  if (tty_ && drawn_) draw(true);
}

void Progress::clear() {
  if (tty_ && drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace muxbench::harness
