// The level-triggered epoll loop of epoll.cc as one object per thread, for
// the strategies that run several of them: epoll-reuseport, epoll-exclusive
// and epoll-handoff. What those demonstrate is how connections reach the
// loops, and that stays in their own files (a listener per loop; one
// listener registered with EPOLLEXCLUSIVE; an acceptor and pipes). The loop
// itself is the one epoll.cc writes out in full, step for step.
#pragma once

#include <functional>

#include "conn.h"
#include "strategy.h"

namespace muxbench::server {

class EpollLoop {
 public:
  // `who`: the strategy's name, for error lines.
  EpollLoop(int index, const char* who) : index_(index), who_(who) {}
  ~EpollLoop();
  EpollLoop(const EpollLoop&) = delete;
  EpollLoop& operator=(const EpollLoop&) = delete;

  // Creates the epoll set watching stop_fd (which stays readable once
  // signalled, so every loop's epoll_wait returns). False, with the reason
  // printed, on failure.
  bool init(int stop_fd);

  // Watches `fd` for input, registered with EPOLLIN | `extra_events` (e.g.
  // EPOLLEXCLUSIVE): when it is readable, serve() calls on_ready(). One
  // source per loop: its listener, or the pipe it is handed connections on.
  // False, with the reason printed, on failure.
  bool watch_source(int fd, unsigned extra_events, std::function<void()> on_ready);

  // Starts serving a connection (non-blocking; counted as accepted by the
  // caller): waits for its input first.
  void add(int fd);

  // Serves until stop; closes its connections on the way out.
  void serve(const Context& ctx);

  int index() const { return index_; }
  const char* who() const { return who_; }
  Counters& counters() { return c_; }

 private:
  void close_conn(Conn& conn);
  bool rearm(Conn& conn);

  int index_;
  const char* who_;
  int ep_ = -1;
  int stop_fd_ = -1;
  int source_fd_ = -1;
  std::function<void()> on_source_;
  FdTable<Conn> conns_;
  Counters c_;
};

}  // namespace muxbench::server
