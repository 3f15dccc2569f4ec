// The ephemeral port range as the load generator reads it
// (loadgen/port_range.h): whatever net.ipv4.ip_local_port_range holds, a
// usable range and a clear sentence, never a division by zero.
#include <gtest/gtest.h>

#include <climits>

#include "port_range.h"

namespace muxbench::loadgen {
namespace {

TEST(PortRange, TheKernelsFormatParses) {
  PortRange r = parse_port_range("32768\t60999\n");
  EXPECT_EQ(r.lo, 32768);
  EXPECT_EQ(r.hi, 60999);
  EXPECT_EQ(r.count(), 28232);
  EXPECT_EQ(r.problem, "");
  r = parse_port_range("1024 65535");
  EXPECT_EQ(r.count(), 64512);
  EXPECT_EQ(r.problem, "");
}

TEST(PortRange, ASinglePortIsARangeOfOne) {
  PortRange r = parse_port_range("40000\t40000\n");
  EXPECT_EQ(r.lo, 40000);
  EXPECT_EQ(r.hi, 40000);
  EXPECT_EQ(r.count(), 1);
  EXPECT_EQ(r.problem, "");
}

TEST(PortRange, ReversedBoundsAreSwappedAndSaidSo) {
  PortRange r = parse_port_range("60999 32768\n");
  EXPECT_EQ(r.lo, 32768);
  EXPECT_EQ(r.hi, 60999);
  EXPECT_EQ(r.problem, "net.ipv4.ip_local_port_range '60999 32768' is reversed; using 32768-60999");
}

TEST(PortRange, AnythingElseFallsBackToTheDefaultWithAReason) {
  const struct {
    const char* text;
    const char* why;
  } cases[] = {
      {"", "'' is empty"},
      {" \n", "'' is empty"},
      {"garbage", "'garbage' is not two port numbers"},
      {"40000", "'40000' is not two port numbers"},
      {"1 2 3", "'1 2 3' is not two port numbers"},
      {"32768 60999x", "'32768 60999x' is not two port numbers"},
      {"-5 10", "'-5 10' has a port outside 1..65535"},
      {"0 0", "'0 0' has a port outside 1..65535"},
      {"1024 70000", "'1024 70000' has a port outside 1..65535"},
      {"99999999999999999999 1", "'99999999999999999999 1' is not two port numbers"},
  };
  for (const auto& c : cases) {
    PortRange r = parse_port_range(c.text);
    EXPECT_EQ(r.lo, kDefaultPortLo) << c.text;
    EXPECT_EQ(r.hi, kDefaultPortHi) << c.text;
    EXPECT_EQ(r.problem, std::string("net.ipv4.ip_local_port_range ") + c.why +
                             "; assuming the kernel's default 32768-60999")
        << c.text;
  }
}

TEST(PortRange, AnUnreadableFileFallsBackToTheDefault) {
  PortRange r = read_port_range("/nonexistent/ip_local_port_range");
  EXPECT_EQ(r.count(), kDefaultPortHi - kDefaultPortLo + 1);
  EXPECT_EQ(r.problem,
            "cannot read /nonexistent/ip_local_port_range; assuming the kernel's default "
            "32768-60999");
}

TEST(PortRange, SourceAddressesForTheDefaultRangeAreAsBefore) {
  // 28,232 ports: one address up to 3/4 of them, then each kept half full.
  EXPECT_EQ(source_addresses_needed(1, 28232, false), 1);
  EXPECT_EQ(source_addresses_needed(21174, 28232, false), 1);
  EXPECT_EQ(source_addresses_needed(21175, 28232, false), 2);
  EXPECT_EQ(source_addresses_needed(100000, 28232, false), 8);  // ceil(100000 / 14116)
  EXPECT_EQ(source_addresses_needed(10, 28232, true), 64);
  EXPECT_EQ(source_addresses_needed(1000000, 28232, true), 71);
}

TEST(PortRange, SourceAddressesForTinyRangesNeverDivideByZero) {
  // One port: one connection per address (this divided by zero once).
  EXPECT_EQ(source_addresses_needed(1, 1, false), 1);
  EXPECT_EQ(source_addresses_needed(2, 1, false), 2);
  EXPECT_EQ(source_addresses_needed(1000, 1, false), 1000);
  EXPECT_EQ(source_addresses_needed(10, 1, true), 64);
  EXPECT_EQ(source_addresses_needed(100, 2, false), 100);
  EXPECT_EQ(source_addresses_needed(100, 3, false), 100);
  EXPECT_EQ(source_addresses_needed(100, 4, false), 50);
  // Nonsense in, sense out: no ports is taken as one, no connections as none.
  EXPECT_EQ(source_addresses_needed(5, 0, false), 5);
  EXPECT_EQ(source_addresses_needed(5, -7, false), 5);
  EXPECT_EQ(source_addresses_needed(0, 1, false), 1);
  EXPECT_EQ(source_addresses_needed(-3, 1, false), 1);
}

TEST(PortRange, SourceAddressesAreCappedAtOneSlash16) {
  EXPECT_EQ(source_addresses_needed(1000000, 1, false), kMaxSourceAddresses);
  EXPECT_EQ(source_addresses_needed(INT_MAX, 1, true), kMaxSourceAddresses);
  EXPECT_EQ(source_addresses_needed(INT_MAX, INT_MAX, false), 3);  // 3/4 of the range: spread
}

}  // namespace
}  // namespace muxbench::loadgen
