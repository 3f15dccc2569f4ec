// What the multi-thread strategies share that is not what they demonstrate:
// starting their threads before READY, and handing a connection to another
// thread over a pipe (memcached's dispatcher). How each strategy shares its
// accepts, and its event loop, stay in its own file.
#pragma once

#include <functional>
#include <thread>
#include <vector>

#include "strategy.h"

namespace muxbench::server {

// Starts body(i) on a new thread for each i in [first, last), before READY,
// so that a thread that cannot start is a start-up failure: then prints one
// line naming `who`, signals stop_fd (the threads already running see the
// stop and return), joins them and returns false.
bool start_threads(const Context& ctx, const char* who, int first, int last,
                   const std::function<void(int)>& body, std::vector<std::thread>& threads);

// A pipe that carries descriptors of accepted connections, 4 bytes each: a
// pipe write of 4 bytes is atomic and reads take whole multiples of them, so
// the descriptor is the whole message and there is no queue and no lock.
class HandoffPipe {
 public:
  // Descriptors taken per wake-up of the receiving loop, at most.
  static constexpr int kPerWake = 64;

  HandoffPipe() = default;
  ~HandoffPipe();
  HandoffPipe(const HandoffPipe&) = delete;
  HandoffPipe& operator=(const HandoffPipe&) = delete;

  // Creates the pipe, both ends non-blocking (a full pipe must not block the
  // acceptor past a stop). False with the reason printed, naming `who`.
  bool open(const char* who);
  // The end the receiving loop watches for input.
  int read_fd() const { return rd_; }

  // Acceptor side: writes the descriptor; waits (poll) while the pipe is
  // full, unless stopping. False: not handed over (the caller closes it).
  bool send(int fd, const Context& ctx);
  // Loop side: the descriptors waiting (up to kPerWake), into `out`; returns
  // how many (0: none, another wake-up took them).
  int receive(int (&out)[kPerWake]);
  // Loop side, after the acceptor has finished: closes the connections handed
  // over but never picked up, counting them as accepted and closed in `c`.
  void drain(Counters& c);

 private:
  int rd_ = -1;
  int wr_ = -1;
};

}  // namespace muxbench::server
