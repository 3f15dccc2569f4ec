// io_uring — completion-based I/O with liburing, one thread: Linux's
// counterpart of the IOCP model the book's chapter ends with.
//
// Mechanism: instead of asking "which fds are ready?" the loop submits the
// operations themselves (accept, recv, send) to a submission ring and reaps
// their results from a completion ring; one io_uring_enter() both submits a
// batch and waits. Where the kernel has them, a single multishot accept keeps
// producing connections, and one multishot recv per connection keeps
// producing data into buffers the kernel picks from a registered buffer ring
// (so idle connections pin no buffer). Each connection has at most one send
// in flight; output produced meanwhile waits in a second buffer (the buffer of
// a send in flight must not move). Neither keeps more than 64 KiB it no
// longer needs, so a connection at the bound holds about its queued output.
// Backpressure, within one buffer of kMaxPendingOutput: a multishot recv
// hands over everything the kernel has posted (up to 32 buffers per wake-up,
// more before a cancel lands), so a connection whose queued output passes
// half the bound has its multishot recv cancelled and reads by single-shot
// recv, one provided buffer per arm, armed only below the bound; it gets a
// multishot recv again once its output has drained to a quarter. Data the
// multishot still posts at the bound is held in its provided buffer, not
// copied, until the output drains. A recv that ends with -ENOBUFS (buffer
// ring empty) is simply re-armed: the buffers come back as soon as the batch
// of completions is processed.
// EMFILE/ENFILE on accept: the listener is briefly made non-blocking, the
// reserve-fd trick sheds what is queued, and accepting resumes after 10 ms.
// Stop: one cancel of every armed operation (IORING_ASYNC_CANCEL_ANY), then
// the loop reaps completions until each connection's last one has arrived,
// and only then frees its buffers: before DEFER_TASKRUN the kernel runs
// completion work on any return to user space, so a send could otherwise
// copy from freed memory and a recv write into it.
// Trade-offs: fewest syscalls per byte (no readiness round trip; many
// operations per io_uring_enter), for the most bookkeeping: every operation's
// buffer must stay valid until its completion, and a connection is freed only
// once its last operation has completed.
// Limits: kernel 5.6+ (IORING_OP_ACCEPT/RECV/SEND); multishot accept and
// buffer rings 5.19, multishot recv 6.0 (probed at start; older kernels fall
// back to single-shot accept and recv into a per-connection buffer; setting
// MUXBENCH_IO_URING_SINGLESHOT=1 forces that fallback for testing);
// SINGLE_ISSUER/DEFER_TASKRUN 6.1 (optional; MUXBENCH_IO_URING_NO_DEFER_TASKRUN=1
// does without, for testing); cancelling everything at once 5.19 (before:
// shutdown() of every connection completes its operations). The 8 MiB
// buffer ring is cycled in order, so it is all resident once 1024 receives
// have passed, however few connections there are; a connection holds at
// most the buffers one multishot burst brings while it is at the bound
// (normally none). A stop waits at most 500 ms for the kernel: buffers of
// operations still outstanding then are left allocated, never freed early.
// Containers often block io_uring (seccomp, sysctl
// kernel.io_uring_disabled): start-up then fails with one line naming the
// reason.
// Options (docs/strategies.md, "io_uring options"): --uring-fixed-files
// (sparse registered table, direct accept, IOSQE_FIXED_FILE; 5.19),
// --uring-sqpoll (IORING_SETUP_SQPOLL), --uring-taskrun=defer|coop|none
// (exactly that mode, or a start-up failure), --uring-recv-bundle (6.10:
// single-shot receives that fill several provided buffers, asking for no
// more than the room under the output bound, so the bound holds exactly),
// --uring-send-zc (6.0: IORING_OP_SEND_ZC; a send's bytes are the kernel's
// until its notification CQE, so the connection's next send waits for it and
// a closed connection is freed only then). Each is probed by setting it up
// or by a feature flag; what is in effect goes to the READY line and
// --stats (report_option), and counters that show it working to the
// "mechanism" object of --stats (report_counter).
// Try it: muxbench-server --strategy io_uring --port 40713 & nc 127.0.0.1 40713
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "conn.h"
#include "muxbench/build.h"
#include "muxbench/net.h"

// Debian 12's liburing 2.3 predates these; the values are the kernel's
// (include/uapi/linux/io_uring.h). Whether the running kernel takes them is
// detected at run time (IORING_FEAT_RECVSEND_BUNDLE; a refused report flag
// gives -EINVAL on the send).
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)  // sqe->ioprio of recv/send, 6.10
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)  // io_uring_params.features, 6.10
#endif
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)  // sqe->ioprio of send_zc, 6.2
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)  // notification cqe->res: the kernel copied
#endif

namespace muxbench::server {
namespace {

constexpr unsigned kSqEntries = 1024;
constexpr unsigned kCqEntries = 16384;  // multishot ops post many CQEs per SQE
constexpr unsigned kBufCount = 1024;    // provided buffers; a power of two
constexpr unsigned kBufSize = 8192;     // 8 MiB in all, resident once cycled through
constexpr int kBufGroup = 0;
// --uring-recv-bundle: ring entries per buffer. The further buffers of a
// bundle are read from the ring after its completion arrives; with twice as
// many entries as buffers an entry is rewritten only after 1024 later
// receives, long after its completion has been read (checked all the same).
constexpr unsigned kBundleRingFactor = 2;
constexpr long long kAcceptBackoffNs = 10'000'000;  // after EMFILE/ENFILE
// Queued output at which a connection trades its multishot recv for
// single-shot recv (one buffer per arm, so the bound holds within a buffer),
// and at which it gets a multishot recv again.
constexpr std::size_t kSingleShotAbove = kMaxPendingOutput / 2;
constexpr std::size_t kMultishotBelow = kMaxPendingOutput / 4;
constexpr std::chrono::milliseconds kStopWait{500 * build::kTimeScale};     // reaping at stop, at most
constexpr std::size_t kKeepOutputCapacity = 64 * 1024;  // see arm_send()

// user_data: op (8 bits) | slot (24 bits) | generation (32 bits). The
// generation makes a completion for a freed and reused slot recognisable.
enum Op : std::uint64_t {
  kAccept = 1,
  kAcceptCancel,
  kBackoff,
  kStop,
  kRecv,
  kSend,
  kRecvCancel,
  kCancelAll,  // at stop
  kShutdown,   // --uring-fixed-files: IORING_OP_SHUTDOWN of a direct descriptor
};

// A provided buffer received while its connection was at the bound.
struct Held {
  std::uint16_t bid;
  std::uint32_t len;
};

struct IoUringConn {
  Conn conn;            // codec; conn.out collects output not yet in flight
  std::string sending;  // the bytes of the send in flight, from send_off on
  std::size_t send_off = 0;
  std::unique_ptr<char[]> rbuf;  // single-shot recv target (no buffer ring)
  std::vector<Held> held;        // received at the bound, in order, not yet consumed
  std::uint32_t slot = 0;
  std::uint32_t gen = 0;
  int inflight = 0;  // operations whose final completion is outstanding
  bool recv_armed = false;
  bool recv_multishot = false;  // the armed recv is a multishot one
  bool send_armed = false;
  bool cancel_armed = false;
  bool eof_held = false;  // the peer's EOF came behind held data
  bool closing = false;
  // --uring-send-zc: the send's result has arrived (zc_res) but the kernel
  // still holds `sending`'s bytes until the notification. send_armed stays
  // set meanwhile, so that nothing moves or reuses them.
  bool zc_wait = false;
  int zc_res = 0;
  bool fd_closed = false;  // closed, the IoUringConn kept only for a notification

  std::size_t pending() const { return sending.size() - send_off + conn.out.size(); }
  bool wants_read() const {
    return !closing && !conn.peer_eof && held.empty() && !eof_held && pending() < kMaxPendingOutput;
  }
};

std::uint64_t tag(Op op, const IoUringConn* u = nullptr) {
  if (u == nullptr) return op;
  return op | (std::uint64_t{u->slot} << 8) | (std::uint64_t{u->gen} << 32);
}

struct Loop {
  io_uring ring{};
  bool ring_ok = false;
  const Context* ctx = nullptr;
  Counters c;
  AcceptGuard acceptor;

  bool fixed = false;   // --uring-fixed-files: connections are direct descriptors
  bool sqpoll = false;  // --uring-sqpoll: a kernel thread consumes the SQ
  bool multishot_accept = false;
  bool multishot_recv = false;  // implies the buffer ring below
  bool bundle = false;          // --uring-recv-bundle: single-shot bundle receives
  bool send_zc = false;         // --uring-send-zc: every send is IORING_OP_SEND_ZC
  bool zc_report = true;        // IORING_SEND_ZC_REPORT_USAGE taken (6.2+)
  io_uring_buf_ring* br = nullptr;
  char* bufs = nullptr;
  unsigned ring_entries = kBufCount;  // kBufCount * kBundleRingFactor with bundles
  unsigned bufs_returned = 0;  // added to the ring, not yet published
  std::uint32_t ring_added = 0;        // entries ever added: the next one's absolute index
  std::vector<std::uint32_t> buf_pos;  // bundles: per buffer id, the index it was added at
  std::vector<Held> segs;              // on_recv(): the buffers of one completion

  // Counters of the mechanism, reported in --stats "mechanism".
  struct {
    std::uint64_t recv_completions = 0;  // receive completions that carried data
    std::uint64_t recv_buffers = 0;      // provided buffers they filled
    std::uint64_t recv_bundles = 0;      // completions that filled more than one
    std::uint64_t recv_bundle_lost = 0;  // buffers of a bundle no longer in the ring (never expected)
    std::uint64_t sends = 0;             // send results
    std::uint64_t sends_zc = 0;          // of which zero-copy, with a notification to follow
    std::uint64_t send_zc_notifs = 0;    // notifications: the kernel let go of a send's bytes
    std::uint64_t send_zc_copied = 0;    // of which said the kernel had copied them after all
  } m;

  bool accept_armed = false;
  bool accept_dead = false;  // the listener failed for good (reported once)
  bool backoff_armed = false;
  __kernel_timespec backoff_ts{0, kAcceptBackoffNs};

  bool stop_seen = false;  // the stop descriptor fired
  bool stopping = false;   // stop_all() runs: nothing new is armed
  std::size_t live = 0;    // connections not yet freed
  std::size_t zc_parked = 0;  // of which closed, waiting only for a send's notification

  std::vector<IoUringConn*> slots;
  std::vector<std::uint32_t> free_slots;
  std::uint32_t next_gen = 0;

  ~Loop() {
    if (ring_ok) io_uring_queue_exit(&ring);
    if (live != 0) return;  // operations still outstanding: leave their buffers be
    if (br != nullptr) ::munmap(br, ring_entries * sizeof(io_uring_buf));
    if (bufs != nullptr) ::munmap(bufs, std::size_t{kBufCount} * kBufSize);
  }

  // At stop: cancels every armed operation and reaps completions until each
  // connection's last one has arrived (maybe_free() frees it then), for at
  // most kStopWait. Closing the ring would cancel them too, but a buffer
  // freed before its operation is cancelled may still be used: before
  // DEFER_TASKRUN the kernel runs completion work (a send copying out of
  // `sending`, a recv writing into `rbuf` or a provided buffer) on any
  // return to user space, the close() of the next connection included.
  // A connection that waits only for a zero-copy send's notification is
  // closed and left allocated: the socket may send those bytes from our
  // memory after the exit too, so they are never freed or reused.
  void stop_all() {
    stopping = true;
    if (io_uring_sqe* s = sqe()) {
      io_uring_prep_cancel64(s, 0, IORING_ASYNC_CANCEL_ANY);
      io_uring_sqe_set_data64(s, tag(kCancelAll));
    } else {
      shutdown_all();
    }
    for (IoUringConn* u : slots) {
      if (u == nullptr) continue;
      u->closing = true;
      maybe_free(*u);  // nothing in flight: freed now
    }
    __kernel_timespec wait_ts{0, 50'000'000};
    const auto deadline = std::chrono::steady_clock::now() + kStopWait;
    while (live != zc_parked && std::chrono::steady_clock::now() < deadline) {
      io_uring_cqe* cqe = nullptr;
      int ret = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &wait_ts, nullptr);
      if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) break;
      reap();
    }
    if (live != zc_parked) {
      std::fprintf(stderr, "io_uring: %zu connections still had operations in flight at exit\n",
                   live - zc_parked);
    }
  }

  // Kernels before 5.19 know no IORING_ASYNC_CANCEL_ANY: shutting every
  // connection down completes its recv (with 0) and send (with an error).
  void shutdown_all() {
    for (IoUringConn* u : slots) {
      if (u != nullptr && (u->recv_armed || u->send_armed)) shutdown_conn(*u);
    }
    if (accept_armed) {
      if (io_uring_sqe* s = sqe()) {
        io_uring_prep_cancel64(s, tag(kAccept), 0);
        io_uring_sqe_set_data64(s, tag(kAcceptCancel));
      }
    }
  }

  io_uring_sqe* sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (s == nullptr) {  // submission ring full: hand the batch to the kernel
      io_uring_submit(&ring);
      s = io_uring_get_sqe(&ring);
      // SQPOLL: submitting only wakes the kernel thread; wait for it to
      // take entries off the ring.
      if (s == nullptr && sqpoll && io_uring_sqring_wait(&ring) >= 0) s = io_uring_get_sqe(&ring);
    }
    return s;
  }

  // A connection's descriptor goes: close() or, for a direct descriptor,
  // its slot in the registered table is emptied (operations still holding
  // the file keep it until they complete).
  void close_conn_fd(int fd) {
    if (!fixed) return close_fd(fd);
    int none = -1;
    io_uring_register_files_update(&ring, static_cast<unsigned>(fd), &none, 1);
  }

  // Completes the connection's armed recv and send promptly: shutdown(),
  // or IORING_OP_SHUTDOWN for a direct descriptor, counted in flight so that
  // its slot is not emptied (and reused by an accept) before it has run.
  void shutdown_conn(IoUringConn& u) {
    if (!fixed) {
      ::shutdown(u.conn.fd, SHUT_RDWR);
      return;
    }
    io_uring_sqe* s = sqe();
    if (s == nullptr) return;  // the operations complete when the peer goes
    io_uring_prep_shutdown(s, u.conn.fd, SHUT_RDWR);
    s->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(s, tag(kShutdown, &u));
    ++u.inflight;
  }

  IoUringConn* lookup(std::uint64_t ud) {
    std::uint32_t slot = static_cast<std::uint32_t>(ud >> 8) & 0xffffff;
    std::uint32_t gen = static_cast<std::uint32_t>(ud >> 32);
    if (slot >= slots.size() || slots[slot] == nullptr || slots[slot]->gen != gen) return nullptr;
    return slots[slot];
  }

  bool setup_buf_ring() {
    void* mem = ::mmap(nullptr, ring_entries * sizeof(io_uring_buf), PROT_READ | PROT_WRITE,
                       MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) return false;
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(mem);
    reg.ring_entries = ring_entries;
    reg.bgid = kBufGroup;
    if (io_uring_register_buf_ring(&ring, &reg, 0) != 0) {
      ::munmap(mem, ring_entries * sizeof(io_uring_buf));
      return false;
    }
    br = static_cast<io_uring_buf_ring*>(mem);
    void* data = ::mmap(nullptr, std::size_t{kBufCount} * kBufSize, PROT_READ | PROT_WRITE,
                        MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (data == MAP_FAILED) return false;
    bufs = static_cast<char*>(data);
    io_uring_buf_ring_init(br);
    for (unsigned i = 0; i < kBufCount; ++i) return_buffer(static_cast<std::uint16_t>(i));
    publish_buffers();
    return true;
  }

  void return_buffer(std::uint16_t bid) {
    if (!buf_pos.empty()) buf_pos[bid] = ring_added;
    io_uring_buf_ring_add(br, bufs + std::size_t{bid} * kBufSize, kBufSize, bid,
                          io_uring_buf_ring_mask(ring_entries), static_cast<int>(bufs_returned++));
    ++ring_added;
  }

  // The provided buffers one receive completion filled, in order, into
  // `segs` (empty: none). The CQE names the first; a bundle's further ones
  // are the entries that follow it in the ring (the kernel takes them in
  // ring order), each filled up to its entry's length. That length is read
  // back from the ring, not assumed, as the kernel's bundle users must: a
  // bundle that asks for less than a buffer had kernels from 6.10 shorten
  // the first entry's length in place (a later stable fix dropped that),
  // and an entry so shortened may go back unused (no data yet) and be taken
  // first by a later bundle. False when an entry has been rewritten since
  // (never expected, see kBundleRingFactor): those buffers are lost to the
  // ring, and the stream to the connection.
  bool received_buffers(int res, unsigned flags) {
    segs.clear();
    if (!(flags & IORING_CQE_F_BUFFER)) return true;
    const auto first = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    std::size_t left = res > 0 ? static_cast<std::size_t>(res) : 0;
    if (!bundle) {
      segs.push_back({first, static_cast<std::uint32_t>(left)});
    } else {
      const unsigned mask = ring_entries - 1;
      for (std::uint32_t at = buf_pos[first];; ++at) {
        const io_uring_buf& e = br->bufs[at & mask];
        if (e.bid >= kBufCount || buf_pos[e.bid] != at || e.len == 0 ||
            (segs.empty() && e.bid != first) || segs.size() == kBufCount) {
          m.recv_bundle_lost += (left + kBufSize - 1) / kBufSize;
          return false;
        }
        const std::size_t len = left < e.len ? left : e.len;
        segs.push_back({e.bid, static_cast<std::uint32_t>(len)});
        left -= len;
        if (left == 0) break;
      }
    }
    if (res > 0) {
      ++m.recv_completions;
      m.recv_buffers += segs.size();
      if (segs.size() > 1) ++m.recv_bundles;
    }
    return true;
  }

  void publish_buffers() {
    if (bufs_returned == 0) return;
    io_uring_buf_ring_advance(br, static_cast<int>(bufs_returned));
    bufs_returned = 0;
  }

  // --- accept -------------------------------------------------------------

  void arm_accept() {
    io_uring_sqe* s = sqe();
    if (s == nullptr) return;  // retried on the next turn
    // Accepted sockets stay blocking: io_uring would otherwise complete a recv
    // on an empty O_NONBLOCK socket with -EAGAIN instead of waiting.
    if (fixed && multishot_accept) {  // direct descriptors know no CLOEXEC
      io_uring_prep_multishot_accept_direct(s, ctx->listen_fd, nullptr, nullptr, 0);
    } else if (fixed) {
      io_uring_prep_accept_direct(s, ctx->listen_fd, nullptr, nullptr, 0, IORING_FILE_INDEX_ALLOC);
    } else if (multishot_accept) {
      io_uring_prep_multishot_accept(s, ctx->listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    } else {
      io_uring_prep_accept(s, ctx->listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    }
    io_uring_sqe_set_data64(s, tag(kAccept));
    accept_armed = true;
  }

  void arm_backoff() {
    if (backoff_armed) return;
    io_uring_sqe* s = sqe();
    if (s == nullptr) return;
    io_uring_prep_timeout(s, &backoff_ts, 0, 0);
    io_uring_sqe_set_data64(s, tag(kBackoff));
    backoff_armed = true;
  }

  // Out of descriptors: take what is queued off the listener (serving any
  // connection a freed descriptor allows, dropping the rest via the reserve
  // fd). The listener is non-blocking only meanwhile, with no accept armed.
  void shed_queued() {
    int flags = ::fcntl(ctx->listen_fd, F_GETFL, 0);
    if (flags < 0 || ::fcntl(ctx->listen_fd, F_SETFL, flags | O_NONBLOCK) != 0) return;
    for (int k = 0; k < 64; ++k) {
      int fd = acceptor.accept(ctx->listen_fd, SOCK_CLOEXEC, c);
      if (fd >= 0 && fixed) {  // the registered table is full: no slot for it
        close_fd(fd);
        ++c.rejected_fd_exhausted;
        ++c.closed;
        continue;
      }
      if (fd >= 0) {
        add_conn(fd);
        continue;
      }
      if (errno != EMFILE) break;  // EAGAIN: queue empty
    }
    ::fcntl(ctx->listen_fd, F_SETFL, flags);
  }

  void on_accept(int res, unsigned flags) {
    const bool more = (flags & IORING_CQE_F_MORE) != 0;
    if (!more) accept_armed = false;
    if (res >= 0 && stopping) {  // accepted before the cancel landed
      ++c.accepted;
      close_conn_fd(res);
      ++c.closed;
      return;
    }
    if (res >= 0) {
      ++c.accepted;
      add_conn(res);
      if (!accept_armed && !backoff_armed) arm_accept();
      return;
    }
    const int err = -res;
    if (stopping || ctx->stop_requested() || err == ECANCELED) return;
    if (is_fd_exhaustion(err)) {
      if (accept_armed) {  // still armed: stop it before shedding
        if (io_uring_sqe* s = sqe()) {
          io_uring_prep_cancel64(s, tag(kAccept), 0);
          io_uring_sqe_set_data64(s, tag(kAcceptCancel));
        }
      } else {
        shed_queued();
      }
      arm_backoff();
      return;
    }
    if (err == EINVAL && multishot_accept) {
      std::fprintf(stderr, "io_uring: multishot accept rejected (EINVAL): using single-shot\n");
      multishot_accept = false;
      if (!accept_armed) arm_accept();
      return;
    }
    if (err == EINVAL) {
      if (!accept_dead) {
        std::fprintf(stderr, "io_uring: accept: %s; no longer accepting\n",
                     errno_string(err).c_str());
      }
      accept_dead = true;
      return;
    }
    ++c.errors_accept;
    if (is_transient_accept_error(err)) {
      if (!accept_armed && !backoff_armed) arm_accept();
    } else {
      arm_backoff();  // unknown failure: do not spin on it
    }
  }

  // --- connections --------------------------------------------------------

  void add_conn(int fd) {
    auto* u = new IoUringConn();
    u->conn.fd = fd;
    u->gen = ++next_gen;
    if (!free_slots.empty()) {
      u->slot = free_slots.back();
      free_slots.pop_back();
    } else if (slots.size() < 0xffffff) {
      u->slot = static_cast<std::uint32_t>(slots.size());
      slots.push_back(nullptr);
    } else {
      ++c.errors_io;
      close_conn_fd(fd);
      ++c.closed;
      delete u;
      return;
    }
    slots[u->slot] = u;
    ++live;
    pump(*u);
  }

  void start_close(IoUringConn& u) {
    if (u.closing) return;
    u.closing = true;
    // Completes an armed recv (with 0) and send (with an error) promptly.
    if (u.recv_armed || u.send_armed) shutdown_conn(u);
    maybe_free(u);
  }

  // Closes a closing connection once no operation is outstanding, and frees
  // it once the kernel no longer reads a zero-copy send's bytes either (a
  // closed descriptor does not hurry that: the socket still sends them).
  void maybe_free(IoUringConn& u) {
    if (!u.closing || u.inflight != 0) return;
    if (!u.fd_closed) {
      for (const Held& h : u.held) return_buffer(h.bid);
      u.held.clear();
      close_conn_fd(u.conn.fd);
      ++c.closed;
      u.fd_closed = true;
      if (u.zc_wait) ++zc_parked;
    }
    if (u.zc_wait) return;  // freed at the notification
    slots[u.slot] = nullptr;
    free_slots.push_back(u.slot);
    --live;
    delete &u;
  }

  // Starts whatever the connection needs next, or closes it when done.
  void pump(IoUringConn& u) {
    if (u.closing) return maybe_free(u);
    consume_held(u);
    if (!u.send_armed && u.pending() > 0 && !arm_send(u)) return fail(u);
    if (u.wants_read() && !u.recv_armed) {
      if (!u.cancel_armed && !arm_recv(u)) return fail(u);
    } else if (u.recv_armed && u.recv_multishot && !u.cancel_armed &&
               (!u.wants_read() || u.pending() >= kSingleShotAbove)) {
      // Near or at the bound: stop the multishot recv. What it posts until
      // the cancel lands is held at the bound (on_recv), and the connection
      // reads on by single-shot recv (arm_recv) while below it.
      io_uring_sqe* s = sqe();
      if (s == nullptr) return fail(u);
      io_uring_prep_cancel64(s, tag(kRecv, &u), 0);
      io_uring_sqe_set_data64(s, tag(kRecvCancel, &u));
      u.cancel_armed = true;
      ++u.inflight;
    }
    if (u.conn.peer_eof && u.pending() == 0 && !u.send_armed) start_close(u);
  }

  // Feeds data held at the bound to the codec, in order, while the output
  // has room; an EOF that came behind it counts once it is all consumed.
  void consume_held(IoUringConn& u) {
    std::size_t n = 0;
    while (n < u.held.size() && u.pending() < kMaxPendingOutput) {
      const Held h = u.held[n++];
      consume(u.conn, bufs + std::size_t{h.bid} * kBufSize, h.len, c, *ctx);
      return_buffer(h.bid);
    }
    u.held.erase(u.held.begin(), u.held.begin() + static_cast<std::ptrdiff_t>(n));
    if (u.held.empty() && u.eof_held) {
      u.eof_held = false;
      u.conn.peer_eof = true;
      u.conn.codec.finish(u.conn.out);
    }
  }

  void fail(IoUringConn& u) {  // no submission queue entry to be had
    ++c.errors_io;
    start_close(u);
  }

  bool arm_recv(IoUringConn& u) {
    io_uring_sqe* s = sqe();
    if (s == nullptr) return false;
    u.recv_multishot = multishot_recv && !bundle && u.pending() < kMultishotBelow;
    if (bundle) {
      // As many buffers as the data fills, but no more bytes than the room
      // under the output bound (pump() arms a receive only below it): the
      // bound holds without holding data back, at any bundle size.
      io_uring_prep_recv(s, u.conn.fd, nullptr, kMaxPendingOutput - u.pending(), 0);
      s->flags |= IOSQE_BUFFER_SELECT;
      s->buf_group = kBufGroup;
      s->ioprio |= IORING_RECVSEND_BUNDLE;
    } else if (u.recv_multishot) {
      io_uring_prep_recv_multishot(s, u.conn.fd, nullptr, 0, 0);
      s->flags |= IOSQE_BUFFER_SELECT;
      s->buf_group = kBufGroup;
    } else if (multishot_recv) {  // near the bound: one provided buffer
      io_uring_prep_recv(s, u.conn.fd, nullptr, kBufSize, 0);
      s->flags |= IOSQE_BUFFER_SELECT;
      s->buf_group = kBufGroup;
    } else {
      if (!u.rbuf) u.rbuf = std::make_unique<char[]>(kReadChunk);
      io_uring_prep_recv(s, u.conn.fd, u.rbuf.get(), kReadChunk, 0);
    }
    if (fixed) s->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(s, tag(kRecv, &u));
    u.recv_armed = true;
    ++u.inflight;
    return true;
  }

  bool arm_send(IoUringConn& u) {
    if (u.send_off == u.sending.size()) {  // previous send done: take the rest
      u.sending.swap(u.conn.out);
      u.send_off = 0;
      // The drained buffer collects output next. Large, it is let go: a
      // connection at the bound then holds one full buffer, not two.
      if (u.conn.out.capacity() > kKeepOutputCapacity) {
        std::string().swap(u.conn.out);
      } else {
        u.conn.out.clear();
      }
    }
    io_uring_sqe* s = sqe();
    if (s == nullptr) return false;
    const char* from = u.sending.data() + u.send_off;
    const std::size_t n = u.sending.size() - u.send_off;
    if (send_zc) {  // the kernel pins these pages until the notification
      io_uring_prep_send_zc(s, u.conn.fd, from, n, MSG_NOSIGNAL,
                            zc_report ? IORING_SEND_ZC_REPORT_USAGE : 0);
    } else {
      io_uring_prep_send(s, u.conn.fd, from, n, MSG_NOSIGNAL);
    }
    if (fixed) s->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(s, tag(kSend, &u));
    u.send_armed = true;
    ++u.inflight;
    return true;
  }

  void on_recv(IoUringConn* u, int res, unsigned flags) {
    const bool intact = received_buffers(res, flags);
    if (u == nullptr) {
      for (const Held& h : segs) return_buffer(h.bid);
      return;
    }
    if (!(flags & IORING_CQE_F_MORE)) {
      u->recv_armed = false;
      --u->inflight;
    }
    if (!intact) {
      for (const Held& h : segs) return_buffer(h.bid);
      std::fprintf(stderr, "io_uring: a receive bundle's buffers were rewritten in the ring before "
                           "they were read; closing the connection\n");
      ++c.errors_io;
      return start_close(*u);
    }
    if (segs.empty() || res <= 0 || u->closing) {
      const char* data = segs.empty() ? u->rbuf.get() : bufs + std::size_t{segs[0].bid} * kBufSize;
      handle_recv(*u, res, data);  // may free *u
      for (const Held& h : segs) return_buffer(h.bid);
      return;
    }
    for (const Held& h : segs) {
      if (!u->held.empty() || u->pending() >= kMaxPendingOutput) {
        // At the bound (a multishot burst not yet stopped): keep the bytes
        // in their buffer until the output drains; consume_held() takes them.
        u->held.push_back(h);
        continue;
      }
      consume(u->conn, bufs + std::size_t{h.bid} * kBufSize, h.len, c, *ctx);
      return_buffer(h.bid);  // after the codec copied it
    }
    pump(*u);
  }

  void handle_recv(IoUringConn& u, int res, const char* data) {
    if (u.closing) return maybe_free(u);
    if (res > 0) {
      consume(u.conn, data, static_cast<std::size_t>(res), c, *ctx);
    } else if (res == 0 && !u.held.empty()) {
      u.eof_held = true;
    } else if (res == 0) {
      u.conn.peer_eof = true;
      u.conn.codec.finish(u.conn.out);
    } else if (res == -EINVAL && u.recv_multishot && !u.recv_armed) {
      std::fprintf(stderr, "io_uring: multishot recv rejected (EINVAL): using single-shot\n");
      multishot_recv = false;
    } else if (res != -ENOBUFS && res != -ECANCELED) {
      // -ENOBUFS: the buffer ring ran dry; -ECANCELED: our backpressure
      // cancel. Both just need re-arming, which pump() does when due.
      count_io_error(-res, c);
      return start_close(u);
    }
    pump(u);
  }

  // A send's completion. Zero-copy sends complete twice: the result (with
  // IORING_CQE_F_MORE), when the operation is over, and the notification
  // (IORING_CQE_F_NOTIF), when the kernel no longer reads the bytes; the
  // result is acted on only then, since acting on it may move or free them.
  void on_send_cqe(IoUringConn& u, int res, unsigned flags) {
    if (flags & IORING_CQE_F_NOTIF) {
      ++m.send_zc_notifs;
      if (zc_report && (static_cast<unsigned>(res) & IORING_NOTIF_USAGE_ZC_COPIED)) {
        ++m.send_zc_copied;
      }
      u.zc_wait = false;
      if (u.fd_closed) --zc_parked;
      return on_send(u, u.zc_res);
    }
    ++m.sends;
    --u.inflight;
    if (flags & IORING_CQE_F_MORE) {
      ++m.sends_zc;
      u.zc_wait = true;
      u.zc_res = res;
      return maybe_free(u);  // closing: close now, free at the notification
    }
    on_send(u, res);
  }

  void on_send(IoUringConn& u, int res) {
    u.send_armed = false;
    if (u.closing) return maybe_free(u);
    if (res == -EINVAL && send_zc && zc_report) {  // before 6.2: resend without the report flag
      std::fprintf(stderr, "io_uring: --uring-send-zc: the kernel refuses "
                           "IORING_SEND_ZC_REPORT_USAGE (before 6.2): copies are not counted\n");
      zc_report = false;
      return pump(u);
    }
    if (res < 0) {
      count_io_error(-res, c);
      return start_close(u);
    }
    c.bytes_out += static_cast<std::uint64_t>(res);
    u.send_off += static_cast<std::size_t>(res);
    if (u.send_off == u.sending.size()) {
      u.sending.clear();
      u.send_off = 0;
    } else if (u.send_off > kKeepOutputCapacity) {
      // Stalled part-way: the sent part's memory goes, so that a connection
      // at the bound holds about its queued output, not that and more.
      u.sending = u.sending.substr(u.send_off);
      u.send_off = 0;
    }
    pump(u);
  }

  void on_recv_cancel(IoUringConn& u) {
    u.cancel_armed = false;
    --u.inflight;
    pump(u);
  }

  void report_counters() const {
    ctx->report_counter("recv_completions", m.recv_completions);
    ctx->report_counter("recv_buffers", m.recv_buffers);
    ctx->report_counter("recv_bundles", m.recv_bundles);
    ctx->report_counter("sends", m.sends);
    ctx->report_counter("sends_zc", m.sends_zc);
    ctx->report_counter("send_zc_notifs", m.send_zc_notifs);
    ctx->report_counter("send_zc_copied", m.send_zc_copied);
    if (m.recv_bundle_lost != 0) ctx->report_counter("recv_bundle_lost", m.recv_bundle_lost);
    // Closed connections whose last send the kernel still read at exit
    // (left allocated, see stop_all()).
    ctx->report_counter("send_zc_unreleased_at_exit", zc_parked);
  }

  // Handles every completion that has arrived.
  void reap() {
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      dispatch(io_uring_cqe_get_data64(cqe), cqe->res, cqe->flags);
    }
    io_uring_cq_advance(&ring, seen);
  }

  void dispatch(std::uint64_t ud, int res, unsigned flags) {
    switch (static_cast<Op>(ud & 0xff)) {
      case kStop:
        stop_seen = true;
        break;
      case kAccept:
        on_accept(res, flags);
        break;
      case kAcceptCancel:
        break;
      case kBackoff:
        backoff_armed = false;  // the loop re-arms accept
        break;
      case kRecv:
        on_recv(lookup(ud), res, flags);
        break;
      case kSend:
        if (IoUringConn* u = lookup(ud)) on_send_cqe(*u, res, flags);
        break;
      case kRecvCancel:
        if (IoUringConn* u = lookup(ud)) on_recv_cancel(*u);
        break;
      case kCancelAll:
        if (res == -EINVAL) shutdown_all();  // before 5.19
        break;
      case kShutdown:
        if (IoUringConn* u = lookup(ud)) {
          --u->inflight;
          maybe_free(*u);
        }
        break;
    }
  }
};

// Sets up the ring: with --uring-taskrun, exactly the mode asked for;
// without, the most helpful one this kernel accepts (DEFER_TASKRUN, else
// COOP_TASKRUN, else none; none with SQPOLL, which refuses both). Sets
// *taskrun to the mode in effect. MUXBENCH_IO_URING_NO_DEFER_TASKRUN=1 skips
// DEFER_TASKRUN in the default choice, so that tests can reproduce older
// kernels, where completion work runs on any return to user space instead of
// only inside io_uring_enter().
int init_ring(io_uring& ring, const Options& opt, const char** taskrun) {
  struct Attempt {
    unsigned flags;
    const char* taskrun;
  };
  const unsigned base = IORING_SETUP_CQSIZE | (opt.uring_sqpoll ? IORING_SETUP_SQPOLL : 0u);
  const Attempt defer{base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "defer"};  // 6.1
  const Attempt coop{base | IORING_SETUP_COOP_TASKRUN, "coop"};  // 5.19
  const Attempt none{base, "none"};                              // 5.5
  std::vector<Attempt> attempts;
  if (opt.uring_taskrun == "defer") {
    attempts = {defer};
  } else if (opt.uring_taskrun == "coop") {
    attempts = {coop};
  } else if (!opt.uring_taskrun.empty() || opt.uring_sqpoll) {
    attempts = {none};
  } else {
    const char* no_defer = std::getenv("MUXBENCH_IO_URING_NO_DEFER_TASKRUN");
    if (no_defer == nullptr || std::strcmp(no_defer, "1") != 0) attempts.push_back(defer);
    attempts.insert(attempts.end(), {coop, none, {0, "none"}});
  }
  int ret = -EINVAL;
  for (const Attempt& a : attempts) {
    io_uring_params p{};
    p.flags = a.flags;
    p.cq_entries = kCqEntries;
    p.sq_thread_idle = 1000;  // ms, SQPOLL only: the kernel thread sleeps after this idle time
    ret = io_uring_queue_init_params(kSqEntries, &ring, &p);
    *taskrun = a.taskrun;
    if (ret != -EINVAL) break;  // success, or a reason other than unknown flags
  }
  return ret;
}

// The options asked for, for a start-up failure message ("" for none).
std::string asked(const Options& opt) {
  std::string s;
  if (opt.uring_sqpoll) s += " --uring-sqpoll";
  if (!opt.uring_taskrun.empty()) s += " --uring-taskrun=" + opt.uring_taskrun;
  return s.empty() ? s : " with" + s;
}

const char* init_hint(int err) {
  switch (err) {
    case ENOSYS:
      return "io_uring is not available: kernel without io_uring, or blocked by seccomp";
    case EPERM:
      return "io_uring is not permitted: sysctl kernel.io_uring_disabled or a container policy";
    case ENOMEM:
      return "RLIMIT_MEMLOCK too low for the rings (kernels before 5.12)";
    default:
      return "io_uring is unavailable";
  }
}

// Probes the kernel's features and sets up what the loop uses: multishot
// accept and receive with the provided-buffer ring, receive bundles and
// zero-copy sends when asked for. False, with one line on stderr, when an
// option asked for is not to be had.
bool probe(Loop& loop, const Options& opt) {
  // Receive bundles: a feature flag of the ring (6.10); they take their
  // buffers from the provided-buffer ring, set up below with room for them.
  if (opt.uring_recv_bundle) {
    if (!(loop.ring.features & IORING_FEAT_RECVSEND_BUNDLE)) {
      std::fprintf(stderr, "io_uring: --uring-recv-bundle: this kernel does not take it (no "
                           "IORING_FEAT_RECVSEND_BUNDLE: receive bundles need Linux 6.10+)\n");
      return false;
    }
    loop.bundle = true;
    loop.ring_entries = kBufCount * kBundleRingFactor;
    loop.buf_pos.assign(kBufCount, 0);
  }

  // Kernel feature probe. Multishot accept and buffer rings came with
  // IORING_OP_SOCKET (5.19), multishot recv with IORING_OP_SEND_ZC (6.0).
  const char* force = std::getenv("MUXBENCH_IO_URING_SINGLESHOT");
  const bool allow_multishot = force == nullptr || std::strcmp(force, "1") != 0;
  bool has_send_zc = false;
  if (io_uring_probe* p = io_uring_get_probe_ring(&loop.ring)) {
    has_send_zc = io_uring_opcode_supported(p, IORING_OP_SEND_ZC);
    loop.multishot_accept = allow_multishot && io_uring_opcode_supported(p, IORING_OP_SOCKET);
    loop.multishot_recv = allow_multishot && has_send_zc && loop.setup_buf_ring();
    io_uring_free_probe(p);
  }
  if (loop.bundle && !loop.multishot_recv) {
    std::fprintf(stderr, "io_uring: --uring-recv-bundle needs the provided-buffer ring, %s\n",
                 allow_multishot ? "which could not be set up"
                                 : "which MUXBENCH_IO_URING_SINGLESHOT=1 turns off");
    return false;
  }
  if (!loop.multishot_recv) {
    std::fprintf(stderr, "io_uring: %s: single-shot %s recv into per-connection buffers\n",
                 allow_multishot ? "kernel lacks multishot recv or buffer rings"
                                 : "MUXBENCH_IO_URING_SINGLESHOT=1",
                 loop.multishot_accept ? "(multishot accept)," : "accept,");
  }
  if (opt.uring_send_zc && !has_send_zc) {
    std::fprintf(stderr, "io_uring: --uring-send-zc: this kernel does not take it "
                         "(IORING_OP_SEND_ZC needs Linux 6.0+)\n");
    return false;
  }
  loop.send_zc = opt.uring_send_zc;
  return true;
}

int run(Context& ctx) {
  Loop loop;
  loop.ctx = &ctx;
  const Options& opt = ctx.opt;
  const char* taskrun = "none";
  int ret = init_ring(loop.ring, opt, &taskrun);
  if (ret == -EINVAL && !asked(opt).empty()) {
    std::fprintf(stderr,
                 "io_uring: io_uring_queue_init%s: %s (this kernel does not take it: SQPOLL "
                 "needs 5.11+ unprivileged, COOP_TASKRUN 5.19+, DEFER_TASKRUN 6.1+)\n",
                 asked(opt).c_str(), errno_string(-ret).c_str());
    return 1;
  }
  if (ret < 0) {
    std::fprintf(stderr, "io_uring: io_uring_queue_init%s: %s (%s)\n", asked(opt).c_str(),
                 errno_string(-ret).c_str(), init_hint(-ret));
    return 1;
  }
  loop.ring_ok = true;
  loop.sqpoll = opt.uring_sqpoll;

  // Registered files: a sparse table as large as the descriptor limit, so
  // that direct accept runs out of slots where accept4() would hit EMFILE.
  if (opt.uring_fixed_files) {
    rlimit rl{};
    unsigned slots = 1u << 20;  // the kernel's IORING_MAX_FIXED_FILES
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < slots) {
      slots = static_cast<unsigned>(rl.rlim_cur);
    }
    ret = io_uring_register_files_sparse(&loop.ring, slots);
    if (ret < 0) {
      std::fprintf(stderr,
                   "io_uring: --uring-fixed-files: io_uring_register_files_sparse(%u): %s (sparse "
                   "tables and direct accept need Linux 5.19+)\n",
                   slots, errno_string(-ret).c_str());
      return 1;
    }
    loop.fixed = true;
  }

  if (!probe(loop, opt)) return 1;
  ctx.report_option("fixed_files", loop.fixed ? "on" : "off");
  ctx.report_option("sqpoll", loop.sqpoll ? "on" : "off");
  ctx.report_option("taskrun", taskrun);
  ctx.report_option("recv_bundle", loop.bundle ? "on" : "off");
  ctx.report_option("send_zc", loop.send_zc ? "on" : "off");
  ctx.report_option("accept", loop.multishot_accept ? "multishot" : "single-shot");
  ctx.report_option("recv", loop.bundle           ? "bundle"
                            : loop.multishot_recv ? "multishot"
                                                  : "single-shot");

  io_uring_sqe* s = loop.sqe();
  if (s == nullptr) {
    std::fprintf(stderr, "io_uring: no submission queue entry at start-up\n");
    return 1;
  }
  io_uring_prep_poll_add(s, ctx.stop_fd, POLLIN);
  io_uring_sqe_set_data64(s, tag(kStop));
  loop.arm_accept();
  ret = io_uring_submit(&loop.ring);
  if (ret < 0) {
    std::fprintf(stderr, "io_uring: io_uring_submit: %s\n", errno_string(-ret).c_str());
    return 1;
  }
  ctx.ready();

  while (!loop.stop_seen && !ctx.stop_requested()) {
    if (!loop.accept_armed && !loop.backoff_armed && !loop.accept_dead) loop.arm_accept();
    if (loop.br != nullptr) loop.publish_buffers();
    ret = io_uring_submit_and_wait(&loop.ring, 1);
    if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
      std::fprintf(stderr, "io_uring: io_uring_submit_and_wait: %s\n", errno_string(-ret).c_str());
      break;
    }
    loop.reap();
  }

  loop.stop_all();
  ctx.totals.add(loop.c);
  loop.report_counters();
  return 0;
}

constexpr const char* kOptions[] = {"--uring-fixed-files", "--uring-sqpoll", "--uring-taskrun",
                                    "--uring-recv-bundle", "--uring-send-zc"};

// The default start plus each option that changes the mechanism; a kernel
// that lacks one makes that start fail, saying so.
constexpr Mode kModes[] = {
    {"fixed_files", "--uring-fixed-files"},   {"sqpoll", "--uring-sqpoll"},
    {"taskrun_coop", "--uring-taskrun coop"}, {"taskrun_none", "--uring-taskrun none"},
    {"fixed_sqpoll", "--uring-fixed-files --uring-sqpoll"},
    {"recv_bundle", "--uring-recv-bundle"},   {"send_zc", "--uring-send-zc"},
    {"bundle_zc_fixed", "--uring-recv-bundle --uring-send-zc --uring-fixed-files"},
};

std::string check_options(const Options& opt) {
  if (opt.uring_sqpoll && (opt.uring_taskrun == "defer" || opt.uring_taskrun == "coop")) {
    return "--uring-sqpoll cannot be combined with --uring-taskrun=" + opt.uring_taskrun +
           " (the kernel refuses task-run flags with SQPOLL); use --uring-taskrun=none or leave "
           "it out";
  }
  return "";
}

}  // namespace

extern const Strategy io_uring_strategy = {
    .name = "io_uring",
    .family = "completion",
    .summary = "io_uring, one thread: multishot accept/recv, provided buffers, one send in flight",
    .options = kOptions,
    .modes = kModes,
    .check_options = check_options,
    .run = run,
};

}  // namespace muxbench::server
