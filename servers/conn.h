// Connection buffers shared by the strategies: the codec plus queued output,
// and the read/write steps around them. The *loop* (what to wait on, when)
// stays in each strategy's file; this is only what happens to the bytes.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "muxbench/line_codec.h"
#include "muxbench/net.h"
#include "strategy.h"

namespace muxbench::server {

// Size of one read() into the codec.
inline constexpr std::size_t kReadChunk = 16 * 1024;

// Connections accepted per wake-up of a loop, at most: a burst of new clients
// must not keep the loop from serving the ones it has.
inline constexpr int kAcceptsPerWake = 64;

// One connection's bytes. A strategy that keeps more per connection wraps it
// in a record of its own named after the strategy (EpollEtConn,
// LibeventConn, BuffereventConn, LibuvConn, IoUringConn).
struct Conn {
  int fd = -1;
  LineCodec codec;
  std::string out;          // transformed output not yet sent, from out_off on
  std::size_t out_off = 0;
  bool peer_eof = false;    // the peer half-closed; close once `out` drains
  unsigned interest = 0;    // strategy-private: what its loop currently waits for

  std::size_t queued() const { return out.size() - out_off; }
  // Backpressure (docs/protocol.md): no reading while too much output waits.
  bool wants_read() const { return !peer_eof && queued() < kMaxPendingOutput; }
  bool wants_write() const { return queued() > 0; }
  bool done() const { return peer_eof && queued() == 0; }
};

enum class Io {
  kAgain,   // would block: wait for readiness
  kMore,    // stopped early (cap or backpressure): more may be ready now
  kEof,     // read side: peer half-closed (partial line already queued)
  kError,   // the connection failed and must be closed (already counted)
};

// Reads up to max_reads chunks (stopping early at EAGAIN, EOF or
// backpressure), feeding the codec and queueing its output. `buf` must hold
// kReadChunk bytes. Counts bytes, lines and errors into `c`.
// short_read_is_again: treat a read shorter than kReadChunk as EAGAIN (the
// socket was empty at that instant), saving the read() that would only say
// so — valid for edge-triggered loops as long as no FIN is already pending.
Io read_into(Conn& conn, char* buf, int max_reads, Counters& c, const Context& ctx,
             bool short_read_is_again = false);

// Writes queued output until it is all sent (kMore: nothing left) or the
// socket would block (kAgain).
Io flush(Conn& conn, Counters& c);

// Consumes `data` received by other means (io_uring, libevent buffers):
// feeds the codec and queues output, applying the test aids.
void consume(Conn& conn, const char* data, std::size_t n, Counters& c, const Context& ctx);

// Counts an error on a connection by errno: reset/EPIPE or other I/O.
void count_io_error(int err, Counters& c);

// Serves one connection on a blocking fd to completion: read, transform,
// write everything, finish on EOF, close. The per-connection body of the
// blocking strategies (iterative, fork, thread, threadpool). Merges nothing:
// counts into `c`. Returns when the connection is closed or ctx.stopping.
void serve_blocking(int fd, Counters& c, const Context& ctx);

// Accept-side helper: accepted fd counted; on fd exhaustion uses the reserve
// descriptor trick (close reserve, accept, close, reopen reserve) so the
// listen queue drains instead of spinning, and counts rejected_fd_exhausted.
class AcceptGuard {
 public:
  AcceptGuard();
  ~AcceptGuard();
  AcceptGuard(const AcceptGuard&) = delete;
  AcceptGuard& operator=(const AcceptGuard&) = delete;
  // Accepts one connection (accept4 with `flags`) and counts it. Returns the
  // fd, or -1 with errno set:
  //   EAGAIN  nothing to accept (non-blocking listener);
  //   EMFILE  out of descriptors: if a connection was waiting, it was
  //           accepted and closed at once (counted as rejected) so the caller
  //           neither spins nor stalls the listen queue; on a blocking
  //           listener it may also mean nothing was waiting (after a 10 ms
  //           wait) and nothing was dropped. Either way: just carry on;
  //   EINVAL  the listener was shut down (stop requested);
  //   other   a per-connection failure, counted in errors_accept.
  int accept(int listen_fd, int flags, Counters& c);

  // The blocking accept step (the blocking strategies, a hand-off acceptor):
  // the next connection (accept4 with `flags` on a blocking listener), or -1
  // once stopping (the listener was shut down). Sheds on fd exhaustion and
  // backs off 10 ms on unexpected errors: it never spins.
  int accept_blocking(int listen_fd, Counters& c, const Context& ctx, int flags = SOCK_CLOEXEC);

 private:
  int reserve_fd_;
};

// The one error policy of every accept loop, after accept() failed with
// `err`: true to try the next pending connection (one was shed for want of
// descriptors, or the error concerned only the connection being accepted),
// false to stop the burst (nothing pending, the listener shut down, or an
// unexpected error, already counted).
inline bool accept_next_after(int err) { return err == EMFILE || is_transient_accept_error(err); }

// Accepts up to kAcceptsPerWake pending connections from a non-blocking
// listener (non-blocking, CLOEXEC sockets) and hands each to take(fd), which
// owns it from then on. The accept burst of every readiness loop; what the
// loop does with a connection stays in its own file.
template <class Take>
void accept_burst(AcceptGuard& guard, int listen_fd, Counters& c, Take&& take) {
  for (int k = 0; k < kAcceptsPerWake; ++k) {
    const int fd = guard.accept(listen_fd, SOCK_NONBLOCK | SOCK_CLOEXEC, c);
    if (fd >= 0) {
      take(fd);
    } else if (!accept_next_after(errno)) {
      return;
    }
  }
}

// Connections indexed by descriptor, as a readiness loop looks them up when
// the kernel reports an fd: descriptors are small and dense, so a vector
// beats a hash map. Grows as larger descriptors arrive.
template <class T>
class FdTable {
 public:
  T* get(int fd) const {
    const auto i = static_cast<std::size_t>(fd);
    return i < slots_.size() ? slots_[i].get() : nullptr;
  }
  T& put(int fd, std::unique_ptr<T> entry) {
    const auto i = static_cast<std::size_t>(fd);
    if (i >= slots_.size()) slots_.resize(std::max(i + 1, 2 * slots_.size()));
    slots_[i] = std::move(entry);
    return *slots_[i];
  }
  void erase(int fd) { slots_[static_cast<std::size_t>(fd)].reset(); }
  // Calls f(entry) for every entry; f may erase the entry it is given.
  template <class F>
  void for_each(F&& f) {
    for (auto& slot : slots_) {
      if (slot) f(*slot);
    }
  }

 private:
  std::vector<std::unique_ptr<T>> slots_;
};

}  // namespace muxbench::server
