// Validation of JSON input (suites, host files): every error is one line that
// names the field by its path, shows the bad value and says what is allowed,
//   suite.workloads[2]: 'pingpnog' is not a workload; allowed: pingpong, ...
// and is thrown as a SuiteError.
#pragma once

#include <string>
#include <vector>

#include "suite.h"

namespace muxbench::harness::check {

// A value as shown in messages: JSON, strings in single quotes, long ones cut.
std::string show(const json& v);

[[noreturn]] void fail(const std::string& path, const json& v, const std::string& why);

std::string join(const std::vector<std::string>& v, const char* sep = ", ");

// Unknown keys are errors.
void check_keys(const json& obj, const std::string& path, const std::vector<std::string>& allowed);
void require_object(const json& v, const std::string& path, const std::string& allowed);
double get_number(const json& v, const std::string& path, double lo, double hi,
                  const std::string& allowed);
int get_int(const json& v, const std::string& path, long lo, long hi, const std::string& allowed);
std::string get_string(const json& v, const std::string& path, const std::string& allowed);

}  // namespace muxbench::harness::check
