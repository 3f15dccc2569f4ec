// The connections of one libevent event_base, as libevent.cc serves them:
// one persistent event per direction per connection and one callback. Shared
// by libevent (one base) and libevent-handoff (one base per worker thread),
// whose own files show how connections reach a base.
//
// Mechanism: event_new(fd, EV_READ|EV_PERSIST) and event_new(fd,
// EV_WRITE|EV_PERSIST) per connection. The read event is pending while the
// connection may read (not half-closed, not backpressured); the write event
// only while output is queued. The callback does the same read/transform/
// write steps as epoll.cc, and writes straight away rather than waiting a
// round for EV_WRITE.
#pragma once

#include <event2/event.h>

#include <vector>

#include "conn.h"

namespace muxbench::server {

class LibeventConns {
 public:
  // `base` and `ctx` outlive this object; counts go to `c`.
  LibeventConns(event_base* base, const Context& ctx, Counters& c) : base_(base), ctx_(ctx), c_(c) {}
  ~LibeventConns() { close_all(); }
  LibeventConns(const LibeventConns&) = delete;
  LibeventConns& operator=(const LibeventConns&) = delete;

  // Starts serving `fd` (non-blocking; counted as accepted by the caller):
  // its two events, the read one pending. On failure it is closed and
  // counted (errors.io, closed).
  void add(int fd);

  // Closes every connection still open (at stop).
  void close_all();

 private:
  struct Entry {
    LibeventConns* owner = nullptr;
    Conn conn;
    event* rd = nullptr;  // EV_READ|EV_PERSIST, pending while conn.wants_read()
    event* wr = nullptr;  // EV_WRITE|EV_PERSIST, pending while conn.wants_write()
    bool rd_on = false;
    bool wr_on = false;
  };

  static void on_event(evutil_socket_t, short what, void* arg);
  void close_conn(Entry& e);
  bool update(Entry& e);

  event_base* base_;
  const Context& ctx_;
  Counters& c_;
  FdTable<Entry> conns_;
  std::vector<char> buf_ = std::vector<char>(kReadChunk);
};

}  // namespace muxbench::server
