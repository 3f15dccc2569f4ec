// The workload of libevent's test/bench.c, shared by every BM_Dispatch.
//
// N AF_UNIX stream socketpairs; the read end of each is watched. A round
// writes one byte into each of A evenly spaced pairs ("active"), then
// dispatches until every byte written has been read. Whenever a byte is read
// from pair i, one byte is written into pair i+1 (mod N), until W such chained
// writes have been made. A round therefore delivers exactly A + W bytes, each
// one an "event": written, reported ready, read. Only the rounds are timed;
// opening the pairs and registering them happen before the timing loop.
//
// Unlike bench.c, the A seeding writes of a round are timed too: they are the
// same send() that every chained event pays, so every event costs the same
// work and ns_per_event is uniform (PauseTiming around them would cost more
// than they do at small N).
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

#include "mechanism.h"

namespace muxbench::micro {

// N watched descriptors: the read ends of N non-blocking AF_UNIX stream
// socketpairs, each written through its own unwatched peer as in bench.c.
// Owns the descriptors.
//
// Layout: the watched ends get the lowest descriptors, contiguously, and the
// writers are moved above them (F_DUPFD), so select() can watch N up to
// FD_SETSIZE minus a few and nfds is N plus stdio, as for a server whose
// descriptors are all watched.
//
// Descriptor budget: N pairs take 2N descriptors, one more than 20,000 allows
// at N = 10,000 once stdio and the epoll descriptor are counted. When
// RLIMIT_NOFILE leaves no room for every writer, the last few watched sockets
// (an even number) are connected to each other instead: each is the other's
// writer. They sit at the end of the index range, which the chains of the
// registered workloads never reach, so they are as idle as the rest;
// peer_watched() says how many there are (0 below N = 10,000 at 20,000).
class Pairs {
 public:
  Pairs() = default;
  Pairs(const Pairs&) = delete;
  Pairs& operator=(const Pairs&) = delete;
  ~Pairs();

  // Opens n watched sockets and their writers. On failure (typically EMFILE)
  // closes what it opened, returns false and sets *err to one line naming N,
  // the step and the RLIMIT_NOFILE in force.
  bool open(int n, std::string* err);

  int size() const { return static_cast<int>(reader_.size()); }
  int reader(int i) const { return reader_[static_cast<std::size_t>(i)]; }  // watched
  int writer(int i) const { return writer_[static_cast<std::size_t>(i)]; }
  int max_reader() const;
  // Watched sockets whose writer is another watched socket (see above).
  int peer_watched() const { return size() - dedicated_; }

  // True when no reader holds unread bytes (checked after the timed loop).
  bool all_drained() const;

 private:
  void close_all();

  std::vector<int> reader_;
  std::vector<int> writer_;
  int dedicated_ = 0;  // reader_[i] for i < dedicated_ has its own writer
};

// bench.c's counters and its read callback.
class Chain {
 public:
  Chain(const Pairs& pairs, const Workload& w)
      : pairs_(pairs), w_(w), first_peer_watched_(pairs.size() - pairs.peer_watched()) {}

  // Starts a round: writes one byte into each of the A active pairs, spaced
  // N/A apart as in bench.c.
  void seed();

  // Level-triggered callback, bench.c's read_cb: reads one byte from pair i
  // and chains one write. Bytes left behind are reported again next wait.
  void read_one(int i);

  // Edge-triggered callback: reads pair i until EAGAIN (a notification may
  // stand for several bytes, and none will follow for bytes already there),
  // chaining one write per byte read so a round still delivers A + W events.
  void read_all(int i);

  // Every byte written this round has been read.
  bool round_done() const { return read_ == written_; }
  // ... and all W chained writes were made: the round delivered A + W events.
  bool round_complete() const { return round_done() && writes_left_ == 0; }
  long long read_total() const { return read_; }
  int events_per_round() const { return w_.active + w_.writes; }
  const Pairs& pairs() const { return pairs_; }
  // Chained writes that went to a socket whose writer is watched (expected 0).
  long long peer_watched_writes() const { return peer_watched_writes_; }

  // Set when a send()/recv() failed unexpectedly; the text says which.
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  void chain_from(int i);
  void fail(const char* what, int i, int err);

  const Pairs& pairs_;
  Workload w_;
  long long read_ = 0;     // bench.c's count
  long long written_ = 0;  // bench.c's fired
  int writes_left_ = 0;    // bench.c's writes
  int first_peer_watched_;
  long long peer_watched_writes_ = 0;
  std::string error_;
};

namespace detail {
bool stalled(std::chrono::steady_clock::time_point since);
void set_dispatch_counters(benchmark::State& state, const Chain& chain, const Workload& w,
                           long long dispatches);
}  // namespace detail

// Times rounds: every benchmark iteration is one round (seed, then call
// dispatch_once() until all A + W bytes are read). dispatch_once(&err) is the
// mechanism's loop body (wait with a zero timeout, then call chain.read_one()
// or chain.read_all() for each ready pair); it returns false with *err set
// when a call fails. A dispatch that makes no progress for 2 s means the
// mechanism lost an event: the benchmark is skipped with an error rather than
// spinning forever. Sets ns_per_event, events_per_s, events_per_dispatch,
// watched and active (and peer_watched when not 0).
template <class DispatchOnce>
void run_rounds(benchmark::State& state, Chain& chain, const Workload& w,
                DispatchOnce&& dispatch_once) {
  long long dispatches = 0;
  std::string err;
  for (auto _ : state) {
    chain.seed();
    std::chrono::steady_clock::time_point idle_since{};
    while (!chain.round_done()) {
      const long long before = chain.read_total();
      if (!dispatch_once(&err)) break;
      ++dispatches;
      if (chain.failed()) break;
      if (chain.read_total() != before) {
        idle_since = {};
      } else if (idle_since == std::chrono::steady_clock::time_point{}) {
        idle_since = std::chrono::steady_clock::now();
      } else if (detail::stalled(idle_since)) {
        err = "no event delivered for 2 s: the mechanism lost a readiness notification";
        break;
      }
    }
    if (err.empty() && !chain.failed() && !chain.round_complete()) {
      err = "round ended before all chained writes were made (broken invariant)";
    }
    if (!err.empty() || chain.failed()) {
      if (err.empty()) err = chain.error();
      state.SkipWithError(err.c_str());
      return;
    }
  }
  detail::set_dispatch_counters(state, chain, w, dispatches);
}

// Shared tail of every BM_Register: ns_per_fd and fds_per_s over the
// pairs.size() descriptors added and removed per iteration.
void set_registration_counters(benchmark::State& state, const Pairs& pairs);

// "poll: Bad file descriptor": for SkipWithError messages.
std::string syscall_error(const char* what, int err);

}  // namespace muxbench::micro
