// What commands.h declares for every subcommand: where the binaries are,
// the command line, and the one way to print an error. (In the library, not
// in main.cc, so that the tests linking a subcommand's file have them too.)
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"

namespace muxbench::harness {

std::string self_path() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n <= 0 ? std::string("muxbench") : std::string(buf, static_cast<std::size_t>(n));
}

std::string default_bin_dir() {
  std::string p = self_path();
  auto slash = p.find_last_of('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

namespace {
std::vector<std::string> g_command_line;
}

void set_command_line(int argc, char** argv) { g_command_line.assign(argv, argv + argc); }

const std::vector<std::string>& command_line() { return g_command_line; }

void error(const std::string& message) {
  std::fprintf(stderr, "muxbench: %s\n", message.c_str());
}

}  // namespace muxbench::harness
