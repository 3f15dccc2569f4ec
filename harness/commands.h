// The subcommands of `muxbench`. Each lives in its own file and registers
// itself on the CLI11 app through the table in main.cc; a new subcommand
// (compare) is one file plus one line there.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace muxbench::harness {

// Registers the subcommand's options on `sub`; returns what runs it, which
// returns the process exit status.
using CommandMain = std::function<int()>;
CommandMain setup_list(CLI::App& sub);
CommandMain setup_run(CLI::App& sub);
CommandMain setup_show(CLI::App& sub);
CommandMain setup_compare(CLI::App& sub);
CommandMain setup_ab(CLI::App& sub);
CommandMain setup_trend(CLI::App& sub);
CommandMain setup_export(CLI::App& sub);
CommandMain setup_serve_cell(CLI::App& sub);  // the server side of a cell (agent.h)
CommandMain setup_host_info(CLI::App& sub);

// Exit statuses shared by the subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;        // something failed at run time
inline constexpr int kExitUsage = 2;        // bad flags or a bad suite: nothing ran
inline constexpr int kExitInterrupted = 130;

// Where the other binaries are: --bin-dir, else the directory of this one.
std::string default_bin_dir();

// This executable (it also runs the serve-cell agent).
std::string self_path();

// The process's argv, recorded in results files (main() sets it).
void set_command_line(int argc, char** argv);
const std::vector<std::string>& command_line();

// Prints "muxbench: <message>" to stderr.
void error(const std::string& message);

}  // namespace muxbench::harness
