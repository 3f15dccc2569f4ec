// Several muxbench-loadgen processes as one load generator: the ranks of an
// MPI job started by mpirun (docs/loadgen.md, "Many load-generator hosts").
// Every MPI call of the load generator is in ranks.cc; without MPI support
// compiled in (MUXBENCH_HAVE_MPI), or when not launched by mpirun, this is a
// world of one rank and every collective is the identity.
//
// Only the main thread calls these, and never during the warm-up, the
// measurement or the drain: workers never touch MPI. Every collective is
// bounded: it polls for completion and gives up at a deadline, or as soon as
// `idle` (called between polls, it should wait a little) returns true, e.g.
// because a stop signal came. After a collective gave up, the caller must not
// make another blocking MPI call: it writes what it can and exits or aborts.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "loadgen.h"

namespace muxbench::loadgen {

struct RankWorld {
  int rank = 0;
  int size = 1;
  bool mpi = false;  // MPI_Init was called (launched by mpirun, built with MPI)
};

// True when this binary was built with MPI support.
bool ranks_built_with_mpi();

// Initialises MPI if this process was launched by mpirun (Open MPI's
// OMPI_COMM_WORLD_SIZE, PMIx's PMIX_RANK or PMI_RANK in the environment) and
// MPI support is built in; otherwise does nothing (no MPI_Init, no orted
// needed). Call it once, first thing in main(), with the stop signals
// already blocked (MPI's own threads inherit the mask).
RankWorld ranks_init(int* argc, char*** argv);

// Waits a little (a few ms) and returns true to give up the collective.
using IdleFn = std::function<bool()>;

// Every rank's *value replaced by the maximum over all ranks.
bool ranks_max(std::int64_t* value, Nanos deadline, const IdleFn& idle);

// Rank 0's *value, on every rank.
bool ranks_broadcast(std::int64_t* value, Nanos deadline, const IdleFn& idle);

// Rank 0 gets every rank's bytes, in rank order, in *all; others get nothing.
bool ranks_gather(const std::string& mine, std::vector<std::string>* all, Nanos deadline,
                  const IdleFn& idle);

// Leaves MPI cleanly (every rank must call it); nothing without MPI.
void ranks_finalize();

// Ends the whole job (MPI_Abort: mpirun kills every rank and exits non-zero);
// without MPI, exits this process.
[[noreturn]] void ranks_abort(int code);

}  // namespace muxbench::loadgen
