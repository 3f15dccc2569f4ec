#include "agent.h"

#include <signal.h>

#include <thread>

namespace muxbench::harness {

std::optional<ServerAgent> ServerAgent::start(const SpawnOptions& so, std::string* err) {
  SpawnOptions o = so;
  o.stdin_pipe = true;
  o.stdout_path.clear();  // events come through the pipe
  auto child = Child::spawn(o, err);
  if (!child) return std::nullopt;
  ServerAgent a(std::move(*child));
  a.stderr_path_ = so.stderr_path;
  return a;
}

void ServerAgent::take(const std::string& line) {
  json e = json::parse(line, nullptr, false);
  if (!e.is_object() || !e.contains("event") || !e["event"].is_string()) return;  // mpirun's chatter
  const std::string kind = e["event"].get<std::string>();
  if (kind == "sample") {
    obs_.samples.push_back(sample_from_json(e));
  } else if (kind == "ready") {
    obs_.ready = e;
    ready_at_ = Clock::now();
  } else if (kind == "exited") {
    obs_.died = e.value("exit", std::string("exited"));
  } else if (kind == "failed") {
    obs_.start_failure = e.value("reason", std::string("no reason given"));
  } else if (kind == "done") {
    obs_.done = e;
  }
}

int ServerAgent::wait_ready(Clock::time_point deadline, const std::function<bool()>& interrupted) {
  while (obs_.ready.is_null() && obs_.start_failure.empty()) {
    if (interrupted()) return 0;
    auto slice = std::min(deadline, Clock::now() + std::chrono::milliseconds(100));
    if (auto line = child_.read_line(slice)) {
      take(*line);
      continue;
    }
    if (child_.exited()) {
      obs_.start_failure = "the server agent " + child_.exit_info()->describe() +
                           " before READY: " + file_tail(stderr_path_, 300);
    } else if (Clock::now() >= deadline) {
      obs_.start_failure = "no READY from the server agent in time: " + file_tail(stderr_path_, 300);
    }
  }
  return obs_.ready.is_null() ? 0 : obs_.ready.value("port", 0);
}

bool ServerAgent::poll() {
  while (auto line = child_.read_line(Clock::now())) take(*line);
  if (obs_.died.empty() && child_.exited() && obs_.done.is_null()) {
    obs_.died = "the server agent " + child_.exit_info()->describe();
  }
  return obs_.died.empty();
}

void ServerAgent::end_process(Clock::time_point deadline) {
  child_.close_stdin();
  if (!child_.wait_until(deadline)) {
    child_.signal(SIGTERM);  // mpirun ends its job on SIGTERM
    child_.wait_until(Clock::now() + std::chrono::seconds(3));
  }
  child_.kill_group_and_reap(Clock::now() + std::chrono::seconds(3));
}

void ServerAgent::stop(Clock::time_point deadline) {
  child_.write_stdin("stop\n");
  while (obs_.done.is_null() && Clock::now() < deadline) {
    if (auto line = child_.read_line(std::min(deadline, Clock::now() + std::chrono::milliseconds(100)))) {
      take(*line);
    } else if (child_.exited()) {
      while (auto rest = child_.read_line(Clock::now())) take(*rest);
      break;
    }
  }
  end_process(Clock::now() + std::chrono::seconds(5));
}

void ServerAgent::abandon() {
  child_.write_stdin("stop\n");
  end_process(Clock::now() + std::chrono::seconds(5));
}

}  // namespace muxbench::harness
