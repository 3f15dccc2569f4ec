#include "libevent_conns.h"

#include <memory>

#include "muxbench/net.h"

namespace muxbench::server {

void LibeventConns::add(int fd) {
  auto e = std::make_unique<Entry>();
  e->owner = this;
  e->conn.fd = fd;
  e->rd = event_new(base_, fd, EV_READ | EV_PERSIST, on_event, e.get());
  e->wr = event_new(base_, fd, EV_WRITE | EV_PERSIST, on_event, e.get());
  if (e->rd == nullptr || e->wr == nullptr || event_add(e->rd, nullptr) != 0) {
    ++c_.errors_io;
    if (e->rd != nullptr) event_free(e->rd);
    if (e->wr != nullptr) event_free(e->wr);
    close_fd(fd);
    ++c_.closed;
    return;
  }
  e->rd_on = true;
  conns_.put(fd, std::move(e));
}

void LibeventConns::close_all() {
  conns_.for_each([&](Entry& e) { close_conn(e); });
}

void LibeventConns::on_event(evutil_socket_t, short what, void* arg) {
  auto& e = *static_cast<Entry*>(arg);
  LibeventConns& self = *e.owner;
  if ((what & EV_READ) && e.conn.wants_read() &&
      read_into(e.conn, self.buf_.data(), 1, self.c_, self.ctx_) == Io::kError) {
    return self.close_conn(e);
  }
  // Write straight away rather than waiting a round for EV_WRITE.
  if (e.conn.wants_write() && flush(e.conn, self.c_) == Io::kError) return self.close_conn(e);
  if (e.conn.done()) return self.close_conn(e);
  if (!self.update(e)) {
    ++self.c_.errors_io;
    self.close_conn(e);
  }
}

void LibeventConns::close_conn(Entry& e) {
  // event_free() deletes a pending event first; freeing the event whose
  // callback is running is allowed (libevent does not touch it afterwards).
  if (e.rd != nullptr) event_free(e.rd);
  if (e.wr != nullptr) event_free(e.wr);
  const int fd = e.conn.fd;
  close_fd(fd);
  ++c_.closed;
  conns_.erase(fd);  // frees e
}

// Makes the pending events match what the connection needs next.
bool LibeventConns::update(Entry& e) {
  const bool want_rd = e.conn.wants_read();
  const bool want_wr = e.conn.wants_write();
  if (want_rd != e.rd_on) {
    if ((want_rd ? event_add(e.rd, nullptr) : event_del(e.rd)) != 0) return false;
    e.rd_on = want_rd;
  }
  if (want_wr != e.wr_on) {
    if ((want_wr ? event_add(e.wr, nullptr) : event_del(e.wr)) != 0) return false;
    e.wr_on = want_wr;
  }
  return true;
}

}  // namespace muxbench::server
