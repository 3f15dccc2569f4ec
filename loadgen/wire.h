// A rank's results as bytes, for sending them to rank 0 under mpirun
// (ranks.h) and rebuilding them there exactly: every counter, the complete
// state of every histogram (buckets and exact side statistics), the time
// series. Both ends are the same binary, so the format is private to it: no
// versioning, native byte order (a job's hosts share one architecture).
#pragma once

#include <string>

#include "report.h"

namespace muxbench::loadgen {

std::string encode(const RankResult& r);

// False when the bytes are not a whole RankResult (then *out is unspecified).
bool decode(const std::string& bytes, RankResult* out);

}  // namespace muxbench::loadgen
