// The load generator's MPI calls (ranks.h), all of them, and the world of one
// rank used without MPI. Collectives are the non-blocking ones (MPI_Iallreduce,
// MPI_Ibcast, MPI_Igather, MPI_Igatherv) completed by polling MPI_Test, so
// that a dead or hung rank costs a deadline, never a hang.
#include "ranks.h"

#include <cstdlib>

#ifdef MUXBENCH_HAVE_MPI
#include <mpi.h>
#endif

namespace muxbench::loadgen {

#ifdef MUXBENCH_HAVE_MPI

namespace {

bool g_mpi = false;

bool launched_by_mpirun() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

// Polls one request to completion, the deadline, or `idle` giving up.
bool complete(MPI_Request* req, Nanos deadline, const IdleFn& idle) {
  for (;;) {
    int done = 0;
    MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (done) return true;
    if (mono_ns() >= deadline) return false;
    if (idle()) return false;
  }
}

}  // namespace

bool ranks_built_with_mpi() { return true; }

RankWorld ranks_init(int* argc, char*** argv) {
  RankWorld w;
  if (!launched_by_mpirun()) return w;
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  g_mpi = true;
  w.mpi = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &w.size);
  return w;
}

bool ranks_max(std::int64_t* value, Nanos deadline, const IdleFn& idle) {
  if (!g_mpi) return true;
  std::int64_t mine = *value;
  MPI_Request req;
  MPI_Iallreduce(&mine, value, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD, &req);
  return complete(&req, deadline, idle);
}

bool ranks_broadcast(std::int64_t* value, Nanos deadline, const IdleFn& idle) {
  if (!g_mpi) return true;
  MPI_Request req;
  MPI_Ibcast(value, 1, MPI_INT64_T, 0, MPI_COMM_WORLD, &req);
  return complete(&req, deadline, idle);
}

bool ranks_gather(const std::string& mine, std::vector<std::string>* all, Nanos deadline,
                  const IdleFn& idle) {
  all->clear();
  if (!g_mpi) {
    all->push_back(mine);
    return true;
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  // First the sizes, then the bytes.
  int my_len = static_cast<int>(mine.size());
  std::vector<int> lens(rank == 0 ? static_cast<std::size_t>(size) : 0);
  MPI_Request req;
  MPI_Igather(&my_len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD, &req);
  if (!complete(&req, deadline, idle)) return false;
  std::vector<int> offsets(lens.size());
  int total = 0;
  for (std::size_t r = 0; r < lens.size(); ++r) {
    offsets[r] = total;
    total += lens[r];
  }
  std::string bytes(static_cast<std::size_t>(total), '\0');
  MPI_Igatherv(mine.data(), my_len, MPI_CHAR, bytes.data(), lens.data(), offsets.data(), MPI_CHAR,
               0, MPI_COMM_WORLD, &req);
  if (!complete(&req, deadline, idle)) return false;
  for (std::size_t r = 0; r < lens.size(); ++r) {
    all->push_back(bytes.substr(static_cast<std::size_t>(offsets[r]),
                                static_cast<std::size_t>(lens[r])));
  }
  return true;
}

void ranks_finalize() {
  if (g_mpi) MPI_Finalize();
  g_mpi = false;
}

void ranks_abort(int code) {
  if (g_mpi) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

#else  // no MPI: one rank

bool ranks_built_with_mpi() { return false; }

RankWorld ranks_init(int*, char***) { return {}; }

bool ranks_max(std::int64_t*, Nanos, const IdleFn&) { return true; }

bool ranks_broadcast(std::int64_t*, Nanos, const IdleFn&) { return true; }

bool ranks_gather(const std::string& mine, std::vector<std::string>* all, Nanos,
                  const IdleFn&) {
  all->assign(1, mine);
  return true;
}

void ranks_finalize() {}

void ranks_abort(int code) { std::_Exit(code); }

#endif

}  // namespace muxbench::loadgen
