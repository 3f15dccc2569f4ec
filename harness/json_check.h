// Validation of JSON input (suites, host files, results files, load generator
// reports): every error is one line that names the field by its path, shows
// the bad value and says what is allowed,
//   suite.workloads[2]: 'pingpnog' is not a workload; allowed: pingpong, ...
// and is thrown as a SuiteError.
#pragma once

#include <string>
#include <vector>

#include "suite.h"

namespace muxbench::harness::check {

// Parses JSON text. A syntax error, or a number no double can hold (1e400),
// throws a SuiteError that names the field being read (its path under
// `root`, e.g. "suite"), the bad token and where it is:
//   suite.duration_s: 1e400 is out of range; allowed: a finite number (at
//     most about 1.8e308); line 3, column 20
//   not valid JSON at line 1, column 16 (in suite.strategies): syntax error
//     while parsing value - ...
// Callers put the file name in front.
json parse(const std::string& text, const std::string& root = "");

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

// Fields of an object, by key: `path` is the object's, `key` is appended.
// A required field that is absent throws "<path>.<key>: missing; allowed: ...".
// An optional one may be absent and, where `nullable`, null; otherwise its
// value is checked as the get_* functions above check it.
std::string join_path(const std::string& path, const std::string& key);
const json* find(const json& obj, const char* key);  // null when absent
const json& required(const json& obj, const std::string& path, const char* key,
                     const std::string& allowed);
void check_string(const json& obj, const std::string& path, const char* key, bool nullable,
                  const std::string& allowed);
void check_number(const json& obj, const std::string& path, const char* key, double lo, double hi,
                  bool nullable, const std::string& allowed);
void check_integer(const json& obj, const std::string& path, const char* key, long long lo,
                   long long hi, bool nullable, const std::string& allowed);
void check_bool(const json& obj, const std::string& path, const char* key, bool nullable);
// An object (or, `nullable`, null); returns it, or null when absent or null.
const json* check_object(const json& obj, const std::string& path, const char* key, bool nullable,
                         const std::string& allowed);
// A list; returns it, or null when absent.
const json* check_list(const json& obj, const std::string& path, const char* key,
                       const std::string& allowed);
void check_string_list(const json& obj, const std::string& path, const char* key,
                       const std::string& allowed);

}  // namespace muxbench::harness::check
