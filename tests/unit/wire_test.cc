// The READY line: what a server writes, its readers read back.
#include <gtest/gtest.h>

#include "muxbench/wire.h"

namespace muxbench::wire {
namespace {

TEST(Wire, ReadyLineRoundTrips) {
  const std::string line = ready_line("epoll-et", 41234, 1234) + " taskrun=defer";
  EXPECT_EQ(line, "READY strategy=epoll-et port=41234 pid=1234 taskrun=defer");
  EXPECT_EQ(ready_port(line), 41234);
  EXPECT_EQ(ready_value(line, ready::kStrategy), "epoll-et");
  EXPECT_EQ(ready_value(line, ready::kPid), "1234");
  EXPECT_EQ(ready_value(line, "taskrun"), "defer");
  EXPECT_EQ(ready_value(line, "sqpoll"), "");
}

TEST(Wire, OtherLinesAreNotReadyLines) {
  EXPECT_EQ(ready_port("muxbench-server: bind: Address in use port=80"), 0);
  EXPECT_EQ(ready_port("READYstrategy=x port=80"), 0);
  EXPECT_EQ(ready_port(""), 0);
  EXPECT_FALSE(ready_value("not ready port=1", ready::kPort).has_value());
}

}  // namespace
}  // namespace muxbench::wire
