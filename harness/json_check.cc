#include "json_check.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace muxbench::harness::check {
namespace {

// Builds the document as nlohmann's own DOM parser does, but keeps the path
// of the value being read, so that an error can name the field.
class PathSax {
 public:
  explicit PathSax(std::string root) : root_(std::move(root)) {}

  bool null() { return place(json(nullptr)); }
  bool boolean(bool b) { return place(json(b)); }
  bool number_integer(json::number_integer_t n) { return place(json(n)); }
  bool number_unsigned(json::number_unsigned_t n) { return place(json(n)); }
  bool number_float(json::number_float_t d, const json::string_t&) { return place(json(d)); }
  bool string(json::string_t& s) { return place(json(std::move(s))); }
  bool binary(json::binary_t& b) { return place(json(std::move(b))); }  // never in JSON text
  bool start_object(std::size_t) { return open(json::object(), false); }
  bool start_array(std::size_t) { return open(json::array(), true); }
  bool key(json::string_t& k) {
    frames_.back().key = k;
    frames_.back().has_key = true;
    return true;
  }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t position, const std::string& token,
                   const nlohmann::detail::exception& ex) {
    error_ = true;
    error_position_ = position;
    error_token_ = token;
    error_id_ = ex.id;
    error_what_ = ex.what();
    return false;
  }

  json take() { return std::move(root_value_); }
  bool failed() const { return error_; }
  std::size_t error_position() const { return error_position_; }
  const std::string& error_token() const { return error_token_; }
  int error_id() const { return error_id_; }
  const std::string& error_what() const { return error_what_; }

  // Where the reader was: root.key[3].key ...
  std::string path() const {
    std::string p = root_;
    for (std::size_t i = 0; i < frames_.size(); ++i) {
      const Frame& f = frames_[i];
      if (f.array) {
        // The open element is the last one; at the innermost level it is
        // the one not yet read.
        std::size_t n = f.node->size();
        p += "[" + std::to_string(i + 1 == frames_.size() ? n : n - 1) + "]";
      } else if (f.has_key) {
        p += (p.empty() ? "" : ".") + f.key;
      }
    }
    return p;
  }

 private:
  struct Frame {
    json* node;
    bool array;
    std::string key;
    bool has_key = false;
  };

  json* put(json v) {
    if (frames_.empty()) {
      root_value_ = std::move(v);
      return &root_value_;
    }
    Frame& f = frames_.back();
    if (f.array) {
      f.node->push_back(std::move(v));
      return &f.node->back();
    }
    json& slot = (*f.node)[f.key];
    slot = std::move(v);
    return &slot;
  }
  bool place(json v) {
    put(std::move(v));
    if (!frames_.empty() && !frames_.back().array) frames_.back().has_key = false;
    return true;
  }
  bool open(json v, bool array) {
    frames_.push_back(Frame{put(std::move(v)), array, {}, false});
    return true;
  }
  bool close() {
    frames_.pop_back();
    if (!frames_.empty() && !frames_.back().array) frames_.back().has_key = false;
    return true;
  }

  std::string root_;
  json root_value_;
  std::vector<Frame> frames_;
  bool error_ = false;
  std::size_t error_position_ = 0;
  std::string error_token_;
  int error_id_ = 0;
  std::string error_what_;
};

// "line 3, column 20" of the character `position` (1-based, as nlohmann
// counts: characters read so far).
std::string line_column(const std::string& text, std::size_t position) {
  std::size_t end = std::min(position == 0 ? 0 : position - 1, text.size());
  std::size_t line = 1 + static_cast<std::size_t>(
                             std::count(text.begin(), text.begin() + static_cast<long>(end), '\n'));
  std::size_t nl = end == 0 ? std::string::npos : text.rfind('\n', end - 1);
  std::size_t column = end - (nl == std::string::npos ? 0 : nl + 1) + 1;
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

}  // namespace

json parse(const std::string& text, const std::string& root) {
  PathSax sax(root);
  json::sax_parse(text, &sax);
  if (!sax.failed()) return sax.take();
  const std::string path = sax.path();
  if (sax.error_id() == 406) {  // out_of_range: a number beyond a double (1e400)
    std::string token = sax.error_token();
    // Where the number starts (the reader stopped at its end).
    std::size_t start = text.rfind(token, sax.error_position());
    const std::string where =
        line_column(text, start == std::string::npos ? sax.error_position() : start + 1);
    if (token.size() > 40) token = token.substr(0, 37) + "...";
    throw SuiteError((path.empty() ? std::string("(top level)") : path) + ": " + token +
                     " is out of range; allowed: a finite number (at most about 1.8e308); " +
                     where);
  }
  const std::string where = line_column(text, sax.error_position());
  // nlohmann's message without its prefix: "[json.exception.parse_error.101]
  // parse error at line 1, column 16: syntax error while parsing ..."
  std::string what = sax.error_what();
  auto colon = what.find(": ", what.find("column"));
  if (what.find("column") != std::string::npos && colon != std::string::npos) {
    what = what.substr(colon + 2);
  } else if (auto b = what.find("] "); b != std::string::npos) {
    what = what.substr(b + 2);
  }
  throw SuiteError("not valid JSON at " + where + (path.empty() ? "" : " (in " + path + ")") +
                   ": " + what);
}

std::string show(const json& v) {
  // JSON text, so that a value with a newline still makes one line.
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (v.is_string()) s = "'" + s.substr(1, s.size() - 2) + "'";
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

[[noreturn]] void fail(const std::string& path, const json& v, const std::string& why) {
  throw SuiteError(path + ": " + show(v) + " " + why);
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) {
    if (!s.empty()) s += sep;
    s += x;
  }
  return s;
}

void check_keys(const json& obj, const std::string& path, const std::vector<std::string>& allowed) {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      throw SuiteError(path + "." + key + ": unknown key; allowed keys: " + join(allowed));
    }
  }
}

void require_object(const json& v, const std::string& path, const std::string& allowed) {
  if (!v.is_object()) fail(path, v, "is not an object; allowed: " + allowed);
}

double get_number(const json& v, const std::string& path, double lo, double hi,
                  const std::string& allowed) {
  if (!v.is_number()) fail(path, v, "is not a number; allowed: " + allowed);
  double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) fail(path, v, "is out of range; allowed: " + allowed);
  return d;
}

int get_int(const json& v, const std::string& path, long lo, long hi, const std::string& allowed) {
  if (!v.is_number_integer()) fail(path, v, "is not an integer; allowed: " + allowed);
  long n = v.get<long>();
  if (n < lo || n > hi) fail(path, v, "is out of range; allowed: " + allowed);
  return static_cast<int>(n);
}

std::string get_string(const json& v, const std::string& path, const std::string& allowed) {
  if (!v.is_string()) fail(path, v, "is not a string; allowed: " + allowed);
  return v.get<std::string>();
}

std::string join_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

const json* find(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

const json& required(const json& obj, const std::string& path, const char* key,
                     const std::string& allowed) {
  const json* v = find(obj, key);
  if (v == nullptr) throw SuiteError(join_path(path, key) + ": missing; allowed: " + allowed);
  return *v;
}

namespace {

// The field to check: null when absent, or null and allowed to be.
const json* present(const json& obj, const char* key, bool nullable) {
  const json* v = find(obj, key);
  return v == nullptr || (nullable && v->is_null()) ? nullptr : v;
}

std::string or_null(const std::string& allowed, bool nullable) {
  return nullable ? allowed + ", or null" : allowed;
}

}  // namespace

void check_string(const json& obj, const std::string& path, const char* key, bool nullable,
                  const std::string& allowed) {
  if (const json* v = present(obj, key, nullable)) {
    get_string(*v, join_path(path, key), or_null(allowed, nullable));
  }
}

void check_number(const json& obj, const std::string& path, const char* key, double lo, double hi,
                  bool nullable, const std::string& allowed) {
  if (const json* v = present(obj, key, nullable)) {
    get_number(*v, join_path(path, key), lo, hi, or_null(allowed, nullable));
  }
}

void check_integer(const json& obj, const std::string& path, const char* key, long long lo,
                   long long hi, bool nullable, const std::string& allowed) {
  const json* v = present(obj, key, nullable);
  if (v == nullptr) return;
  const std::string p = join_path(path, key);
  if (!v->is_number_integer()) {
    fail(p, *v, "is not an integer; allowed: " + or_null(allowed, nullable));
  }
  // An unsigned value beyond long long is out of every range used here.
  if (v->is_number_unsigned() &&
      v->get<json::number_unsigned_t>() > static_cast<json::number_unsigned_t>(hi)) {
    fail(p, *v, "is out of range; allowed: " + or_null(allowed, nullable));
  }
  long long n = v->get<long long>();
  if (n < lo || n > hi) fail(p, *v, "is out of range; allowed: " + or_null(allowed, nullable));
}

void check_bool(const json& obj, const std::string& path, const char* key, bool nullable) {
  const json* v = present(obj, key, nullable);
  if (v != nullptr && !v->is_boolean()) {
    fail(join_path(path, key), *v,
         std::string("is not true or false; allowed: true, false") + (nullable ? ", null" : ""));
  }
}

const json* check_object(const json& obj, const std::string& path, const char* key, bool nullable,
                         const std::string& allowed) {
  const json* v = present(obj, key, nullable);
  if (v != nullptr) require_object(*v, join_path(path, key), or_null(allowed, nullable));
  return v;
}

const json* check_list(const json& obj, const std::string& path, const char* key,
                       const std::string& allowed) {
  const json* v = find(obj, key);
  if (v != nullptr && !v->is_array()) {
    fail(join_path(path, key), *v, "is not a list; allowed: " + allowed);
  }
  return v;
}

void check_string_list(const json& obj, const std::string& path, const char* key,
                       const std::string& allowed) {
  const json* v = check_list(obj, path, key, allowed);
  if (v == nullptr) return;
  for (std::size_t i = 0; i < v->size(); ++i) {
    get_string((*v)[i], join_path(path, key) + "[" + std::to_string(i) + "]", allowed);
  }
}

}  // namespace muxbench::harness::check
