// Loads openclawd.yaml into core::config. yaml-cpp is used only in this file.
//
// The loader walks the YAML tree once, in document order. Every mapping is read
// through a table of the keys it knows (key_spec<T>: name, required or not, and the
// function that reads the value into a draft). Unknown keys, duplicate keys and
// missing required keys are therefore handled in one place, read_mapping(), and a
// new top-level section (telegram:, search:, ...) is one more table plus one row in
// top_level_keys. Checks that span several keys (ports used twice, backoff_max >=
// backoff_initial) run right after their mapping is read; checks that touch the
// file system (model files, the llama-server executable) run last, after the text
// itself is known to be valid. The first problem found is returned as a
// config_error; nothing is partially applied.
#include "core/config.hpp"

#include "core/model_ref.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <regex>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <span>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace openclawd::core {

namespace fs = std::filesystem;

std::string config_error::to_string() const {
  std::string out = file.string();
  if (line > 0) {
    out += ':' + std::to_string(line);
    if (column > 0) out += ':' + std::to_string(column);
  }
  out += ": ";
  if (!key.empty()) {
    out += key;
    out += ": ";
  }
  out += message;
  return out;
}

void throw_exception_from_error(const config_error& e, const boost::source_location&) {
  throw std::runtime_error(e.to_string());
}

std::vector<fs::path> node_config::models() const {
  std::vector<fs::path> all;
  all.reserve(1 + fallbacks.size());
  all.push_back(model);
  all.insert(all.end(), fallbacks.begin(), fallbacks.end());
  return all;
}

const node_config* config::find_node(std::string_view name) const {
  auto it = std::find_if(nodes.begin(), nodes.end(), [&](const node_config& n) { return n.name == name; });
  return it == nodes.end() ? nullptr : &*it;
}

std::string worker_config::connect_host() const {
  if (!is_remote()) return host == "0.0.0.0" ? std::string("127.0.0.1") : host;
  std::string h = remote.substr(0, remote.rfind(':'));  // the loader checked host:port
  if (h.size() > 2 && h.front() == '[') h = h.substr(1, h.size() - 2);
  return h;
}

int worker_config::connect_port() const {
  return is_remote() ? std::stoi(remote.substr(remote.rfind(':') + 1)) : port;
}

const worker_config* config::find_worker(std::string_view name) const {
  auto it = std::find_if(workers.begin(), workers.end(), [&](const worker_config& w) { return w.name == name; });
  return it == workers.end() ? nullptr : &*it;
}

namespace {

// ---------------------------------------------------------------------------
// Environment, home directory, path text expansion

std::optional<std::string> env_value(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

// $HOME, else the password database (a daemon started by launchd or cron may lack
// $HOME). getpwuid is not thread-safe; config is loaded before any thread exists.
std::optional<std::string> home_dir() {
  if (auto home = env_value("HOME"); home && !home->empty()) return home;
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr && *pw->pw_dir != '\0') {
    return std::string(pw->pw_dir);
  }
  return std::nullopt;
}

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

struct expansion {
  std::optional<std::string> text;  // set on success
  std::string unset_variable;       // the variable that is not set
  bool malformed = false;           // "${" without a matching "}", or "${}"
};

// "~" and "~/..." become the home directory; $NAME and ${NAME} the variable's value.
// A "$" not followed by a name stays literal ("a$" or "$5"), as in the shell.
expansion expand(std::string_view in) {
  std::string out;
  std::size_t i = 0;
  if (in == "~" || in.starts_with("~/")) {
    auto home = home_dir();
    if (!home) return {std::nullopt, "HOME", false};
    out = *home;
    i = 1;
  }
  while (i < in.size()) {
    if (in[i] != '$') {
      out += in[i++];
      continue;
    }
    std::string_view name;
    std::size_t next = 0;
    if (i + 1 < in.size() && in[i + 1] == '{') {
      const std::size_t close = in.find('}', i + 2);
      if (close == std::string_view::npos) return {std::nullopt, "", true};
      name = in.substr(i + 2, close - i - 2);
      if (name.empty() || !is_name_start(name.front()) || !std::all_of(name.begin(), name.end(), is_name_char)) {
        return {std::nullopt, "", true};
      }
      next = close + 1;
    } else {
      std::size_t j = i + 1;
      if (j < in.size() && is_name_start(in[j])) {
        while (j < in.size() && is_name_char(in[j])) ++j;
      }
      if (j == i + 1) {
        out += '$';
        ++i;
        continue;
      }
      name = in.substr(i + 1, j - i - 1);
      next = j;
    }
    auto value = env_value(std::string(name).c_str());
    if (!value) return {std::nullopt, std::string(name), false};
    out += *value;
    i = next;
  }
  return {std::move(out), "", false};
}

// ---------------------------------------------------------------------------
// Durations and sizes

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return s;
}

// Reads a non-negative decimal number ("10", "1.5", ".5") from the front of `s`.
std::optional<double> take_number(std::string_view& s) {
  std::size_t n = 0;
  bool digits = false;
  bool dot = false;
  while (n < s.size()) {
    const char c = s[n];
    if (std::isdigit(static_cast<unsigned char>(c)) != 0) {
      digits = true;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      break;
    }
    ++n;
  }
  if (!digits) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + n, value);
  if (ec != std::errc{} || end != s.data() + n) return std::nullopt;
  s.remove_prefix(n);
  return value;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Bytes: "10MiB", "512KiB", "1GiB", "10MB", "1.5MiB", "65536", "65536B". Units are
// case-insensitive; KB/MB/GB are powers of 1000, KiB/MiB/GiB powers of 1024.
std::optional<std::uint64_t> parse_size(std::string_view text) {
  text = trim(text);
  auto number = take_number(text);
  if (!number) return std::nullopt;
  text = trim(text);
  const std::string unit = lowercase(text);
  double factor = 0;
  if (unit.empty() || unit == "b") {
    factor = 1;
  } else if (unit == "kb") {
    factor = 1e3;
  } else if (unit == "mb") {
    factor = 1e6;
  } else if (unit == "gb") {
    factor = 1e9;
  } else if (unit == "kib") {
    factor = 1024.0;
  } else if (unit == "mib") {
    factor = 1024.0 * 1024;
  } else if (unit == "gib") {
    factor = 1024.0 * 1024 * 1024;
  } else {
    return std::nullopt;
  }
  const double bytes = *number * factor;
  if (factor == 1 && bytes != std::floor(bytes)) return std::nullopt;  // "1.5" bytes
  if (!(bytes <= 9.0e18)) return std::nullopt;
  return static_cast<std::uint64_t>(std::llround(bytes));
}

std::string format_duration(duration d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string format_size(std::uint64_t bytes) {
  constexpr std::uint64_t kib = 1024;
  if (bytes != 0 && bytes % (kib * kib * kib) == 0) return std::to_string(bytes / (kib * kib * kib)) + "GiB";
  if (bytes != 0 && bytes % (kib * kib) == 0) return std::to_string(bytes / (kib * kib)) + "MiB";
  if (bytes != 0 && bytes % kib == 0) return std::to_string(bytes / kib) + "KiB";
  return std::to_string(bytes) + " bytes";
}

// ---------------------------------------------------------------------------
// Describing what was found, and suggesting what was meant

// A scalar as it appears in a message: quoted, escaped, and cut when very long.
std::string quote(std::string_view s) {
  constexpr std::size_t max_shown = 60;
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < max_shown; ++i) {
    const char c = s[i];
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default: out += c;
    }
  }
  if (s.size() > max_shown) out += "...";
  out += '"';
  return out;
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Scalar: return quote(n.Scalar());
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: break;
  }
  return "an empty value";
}

// Keys are compared the way people mistype them: case, '-' and ' ' do not matter.
std::string normalize_key(std::string_view s) {
  std::string out = lowercase(s);
  std::replace(out.begin(), out.end(), '-', '_');
  std::replace(out.begin(), out.end(), ' ', '_');
  return out;
}

// Damerau-Levenshtein distance (optimal string alignment): an adjacent swap such
// as "ctx" / "cxt" costs 1.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

// ---------------------------------------------------------------------------
// The loader's vocabulary

using maybe_error = std::optional<config_error>;

// One `key: value` pair of a mapping, with the dotted path of its key.
struct field {
  std::string path;  // "nodes.orchestrator.ctx", "nodes.orchestrator.fallbacks[1]"
  YAML::Node key;
  YAML::Node value;
};

// A path as written, kept with its position for the checks that run last.
struct located_path {
  fs::path path;      // expanded; absolute unless `bare`
  bool bare = false;  // a program name without '/', to be looked up on PATH
  YAML::Mark mark;
  std::string key;
  std::string ref;  // "hf:owner/repo:QUANT" (canonical) when written as a model reference; path empty
};

struct node_draft {
  node_config cfg;
  std::optional<located_path> llama_server;  // the node's own override
  located_path model;
  std::vector<located_path> fallbacks;
  YAML::Mark port_mark;
  YAML::Mark url_mark;
  std::vector<std::pair<std::string, YAML::Mark>> rpc;  // worker names as written, for errors
  std::string rpc_key;                                   // "nodes.orchestrator.rpc"
};

struct worker_draft {
  worker_config cfg;
  std::optional<located_path> rpc_server;
  YAML::Mark named_at, port_mark, host_mark;
  bool has_port = false;
};

struct restart_draft {
  restart_config cfg;
  std::optional<std::pair<YAML::Mark, std::string>> backoff_initial_at;  // mark, path
  std::optional<std::pair<YAML::Mark, std::string>> backoff_max_at;
};

struct search_draft {
  search_config cfg;
  std::optional<std::pair<YAML::Mark, std::string>> backoff_initial_at;  // mark, path
  std::optional<std::pair<YAML::Mark, std::string>> backoff_max_at;
};

struct pages_draft {
  pages_config cfg;
  std::optional<std::pair<YAML::Mark, std::string>> backoff_initial_at;  // mark, path
  std::optional<std::pair<YAML::Mark, std::string>> backoff_max_at;
  std::optional<std::pair<YAML::Mark, std::string>> message_timeout_at;
};

struct telegram_draft {
  telegram_config cfg;
  std::optional<located_path> token_file;
  YAML::Mark named_at;  // where `telegram:` is written: errors about the section as a whole
  std::optional<std::pair<YAML::Mark, std::string>> watchdog_at;
};

struct admin_draft {
  admin_config cfg;
  YAML::Mark port_mark;
};

struct hub_draft {
  hub_config cfg;
  std::optional<located_path> cache_dir;
  std::optional<located_path> token_file;
  bool endpoint_set = false;
};

struct draft {
  hub_draft hub;
  std::optional<located_path> llama_server;
  std::optional<located_path> rpc_server;
  std::vector<worker_draft> workers;
  std::optional<fs::path> state_dir;
  std::array<node_draft, 2> nodes;  // orchestrator, subagent
  std::uint64_t slot_files_max = 8ull << 30;
  restart_draft restart;
  health_config health;
  logs_config logs;
  search_draft search;
  pages_draft pages;
  pipeline_settings pipeline;
  telegram_draft telegram;
  admin_draft admin;
};

class reader;

// One key a mapping may hold. `aliases` are other spellings people type out of
// habit (llama-server's own flag names), answered with "did you mean".
template <class T>
struct key_spec {
  std::string_view name;
  bool required;
  std::string_view aliases;  // space-separated
  maybe_error (*read)(const reader&, const field&, T&);
  std::string_view unless = {};  // a required key is not missing when this one is written
};

template <class T>
struct key_table {
  std::string_view label;  // where these keys live, for "it belongs under ..."
  std::span<const key_spec<T>> keys;
};

constexpr bool required_key = true;
constexpr bool optional_key = false;

struct int_rule {
  long long min;
  long long max;
  std::string_view expected;
};
constexpr int int_max = std::numeric_limits<int>::max();
constexpr int_rule positive_int{1, int_max, "a positive integer"};
constexpr int_rule non_negative_int{0, int_max, "an integer >= 0"};
constexpr int_rule port_number{1, 65535, "a port number from 1 to 65535"};
constexpr int_rule brief_chars_rule{0, pipeline_settings::decision_brief_max_chars, "an integer from 0 to 1000"};
static_assert(pipeline_settings::decision_brief_max_chars == 1000, "brief_chars_rule's message names the bound");

constexpr std::string_view duration_syntax = "a duration with a unit such as 500ms, 10s, 5m";
constexpr std::string_view size_syntax = "a size such as 10MiB, 512KiB, 1GiB or a number of bytes";

std::string join_key(const std::string& parent, std::string_view name) {
  return parent.empty() ? std::string(name) : parent + "." + std::string(name);
}

std::string section_of_key(std::string_view name, std::string_view current_label);

// Reads values out of the YAML tree for one file, producing errors that point into it.
class reader {
 public:
  reader(fs::path source, fs::path base_dir, load_options options)
      : source_(std::move(source)), base_dir_(std::move(base_dir)), options_(options) {}

  const load_options& options() const { return options_; }
  const fs::path& source() const { return source_; }

  config_error error_at(const YAML::Mark& mark, std::string key, std::string message) const {
    config_error e{source_, 0, 0, std::move(key), std::move(message)};
    if (mark.line >= 0) {
      e.line = mark.line + 1;
      e.column = mark.column + 1;
    }
    return e;
  }

  config_error file_error(std::string key, std::string message) const {
    return config_error{source_, 0, 0, std::move(key), std::move(message)};
  }

  // An empty value has no position of its own (yaml-cpp marks the next token), so
  // errors about it point at its key.
  static YAML::Mark value_mark(const field& f) { return f.value.IsNull() ? f.key.Mark() : f.value.Mark(); }

  config_error expected(const field& f, std::string_view what) const {
    return error_at(value_mark(f), f.path, "expected " + std::string(what) + ", found " + describe(f.value));
  }

  maybe_error read_int(const field& f, const int_rule& rule, int& out) const {
    if (!f.value.IsScalar()) return expected(f, rule.expected);
    const std::string_view text = trim(f.value.Scalar());
    const char* first = text.data();
    if (!text.empty() && text.front() == '+') ++first;
    long long v = 0;
    auto [end, ec] = std::from_chars(first, text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || v < rule.min || v > rule.max) {
      return expected(f, rule.expected);
    }
    out = static_cast<int>(v);
    return std::nullopt;
  }

  maybe_error read_optional_int(const field& f, const int_rule& rule, std::optional<int>& out) const {
    int v = 0;
    if (auto e = read_int(f, rule, v)) return e;
    out = v;
    return std::nullopt;
  }

  // YAML's true/false (any case); yes/no/on/off are refused as ambiguous.
  maybe_error read_bool(const field& f, bool& out) const {
    if (!f.value.IsScalar()) return expected(f, "true or false");
    const std::string v = lowercase(trim(f.value.Scalar()));
    if (v != "true" && v != "false") return expected(f, "true or false");
    out = v == "true";
    return std::nullopt;
  }

  // A one-line string; `check` (optional) returns what is wrong with it, or "".
  maybe_error read_string(const field& f, std::string& out, std::string (*check)(std::string_view) = nullptr) const {
    if (!f.value.IsScalar()) return expected(f, "a string");
    const std::string& v = f.value.Scalar();
    if (check != nullptr) {
      if (const std::string problem = check(v); !problem.empty()) {
        return error_at(value_mark(f), f.path, problem + ", found " + describe(f.value));
      }
    }
    out = v;
    return std::nullopt;
  }

  maybe_error read_duration(const field& f, duration min, duration& out) const {
    if (!f.value.IsScalar()) return expected(f, duration_syntax);
    auto d = parse_duration(f.value.Scalar());
    if (!d) {
      return error_at(value_mark(f), f.path,
                      "expected " + std::string(duration_syntax) + "; found " + describe(f.value));
    }
    if (*d < min) {
      return error_at(value_mark(f), f.path,
                      "expected a duration of at least " + format_duration(min) + ", found " + describe(f.value));
    }
    out = *d;
    return std::nullopt;
  }

  maybe_error read_size(const field& f, std::uint64_t min, std::uint64_t& out) const {
    if (!f.value.IsScalar()) return expected(f, size_syntax);
    auto bytes = parse_size(f.value.Scalar());
    if (!bytes) {
      return error_at(value_mark(f), f.path, "expected " + std::string(size_syntax) + "; found " + describe(f.value));
    }
    if (*bytes < min) {
      return error_at(value_mark(f), f.path,
                      "expected a size of at least " + format_size(min) + ", found " + describe(f.value));
    }
    out = *bytes;
    return std::nullopt;
  }

  // A path: ~ and variables expanded, then made absolute against the config file's
  // folder and lexically normalized. With `program`, a name without '/' is kept bare
  // for a PATH lookup, as a shell would.
  // With `models`, "hf:owner/repo:QUANT" is a model reference (core/model_ref.hpp), resolved
  // against the cache in finish().
  maybe_error read_path(const field& f, located_path& out, bool program = false, bool models = false) const {
    if (!f.value.IsScalar()) return expected(f, program ? "a path or a program name" : "a path");
    const std::string& written = f.value.Scalar();
    if (trim(written).empty()) return expected(f, "a path");
    if (models && is_model_ref(trim(written))) {
      std::string why;
      auto ref = parse_model_ref(trim(written), &why);
      if (!ref) return error_at(value_mark(f), f.path, why);
      out = located_path{};
      out.mark = value_mark(f);
      out.key = f.path;
      out.ref = ref->text();
      return std::nullopt;
    }
    expansion x = expand(written);
    if (x.malformed) {
      return error_at(value_mark(f), f.path,
                      "malformed variable in " + quote(written) + "; write $NAME or ${NAME}");
    }
    if (!x.text) {
      return error_at(value_mark(f), f.path,
                      "environment variable " + x.unset_variable + " is not set (used in " + quote(written) + ")");
    }
    if (x.text->empty()) {
      return error_at(value_mark(f), f.path, quote(written) + " expands to an empty path");
    }
    out.mark = value_mark(f);
    out.key = f.path;
    out.bare = program && x.text->find('/') == std::string::npos;
    fs::path p(*x.text);
    out.path = out.bare ? p : (p.is_absolute() ? p : base_dir_ / p).lexically_normal();
    return std::nullopt;
  }

  maybe_error read_path_list(const field& f, std::vector<located_path>& out) const {
    if (!f.value.IsSequence()) return expected(f, "a list of paths or hf: references, such as [~/models/a.gguf]");
    out.clear();
    for (std::size_t i = 0; i < f.value.size(); ++i) {
      field item{f.path + "[" + std::to_string(i) + "]", f.key, f.value[i]};
      if (item.value.IsNull()) return expected(item, "a path");
      located_path p;
      if (auto e = read_path(item, p, false, true)) return e;
      out.push_back(std::move(p));
    }
    return std::nullopt;
  }

  maybe_error read_string_list(const field& f, std::vector<std::string>& out,
                               maybe_error (*check_item)(const reader&, const field&) = nullptr) const {
    if (!f.value.IsSequence()) return expected(f, "a list of strings, such as [\"--flag\", \"value\"]");
    out.clear();
    for (std::size_t i = 0; i < f.value.size(); ++i) {
      field item{f.path + "[" + std::to_string(i) + "]", f.key, f.value[i]};
      if (!item.value.IsScalar()) return expected(item, "a string");
      if (check_item != nullptr) {
        if (auto e = check_item(*this, item)) return e;
      }
      out.push_back(item.value.Scalar());
    }
    return std::nullopt;
  }

  // Reads one mapping through its key table, in document order. An empty value
  // counts as an empty mapping. `named_at` is where the mapping's own key is written:
  // "missing required key" points there.
  template <class T>
  maybe_error read_mapping(const YAML::Node& node, const YAML::Mark& named_at, const std::string& path,
                           const key_table<T>& table, T& target) const {
    if (node.IsDefined() && !node.IsNull() && !node.IsMap()) {
      return error_at(node.Mark(), path, "expected a mapping (indented key: value lines), found " + describe(node));
    }
    std::vector<std::pair<std::string, int>> seen;  // key, 1-based line
    if (node.IsMap()) {
      for (const auto& kv : node) {
        const YAML::Node& key = kv.first;
        if (!key.IsScalar()) {
          return error_at(key.Mark(), path, "expected a key name, found " + describe(key));
        }
        const std::string& name = key.Scalar();
        const std::string key_path = join_key(path, name);
        auto prior = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == name; });
        if (prior != seen.end()) {
          return error_at(key.Mark(), key_path,
                          "duplicate key " + quote(name) + " (first set at line " + std::to_string(prior->second) + ")");
        }
        seen.emplace_back(name, key.Mark().line + 1);
        auto spec = std::find_if(table.keys.begin(), table.keys.end(), [&](const auto& s) { return s.name == name; });
        if (spec == table.keys.end()) return error_at(key.Mark(), key_path, unknown_key_message(name, table));
        field f{key_path, key, kv.second};
        if (f.value.IsNull() && !spec->required) continue;  // "threads:" with no value: the default
        if (auto e = spec->read(*this, f, target)) return e;
      }
    }
    for (const auto& spec : table.keys) {
      const bool present = std::any_of(seen.begin(), seen.end(), [&](const auto& s) { return s.first == spec.name; });
      const bool excused = !spec.unless.empty() &&
                           std::any_of(seen.begin(), seen.end(), [&](const auto& s) { return s.first == spec.unless; });
      if (spec.required && !present && !excused) {
        return error_at(named_at, path, "missing required key " + quote(spec.name));
      }
    }
    return std::nullopt;
  }

 private:
  template <class T>
  static std::string unknown_key_message(const std::string& name, const key_table<T>& table) {
    const std::string wanted = normalize_key(name);
    std::string_view best;
    std::size_t best_distance = std::numeric_limits<std::size_t>::max();
    for (const auto& spec : table.keys) {
      std::size_t d = edit_distance(wanted, normalize_key(spec.name));
      std::istringstream aliases{std::string(spec.aliases)};
      for (std::string alias; aliases >> alias;) {
        if (normalize_key(alias) == wanted) d = 0;
      }
      if (d < best_distance) {
        best_distance = d;
        best = spec.name;
      }
    }
    const std::size_t limit = std::max<std::size_t>(2, wanted.size() / 3);
    if (!best.empty() && best_distance <= limit && best_distance < wanted.size()) {
      return "unknown key " + quote(name) + "; did you mean " + quote(best) + "?";
    }
    const std::string elsewhere = section_of_key(name, table.label);
    if (!elsewhere.empty()) {
      return "unknown key " + quote(name) + " here; it belongs " + elsewhere + " (check the indentation)";
    }
    std::string list;
    for (const auto& spec : table.keys) {
      if (!list.empty()) list += ", ";
      list += spec.name;
    }
    return "unknown key " + quote(name) + "; expected one of: " + list;
  }

  fs::path source_;
  fs::path base_dir_;
  load_options options_;
};

// ---------------------------------------------------------------------------
// Cross-key checks

// Flags openclawd passes itself. Repeating one in extra_args would either fight the
// value openclawd set (llama-server keeps the last one) or move the server off the
// port and address the health probe watches.
struct managed_flag {
  std::string_view flag;
  std::string_view key;  // the config key that sets it; empty: not settable
};
constexpr std::array<managed_flag, 18> managed_flags{{
    {"-m", "model"},
    {"--model", "model"},
    {"-c", "ctx"},
    {"--ctx-size", "ctx"},
    {"-ngl", "gpu_layers"},
    {"--gpu-layers", "gpu_layers"},
    {"--n-gpu-layers", "gpu_layers"},
    {"--port", "port"},
    {"-t", "threads"},
    {"--threads", "threads"},
    {"-np", "parallel"},
    {"--parallel", "parallel"},
    {"--cache-ram", "cache_ram"},
    {"-cram", "cache_ram"},
    {"--slot-save-path", "slot_files"},
    {"--rpc", "rpc"},
    {"--host", ""},
}};

maybe_error check_extra_arg(const reader& r, const field& item) {
  std::string_view arg = item.value.Scalar();
  arg = arg.substr(0, arg.find('='));  // "--port=8080"
  for (const auto& m : managed_flags) {
    if (arg != m.flag) continue;
    if (m.key.empty()) {
      return r.error_at(item.value.Mark(), item.path,
                        quote(m.flag) + " is not allowed: openclawd always binds llama-server to 127.0.0.1");
    }
    return r.error_at(item.value.Mark(), item.path,
                      quote(m.flag) + " is passed by openclawd from the " + std::string(m.key) +
                          ": key; set that instead and remove it from extra_args");
  }
  // llama-server's parser takes "--flag value" only: "--flag=value" makes it exit at start
  // ("error: invalid argument"). Say so here, before anything is spawned.
  const std::string_view whole = item.value.Scalar();
  if (whole.size() > 2 && whole[0] == '-' && whole.find('=') != std::string_view::npos) {
    // The value is not repeated: it may be a secret (--api-key), and errors reach logs.
    const std::string flag(whole.substr(0, whole.find('=')));
    return r.error_at(item.value.Mark(), item.path,
                      "llama-server does not accept " + flag + "=… in one item; write the flag and its value as two "
                      "items: [" + quote(flag) + ", \"…\"]");
  }
  return std::nullopt;
}

// Two nodes on one port: the error points at whichever comes later in the file.
maybe_error check_ports(const reader& r, const draft& d) {
  const node_draft& a = d.nodes[0];
  const node_draft& b = d.nodes[1];
  if (a.cfg.remote() || b.cfg.remote()) return std::nullopt;  // a url: node has no port of ours
  if (a.cfg.port != b.cfg.port) return std::nullopt;
  const bool a_first = a.port_mark.pos <= b.port_mark.pos;
  const node_draft& first = a_first ? a : b;
  const node_draft& second = a_first ? b : a;
  return r.error_at(second.port_mark, "nodes." + second.cfg.name + ".port",
                    "port " + std::to_string(second.cfg.port) + " is already used by nodes." + first.cfg.name +
                        ".port (line " + std::to_string(first.port_mark.line + 1) + ")");
}

// backoff_max below backoff_initial: the error points at whichever of the two was written
// (backoff_max when both were), since the other one is a default the user never saw.
using mark_at = std::optional<std::pair<YAML::Mark, std::string>>;
maybe_error check_backoff_pair(const reader& r, std::string_view section, duration initial, duration max,
                               const mark_at& initial_at, const mark_at& max_at) {
  if (max >= initial) return std::nullopt;
  const std::string s(section);
  if (max_at) {
    return r.error_at(max_at->first, max_at->second,
                      "expected a duration of at least " + s + ".backoff_initial (" + format_duration(initial) +
                          "), found " + quote(format_duration(max)));
  }
  return r.error_at(initial_at->first, initial_at->second,
                    "expected at most " + s + ".backoff_max (" + format_duration(max) + ", the default), found " +
                        quote(format_duration(initial)) + "; raise backoff_max too");
}

maybe_error check_backoff(const reader& r, const restart_draft& d) {
  return check_backoff_pair(r, "restart", d.cfg.backoff_initial, d.cfg.backoff_max, d.backoff_initial_at,
                            d.backoff_max_at);
}

maybe_error check_search_backoff(const reader& r, const search_draft& d) {
  return check_backoff_pair(r, "search", d.cfg.backoff_initial, d.cfg.backoff_max, d.backoff_initial_at,
                            d.backoff_max_at);
}

// pages: backoffs ordered, and a message's deadline no shorter than one page's (else the
// page deadline could never be reached).
maybe_error check_pages_timing(const reader& r, const pages_draft& d) {
  if (auto e = check_backoff_pair(r, "pages", d.cfg.backoff_initial, d.cfg.backoff_max, d.backoff_initial_at,
                                  d.backoff_max_at))
    return e;
  if (d.message_timeout_at && d.cfg.message_timeout < d.cfg.page_timeout) {
    return r.error_at(d.message_timeout_at->first, d.message_timeout_at->second,
                      "expected a duration of at least pages.page_timeout (" + format_duration(d.cfg.page_timeout) +
                          "), found " + quote(format_duration(d.cfg.message_timeout)));
  }
  return std::nullopt;
}

// search.endpoint: https:// anywhere; plain http:// only to this machine (the tests' local
// server), because a query sent in clear text is readable by anyone on the path.
std::string check_search_endpoint(std::string_view v) {
  constexpr std::string_view want = "expected an https:// URL (http:// only for 127.0.0.1, localhost or [::1])";
  if (v.empty() || v.size() > 2048) return std::string(want);
  for (const char c : v) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::string(want);
  }
  const std::string lower = lowercase(v);
  if (lower.starts_with("https://") && lower.size() > 8 && lower[8] != '/') return {};
  if (lower.starts_with("http://")) {
    std::string_view rest = std::string_view(lower).substr(7);
    const std::string_view host = rest.substr(0, rest.find_first_of("/?#"));
    // host[:port], the port all digits.
    std::string_view name = host;
    if (const auto colon = host.rfind(':'); colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos) {
      const std::string_view port = host.substr(colon + 1);
      if (port.empty() || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::string(want);
      }
      name = host.substr(0, colon);
    }
    const bool dotted_127 = name.starts_with("127.") && std::count(name.begin(), name.end(), '.') == 3 &&
                            std::all_of(name.begin(), name.end(), [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
    if (name == "localhost" || name == "[::1]" || dotted_127) return {};
  }
  return std::string(want);
}

// nodes.<name>.url: "http://host[:port][/]" — a server openclawd does not run. Any host (the
// user's own machine on the LAN, or this one), but no path: the clients add /health,
// /v1/chat/completions, /tokenize. Plain http only: llama-server's own HTTPS is rare, and a
// reverse proxy in front of it can as well listen on plain HTTP on the trusted network.
struct node_url_parts {
  std::string host;  // lower case; an IPv6 address keeps its brackets
  int port = 80;
};

std::optional<node_url_parts> split_node_url(std::string_view v, std::string* problem) {
  auto fail = [&](std::string why) -> std::optional<node_url_parts> {
    *problem = std::move(why);
    return std::nullopt;
  };
  constexpr std::string_view form = "expected http://host:port, such as http://192.168.1.20:8080";
  for (const char c : v) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return fail(std::string(form));
  }
  const std::string lower = lowercase(v);
  if (lower.starts_with("https://"))
    return fail("https:// is not supported for nodes; use http:// (on a network you trust)");
  if (!lower.starts_with("http://")) return fail(std::string(form));
  std::string_view rest = std::string_view(lower).substr(7);
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.find_first_of("/?#") != std::string_view::npos)
    return fail("expected no path, only http://host:port (openclawd adds /health, /v1/chat/completions, ...)");
  if (rest.find('@') != std::string_view::npos) return fail("expected no user name, only http://host:port");
  node_url_parts out;
  std::string_view port;
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close == 1) return fail(std::string(form));
    const auto inside = rest.substr(1, close - 1);
    if (inside.find_first_not_of("0123456789abcdef:.") != std::string_view::npos) return fail(std::string(form));
    out.host = std::string(rest.substr(0, close + 1));
    const auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail(std::string(form));
      port = after.substr(1);
      if (port.empty()) return fail(std::string(form));
    }
  } else {
    const auto colon = rest.find(':');
    out.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = rest.substr(colon + 1);
      if (port.empty()) return fail(std::string(form));
    }
    const bool name_ok = !out.host.empty() && std::all_of(out.host.begin(), out.host.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
    });
    if (!name_ok) return fail(std::string(form));
  }
  if (!port.empty()) {
    int p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc{} || end != port.data() + port.size() || p < 1 || p > 65535)
      return fail("expected a port from 1 to 65535 in http://host:port");
    out.port = p;
  }
  return out;
}

std::string check_node_url(std::string_view v) {
  std::string problem;
  split_node_url(v, &problem);
  return problem;
}

// Only called on text check_node_url accepted.
std::string normalize_node_url(std::string_view v) {
  std::string problem;
  const auto parts = split_node_url(v, &problem);
  return "http://" + parts->host + ":" + std::to_string(parts->port);
}

// search.region: DuckDuckGo's kl code, "xx-yy" ("wt-wt", "us-en", "hk-tzh").
std::string check_search_region(std::string_view v) {
  const auto dash = v.find('-');
  auto letters = [](std::string_view p, std::size_t lo, std::size_t hi) {
    return p.size() >= lo && p.size() <= hi &&
           std::all_of(p.begin(), p.end(), [](char c) { return c >= 'a' && c <= 'z'; });
  };
  if (dash != std::string_view::npos && letters(v.substr(0, dash), 2, 2) && letters(v.substr(dash + 1), 2, 4)) return {};
  return "expected a DuckDuckGo region code such as wt-wt (no region), us-en or de-de";
}

std::string check_user_agent(std::string_view v) {
  if (trim(v).empty() || v.size() > 512) return "expected a User-Agent string of 1 to 512 characters";
  for (const char c : v) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "expected a User-Agent without control characters";
  }
  return {};
}

// ---------------------------------------------------------------------------
// Key tables. To add a section: a draft member, a table like restart_keys, and one
// row in top_level_keys.

// Short names keep the table rows on one line each.
using R = const reader&;
using F = const field&;

const key_spec<restart_draft> restart_keys[] = {
    {"backoff_initial", optional_key, "", [](R r, F f, restart_draft& d) {
       d.backoff_initial_at.emplace(reader::value_mark(f), f.path);
       return r.read_duration(f, std::chrono::milliseconds(50), d.cfg.backoff_initial);
     }},
    {"backoff_max", optional_key, "", [](R r, F f, restart_draft& d) {
       d.backoff_max_at.emplace(reader::value_mark(f), f.path);
       return r.read_duration(f, std::chrono::milliseconds(50), d.cfg.backoff_max);
     }},
    {"stable_after", optional_key, "", [](R r, F f, restart_draft& d) {
       return r.read_duration(f, duration::zero(), d.cfg.stable_after);
     }},
    {"max_failures", optional_key, "", [](R r, F f, restart_draft& d) {
       return r.read_int(f, positive_int, d.cfg.max_failures);
     }},
};
const key_table<restart_draft> restart_table{"restart", restart_keys};

const key_spec<health_config> health_keys[] = {
    {"interval", optional_key, "", [](R r, F f, health_config& h) {
       return r.read_duration(f, std::chrono::milliseconds(50), h.interval);
     }},
    {"timeout", optional_key, "", [](R r, F f, health_config& h) {
       return r.read_duration(f, std::chrono::milliseconds(50), h.timeout);
     }},
    {"failures", optional_key, "", [](R r, F f, health_config& h) { return r.read_int(f, positive_int, h.failures); }},
    {"work_probe_idle", optional_key, "idle_probe", [](R r, F f, health_config& h) {
       return r.read_duration(f, duration::zero(), h.work_probe_idle);
     }},
    {"work_probe_timeout", optional_key, "", [](R r, F f, health_config& h) {
       return r.read_duration(f, std::chrono::milliseconds(100), h.work_probe_timeout);
     }},
};
const key_table<health_config> health_table{"health", health_keys};

const key_spec<logs_config> logs_keys[] = {
    {"max_size", optional_key, "max_bytes", [](R r, F f, logs_config& l) {
       return r.read_size(f, 64 * 1024, l.max_bytes);
     }},
    {"keep", optional_key, "", [](R r, F f, logs_config& l) { return r.read_int(f, non_negative_int, l.keep); }},
};
const key_table<logs_config> logs_table{"logs", logs_keys};

constexpr int_rule search_results_rule{1, 20, "an integer from 1 to 20"};
constexpr int_rule query_length_rule{1, 499, "an integer from 1 to 499 (DuckDuckGo refuses longer queries)"};
constexpr int_rule output_chars_rule{1000, 1'000'000, "an integer of at least 1000"};

const key_spec<search_draft> search_keys[] = {
    {"enabled", optional_key, "enable", [](R r, F f, search_draft& d) { return r.read_bool(f, d.cfg.enabled); }},
    {"endpoint", optional_key, "url", [](R r, F f, search_draft& d) {
       return r.read_string(f, d.cfg.endpoint, check_search_endpoint);
     }},
    {"region", optional_key, "kl", [](R r, F f, search_draft& d) {
       return r.read_string(f, d.cfg.region, check_search_region);
     }},
    {"time_limit", optional_key, "df timelimit", [](R r, F f, search_draft& d) {
       std::string v;
       if (auto e = r.read_string(f, v)) return e;
       static constexpr std::pair<std::string_view, std::string_view> limits[] = {
           {"any", ""}, {"day", "d"}, {"week", "w"}, {"month", "m"}, {"year", "y"}};
       for (const auto& [name, code] : limits) {
         if (lowercase(trim(v)) == name) {
           d.cfg.time_limit = code;
           return maybe_error{};
         }
       }
       return maybe_error{r.expected(f, "one of any, day, week, month, year")};
     }},
    {"max_results", optional_key, "results", [](R r, F f, search_draft& d) {
       return r.read_int(f, search_results_rule, d.cfg.max_results);
     }},
    {"connect_timeout", optional_key, "", [](R r, F f, search_draft& d) {
       return r.read_duration(f, std::chrono::milliseconds(100), d.cfg.connect_timeout);
     }},
    {"read_timeout", optional_key, "timeout", [](R r, F f, search_draft& d) {
       return r.read_duration(f, std::chrono::milliseconds(100), d.cfg.read_timeout);
     }},
    {"min_interval", optional_key, "interval", [](R r, F f, search_draft& d) {
       return r.read_duration(f, duration::zero(), d.cfg.min_interval);
     }},
    {"max_wait", optional_key, "", [](R r, F f, search_draft& d) {
       return r.read_duration(f, duration::zero(), d.cfg.max_wait);
     }},
    {"cache_ttl", optional_key, "ttl", [](R r, F f, search_draft& d) {
       return r.read_duration(f, duration::zero(), d.cfg.cache_ttl);
     }},
    {"cache_entries", optional_key, "", [](R r, F f, search_draft& d) {
       return r.read_int(f, non_negative_int, d.cfg.cache_entries);
     }},
    {"backoff_initial", optional_key, "", [](R r, F f, search_draft& d) {
       d.backoff_initial_at.emplace(reader::value_mark(f), f.path);
       return r.read_duration(f, std::chrono::seconds(1), d.cfg.backoff_initial);
     }},
    {"backoff_max", optional_key, "", [](R r, F f, search_draft& d) {
       d.backoff_max_at.emplace(reader::value_mark(f), f.path);
       return r.read_duration(f, std::chrono::seconds(1), d.cfg.backoff_max);
     }},
    {"user_agent", optional_key, "ua", [](R r, F f, search_draft& d) {
       return r.read_string(f, d.cfg.user_agent, check_user_agent);
     }},
    {"max_query_length", optional_key, "", [](R r, F f, search_draft& d) {
       return r.read_int(f, query_length_rule, d.cfg.max_query_length);
     }},
    {"max_page_size", optional_key, "", [](R r, F f, search_draft& d) {
       return r.read_size(f, 16 * 1024, d.cfg.max_page_size);
     }},
    {"max_output_chars", optional_key, "", [](R r, F f, search_draft& d) {
       return r.read_int(f, output_chars_rule, d.cfg.max_output_chars);
     }},
};
const key_table<search_draft> search_table{"search", search_keys};

constexpr int_rule read_results_rule{1, 5, "an integer from 1 to 5"};
constexpr int_rule max_urls_rule{1, 10, "an integer from 1 to 10"};
constexpr int_rule redirects_rule{0, 10, "an integer from 0 to 10"};

const key_spec<pages_draft> pages_keys[] = {
    {"enabled", optional_key, "enable", [](R r, F f, pages_draft& d) { return r.read_bool(f, d.cfg.enabled); }},
    {"read_results", optional_key, "top_results results", [](R r, F f, pages_draft& d) {
       return r.read_int(f, read_results_rule, d.cfg.read_results);
     }},
    {"max_urls", optional_key, "max_links urls links", [](R r, F f, pages_draft& d) {
       return r.read_int(f, max_urls_rule, d.cfg.max_urls);
     }},
    {"allow_http", optional_key, "http", [](R r, F f, pages_draft& d) { return r.read_bool(f, d.cfg.allow_http); }},
    {"max_redirects", optional_key, "redirects", [](R r, F f, pages_draft& d) {
       return r.read_int(f, redirects_rule, d.cfg.max_redirects);
     }},
    {"max_body", optional_key, "max_page_size max_size", [](R r, F f, pages_draft& d) {
       return r.read_size(f, 16 * 1024, d.cfg.max_body);
     }},
    {"max_chars", optional_key, "max_output_chars", [](R r, F f, pages_draft& d) {
       return r.read_int(f, output_chars_rule, d.cfg.max_chars);
     }},
    {"connect_timeout", optional_key, "", [](R r, F f, pages_draft& d) {
       return r.read_duration(f, std::chrono::milliseconds(100), d.cfg.connect_timeout);
     }},
    {"read_timeout", optional_key, "", [](R r, F f, pages_draft& d) {
       return r.read_duration(f, std::chrono::milliseconds(100), d.cfg.read_timeout);
     }},
    {"page_timeout", optional_key, "timeout", [](R r, F f, pages_draft& d) {
       return r.read_duration(f, std::chrono::milliseconds(100), d.cfg.page_timeout);
     }},
    {"message_timeout", optional_key, "total_timeout", [](R r, F f, pages_draft& d) {
       d.message_timeout_at.emplace(reader::value_mark(f), f.path);
       return r.read_duration(f, std::chrono::milliseconds(100), d.cfg.message_timeout);
     }},
    {"min_interval", optional_key, "interval", [](R r, F f, pages_draft& d) {
       return r.read_duration(f, duration::zero(), d.cfg.min_interval);
     }},
    {"cache_ttl", optional_key, "ttl", [](R r, F f, pages_draft& d) {
       return r.read_duration(f, duration::zero(), d.cfg.cache_ttl);
     }},
    {"cache_entries", optional_key, "", [](R r, F f, pages_draft& d) {
       return r.read_int(f, non_negative_int, d.cfg.cache_entries);
     }},
    {"backoff_initial", optional_key, "", [](R r, F f, pages_draft& d) {
       d.backoff_initial_at.emplace(reader::value_mark(f), f.path);
       return r.read_duration(f, std::chrono::seconds(1), d.cfg.backoff_initial);
     }},
    {"backoff_max", optional_key, "", [](R r, F f, pages_draft& d) {
       d.backoff_max_at.emplace(reader::value_mark(f), f.path);
       return r.read_duration(f, std::chrono::seconds(1), d.cfg.backoff_max);
     }},
    {"user_agent", optional_key, "ua", [](R r, F f, pages_draft& d) {
       return r.read_string(f, d.cfg.user_agent, check_user_agent);
     }},
};
const key_table<pages_draft> pages_table{"pages", pages_keys};


// telegram.allowed_users / allowed_groups: numeric ids (group ids are negative and
// supergroup ids exceed 32 bits); @usernames can change hands, ids cannot.
maybe_error check_chat_id(const reader& r, const field& f) {
  const auto& v = f.value.Scalar();
  const std::string_view digits = !v.empty() && v.front() == '-' ? std::string_view(v).substr(1) : std::string_view(v);
  if (digits.empty() || digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string_view::npos)
    return r.expected(f, "a numeric Telegram id such as 123456789 (ask @userinfobot for yours)");
  return std::nullopt;
}

maybe_error read_id_list(R r, F f, std::vector<std::int64_t>& out) {
  std::vector<std::string> ids;
  if (auto e = r.read_string_list(f, ids, check_chat_id)) return e;
  out.clear();
  for (const auto& id : ids) out.push_back(std::stoll(id));
  return maybe_error{};
}

std::string check_streaming(std::string_view v) {
  if (v == "auto" || v == "edit" || v == "off") return {};
  return "expected auto (drafts in private chats, edited previews elsewhere), edit or off";
}

std::string check_strangers(std::string_view v) {
  if (v == "refuse" || v == "ignore") return {};
  return "expected refuse (one short refusal per person per day) or ignore";
}

constexpr int_rule input_chars_rule{100, 1'000'000, "an integer from 100 to 1000000"};

const key_spec<telegram_draft> telegram_keys[] = {
    {"enabled", optional_key, "enable", [](R r, F f, telegram_draft& d) { return r.read_bool(f, d.cfg.enabled); }},
    {"api_base", optional_key, "api_url base_url api_root", [](R r, F f, telegram_draft& d) {
       if (auto e = r.read_string(f, d.cfg.api_base, check_search_endpoint)) return e;
       while (d.cfg.api_base.ends_with('/')) d.cfg.api_base.pop_back();
       return maybe_error{};
     }},
    {"token_file", optional_key, "token", [](R r, F f, telegram_draft& d) {
       located_path p;
       if (auto e = r.read_path(f, p)) return e;
       d.cfg.token_file = p.path;
       d.token_file = std::move(p);
       return maybe_error{};
     }},
    {"allowed_users", optional_key, "allowlist users allowed_user_ids", [](R r, F f, telegram_draft& d) {
       return read_id_list(r, f, d.cfg.allowed_users);
     }},
    {"allowed_groups", optional_key, "groups allowed_chats", [](R r, F f, telegram_draft& d) {
       return read_id_list(r, f, d.cfg.allowed_groups);
     }},
    {"strangers", optional_key, "", [](R r, F f, telegram_draft& d) {
       std::string v;
       if (auto e = r.read_string(f, v, check_strangers)) return e;
       d.cfg.strangers = v == "ignore" ? stranger_policy::ignore : stranger_policy::refuse_daily;
       return maybe_error{};
     }},
    {"poll_timeout", optional_key, "timeout", [](R r, F f, telegram_draft& d) {
       if (auto e = r.read_duration(f, std::chrono::seconds(1), d.cfg.poll_timeout)) return e;
       if (d.cfg.poll_timeout > std::chrono::seconds(50))
         return maybe_error{r.expected(f, "a duration of at most 50s (Telegram caps long polls at 50 s)")};
       return maybe_error{};
     }},
    {"watchdog", optional_key, "", [](R r, F f, telegram_draft& d) {
       d.watchdog_at.emplace(reader::value_mark(f), f.path);
       return r.read_duration(f, std::chrono::seconds(1), d.cfg.watchdog);
     }},
    {"streaming", optional_key, "stream", [](R r, F f, telegram_draft& d) {
       return r.read_string(f, d.cfg.streaming, check_streaming);
     }},
    {"edit_interval", optional_key, "", [](R r, F f, telegram_draft& d) {
       return r.read_duration(f, std::chrono::milliseconds(100), d.cfg.edit_interval);
     }},
    {"typing_interval", optional_key, "", [](R r, F f, telegram_draft& d) {
       return r.read_duration(f, std::chrono::milliseconds(100), d.cfg.typing_interval);
     }},
    {"typing_delay", optional_key, "", [](R r, F f, telegram_draft& d) {
       return r.read_duration(f, duration::zero(), d.cfg.typing_delay);
     }},
    {"max_input_chars", optional_key, "", [](R r, F f, telegram_draft& d) {
       return r.read_int(f, input_chars_rule, d.cfg.max_input_chars);
     }},
};
const key_table<telegram_draft> telegram_table{"telegram", telegram_keys};

// The watchdog must outlast one whole long poll, or it would restart a healthy poller.
maybe_error check_watchdog(const reader& r, const telegram_draft& d) {
  const auto floor = d.cfg.poll_timeout + std::chrono::seconds(10);
  if (d.cfg.watchdog >= floor) return std::nullopt;
  const YAML::Mark at = d.watchdog_at ? d.watchdog_at->first : d.named_at;
  return r.error_at(at, d.watchdog_at ? d.watchdog_at->second : "telegram.watchdog",
                    "expected at least poll_timeout + 10s (" + format_duration(floor) + "), found " +
                        quote(format_duration(d.cfg.watchdog)));
}

const key_spec<admin_draft> admin_keys[] = {
    {"port", optional_key, "", [](R r, F f, admin_draft& d) {
       d.port_mark = reader::value_mark(f);
       return r.read_int(f, port_number, d.cfg.port);
     }},
};
const key_table<admin_draft> admin_table{"admin", admin_keys};

constexpr int_rule percent_rule{1, 99, "a percentage from 1 to 99"};

// pipeline.degenerate_patterns: each must compile as a regular expression.
maybe_error check_pattern(const reader& r, const field& f);
// pipeline.banned_tokens: each an integer token id.
maybe_error check_token_id(const reader& r, const field& f);

const key_spec<pipeline_settings> pipeline_keys[] = {
    {"orchestrator_prompt", optional_key, "system_prompt", [](R r, F f, pipeline_settings& p) {
       return r.read_string(f, p.orchestrator_prompt);
     }},
    {"subagent_prompt", optional_key, "", [](R r, F f, pipeline_settings& p) {
       return r.read_string(f, p.subagent_prompt);
     }},
    {"decision_max_tokens", optional_key, "", [](R r, F f, pipeline_settings& p) {
       return r.read_int(f, non_negative_int, p.decision_max_tokens);
     }},
    {"decision_brief_chars", optional_key, "brief", [](R r, F f, pipeline_settings& p) {
       return r.read_int(f, brief_chars_rule, p.decision_brief_chars);
     }},
    {"answer_max_tokens", optional_key, "max_tokens", [](R r, F f, pipeline_settings& p) {
       return r.read_int(f, positive_int, p.answer_max_tokens);
     }},
    {"summary_max_tokens", optional_key, "", [](R r, F f, pipeline_settings& p) {
       return r.read_int(f, positive_int, p.summary_max_tokens);
     }},
    {"compact_at_percent", optional_key, "compact_at", [](R r, F f, pipeline_settings& p) {
       return r.read_int(f, percent_rule, p.compact_at_percent);
     }},
    {"compact_to_percent", optional_key, "compact_to", [](R r, F f, pipeline_settings& p) {
       return r.read_int(f, percent_rule, p.compact_to_percent);
     }},
    {"degenerate_patterns", optional_key, "patterns", [](R r, F f, pipeline_settings& p) {
       return r.read_string_list(f, p.degenerate_patterns, check_pattern);
     }},
    {"max_answer_chars", optional_key, "", [](R r, F f, pipeline_settings& p) {
       return r.read_int(f, positive_int, p.max_answer_chars);
     }},
    {"banned_tokens", optional_key, "logit_bias", [](R r, F f, pipeline_settings& p) {
       std::vector<std::string> ids;
       if (auto e = r.read_string_list(f, ids, check_token_id)) return e;
       p.banned_tokens.clear();
       for (const auto& id : ids) p.banned_tokens.push_back(std::stoi(id));
       return maybe_error{};
     }},
    {"strikes", optional_key, "", [](R r, F f, pipeline_settings& p) {
       return r.read_int(f, positive_int, p.strikes);
     }},
    {"not_ready_wait", optional_key, "", [](R r, F f, pipeline_settings& p) {
       return r.read_duration(f, duration(0), p.not_ready_wait);
     }},
};
const key_table<pipeline_settings> pipeline_table{"pipeline", pipeline_keys};

// compact_to must stay below compact_at, or every turn would compact.
maybe_error check_compaction(const reader& r, const field& f, const pipeline_settings& p) {
  if (p.compact_to_percent < p.compact_at_percent) return std::nullopt;
  return r.error_at(f.key.Mark(), f.path + ".compact_to_percent",
                    "expected less than compact_at_percent (" + std::to_string(p.compact_at_percent) +
                        "), found " + quote(std::to_string(p.compact_to_percent)));
}

maybe_error check_pattern(const reader& r, const field& f) {
  try {
    std::regex re(f.value.Scalar(), std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return r.expected(f, std::string("a regular expression (") + e.what() + ")");
  }
  if (f.value.Scalar().empty()) return r.expected(f, "a non-empty regular expression");
  return std::nullopt;
}

maybe_error check_token_id(const reader& r, const field& f) {
  const auto& v = f.value.Scalar();
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos)
    return r.expected(f, "a token id (an integer >= 0)");
  return std::nullopt;
}

const key_spec<node_draft> node_keys[] = {
    {"model", required_key, "m", [](R r, F f, node_draft& n) {
       if (auto e = r.read_path(f, n.model, false, true)) return e;
       n.cfg.model = n.model.path;
       return maybe_error{};
     }, "url"},
    {"fallbacks", optional_key, "fallback", [](R r, F f, node_draft& n) {
       if (auto e = r.read_path_list(f, n.fallbacks)) return e;
       for (const auto& p : n.fallbacks) n.cfg.fallbacks.push_back(p.path);
       return maybe_error{};
     }},
    {"ctx", required_key, "c ctx_size n_ctx context", [](R r, F f, node_draft& n) {
       return r.read_int(f, positive_int, n.cfg.ctx);
     }},
    {"gpu_layers", optional_key, "ngl n_gpu_layers", [](R r, F f, node_draft& n) {
       return r.read_int(f, non_negative_int, n.cfg.gpu_layers);
     }},
    {"port", required_key, "", [](R r, F f, node_draft& n) {
       n.port_mark = reader::value_mark(f);
       return r.read_int(f, port_number, n.cfg.port);
     }, "url"},
    {"threads", optional_key, "t", [](R r, F f, node_draft& n) {
       return r.read_optional_int(f, positive_int, n.cfg.threads);
     }},
    {"parallel", optional_key, "np", [](R r, F f, node_draft& n) {
       return r.read_optional_int(f, positive_int, n.cfg.parallel);
     }},
    {"extra_args", optional_key, "args", [](R r, F f, node_draft& n) {
       return r.read_string_list(f, n.cfg.extra_args, check_extra_arg);
     }},
    {"cache_ram", optional_key, "cache-ram prompt_cache", [](R r, F f, node_draft& n) {
       return r.read_size(f, 0, n.cfg.cache_ram);
     }},
    {"slot_files", optional_key, "kv_files slot_save", [](R r, F f, node_draft& n) {
       return r.read_bool(f, n.cfg.slot_files);
     }},
    {"startup_timeout", optional_key, "", [](R r, F f, node_draft& n) {
       return r.read_duration(f, std::chrono::milliseconds(100), n.cfg.startup_timeout);
     }},
    {"stop_timeout", optional_key, "", [](R r, F f, node_draft& n) {
       return r.read_duration(f, duration::zero(), n.cfg.stop_timeout);
     }},
    {"llama_server", optional_key, "", [](R r, F f, node_draft& n) {
       located_path p;
       if (auto e = r.read_path(f, p, true)) return e;
       n.llama_server = std::move(p);
       return maybe_error{};
     }},
    {"rpc", optional_key, "rpc_workers workers", [](R r, F f, node_draft& n) -> maybe_error {
       n.rpc_key = f.path;
       if (!f.value.IsSequence()) return r.expected(f, "a list of worker names (keys under workers:), such as [box-a]");
       for (std::size_t i = 0; i < f.value.size(); ++i) {
         field item{f.path + "[" + std::to_string(i) + "]", f.key, f.value[i]};
         if (!item.value.IsScalar() || trim(item.value.Scalar()).empty()) return r.expected(item, "a worker name");
         const std::string name(trim(item.value.Scalar()));
         for (const auto& [seen, at] : n.rpc) {
           if (seen == name)
             return r.error_at(reader::value_mark(item), item.path,
                               "worker " + quote(name) + " is listed twice (first at line " + std::to_string(at.line + 1) + ")");
         }
         n.rpc.emplace_back(name, reader::value_mark(item));
         n.cfg.rpc.push_back(name);
       }
       return maybe_error{};
     }},
    {"url", optional_key, "remote endpoint base_url", [](R r, F f, node_draft& n) {
       n.url_mark = reader::value_mark(f);
       if (auto e = r.read_string(f, n.cfg.url, check_node_url)) return e;
       n.cfg.url = normalize_node_url(n.cfg.url);
       return maybe_error{};
     }},
};
const key_table<node_draft> node_table{"nodes.orchestrator or nodes.subagent", node_keys};

// Keys that build llama-server's command line, or stop it: meaningless for a url: node,
// whose server openclawd never starts.
constexpr std::array<std::string_view, 11> spawn_only_keys{"model",        "fallbacks",    "port",      "gpu_layers",
                                                           "threads",      "extra_args",   "llama_server",
                                                           "stop_timeout", "cache_ram",    "slot_files",
                                                           "rpc"};

// A url: node (someone else runs its server) takes none of the keys that build a command line;
// without url:, read_mapping already required model: and port:.
maybe_error check_node_kind(R r, F f, const node_draft& n) {
  auto written = [&](std::string_view key) -> std::optional<YAML::Mark> {
    if (!f.value.IsMap()) return std::nullopt;
    for (const auto& kv : f.value)
      if (kv.first.IsScalar() && kv.first.Scalar() == key) return kv.first.Mark();
    return std::nullopt;
  };
  if (!n.cfg.remote()) return std::nullopt;
  for (const auto key : spawn_only_keys) {
    if (auto at = written(key)) {
      const std::string why = key == "model" ? "url: and model: exclude each other: url: names a server that is "
                                               "already running, model: one that openclawd starts; keep one"
                                             : quote(key) + " makes no sense with url: (openclawd does not start "
                                               "that server; configure it where it runs)";
      return r.error_at(*at, f.path + "." + std::string(key), why);
    }
  }
  return std::nullopt;
}

maybe_error read_node(R r, F f, node_draft& n) {
  if (auto e = r.read_mapping(f.value, f.key.Mark(), f.path, node_table, n)) return e;
  return check_node_kind(r, f, n);
}

// A remote worker: "host:port" (an IPv6 address in brackets), the port always written.
std::string check_worker_remote(std::string_view v) {
  constexpr std::string_view form = "expected host:port, such as 192.168.1.20:50052";
  if (v.find("://") != std::string_view::npos) return "expected host:port without a scheme, such as 192.168.1.20:50052";
  const auto colon = v.rfind(':');
  if (colon == std::string_view::npos || (v.starts_with('[') && colon < v.find(']'))) return std::string(form);
  std::string problem;
  const std::string as_url = "http://" + std::string(v);
  if (!split_node_url(as_url, &problem)) return std::string(form);
  return {};
}

std::string check_worker_host(std::string_view v) {
  if (v.empty() || v.find_first_of(" /:@") != std::string_view::npos)
    return "expected a host name or IPv4 address to bind, such as 127.0.0.1";
  return {};
}

bool loopback_host(std::string_view h) { return h == "127.0.0.1" || h == "localhost" || h.starts_with("127."); }

const key_spec<worker_draft> worker_keys[] = {
    {"remote", optional_key, "address endpoint url", [](R r, F f, worker_draft& w) {
       if (auto e = r.read_string(f, w.cfg.remote, check_worker_remote)) return e;
       w.cfg.remote = lowercase(w.cfg.remote);
       return maybe_error{};
     }},
    {"port", optional_key, "p", [](R r, F f, worker_draft& w) {
       w.port_mark = reader::value_mark(f);
       w.has_port = true;
       return r.read_int(f, port_number, w.cfg.port);
     }},
    {"host", optional_key, "H bind", [](R r, F f, worker_draft& w) {
       w.host_mark = reader::value_mark(f);
       return r.read_string(f, w.cfg.host, check_worker_host);
     }},
    {"threads", optional_key, "t", [](R r, F f, worker_draft& w) {
       return r.read_optional_int(f, positive_int, w.cfg.threads);
     }},
    {"device", optional_key, "d devices", [](R r, F f, worker_draft& w) { return r.read_string(f, w.cfg.device); }},
    {"cache", optional_key, "c", [](R r, F f, worker_draft& w) { return r.read_bool(f, w.cfg.cache); }},
    {"allow_network", optional_key, "", [](R r, F f, worker_draft& w) { return r.read_bool(f, w.cfg.allow_network); }},
    {"rpc_server", optional_key, "", [](R r, F f, worker_draft& w) {
       located_path p;
       if (auto e = r.read_path(f, p, true)) return e;
       w.rpc_server = std::move(p);
       return maybe_error{};
     }},
    {"startup_timeout", optional_key, "", [](R r, F f, worker_draft& w) {
       return r.read_duration(f, std::chrono::milliseconds(100), w.cfg.startup_timeout);
     }},
    {"stop_timeout", optional_key, "", [](R r, F f, worker_draft& w) {
       return r.read_duration(f, duration::zero(), w.cfg.stop_timeout);
     }},
};
const key_table<worker_draft> worker_table{"workers.<name>", worker_keys};

// Keys that only a worker openclawd spawns takes.
constexpr std::array<std::string_view, 8> local_worker_keys{"port", "host", "threads", "device", "cache",
                                                            "allow_network", "rpc_server", "stop_timeout"};

maybe_error read_worker(R r, F f, worker_draft& w) {
  w.named_at = f.key.Mark();
  if (auto e = r.read_mapping(f.value, f.key.Mark(), f.path, worker_table, w)) return e;
  if (w.cfg.is_remote()) {
    if (f.value.IsMap()) {
      for (const auto& kv : f.value) {
        const std::string key = kv.first.Scalar();
        if (std::find(local_worker_keys.begin(), local_worker_keys.end(), key) != local_worker_keys.end())
          return r.error_at(kv.first.Mark(), f.path + "." + key,
                            quote(key) + " makes no sense with remote: (openclawd does not start that worker; "
                                         "configure it where it runs)");
      }
    }
    return std::nullopt;
  }
  if (!w.has_port) return r.error_at(f.key.Mark(), f.path, "missing required key \"port\" (or remote: host:port)");
  if (!loopback_host(w.cfg.host) && !w.cfg.allow_network)
    return r.error_at(w.host_mark, f.path + ".host",
                      "binding " + w.cfg.host + " exposes the worker to the network, and the RPC protocol has no "
                      "authentication: anyone who reaches the port can use it. Keep 127.0.0.1, or set "
                      "allow_network: true on a network you trust");
  return std::nullopt;
}

maybe_error read_workers(R r, F f, draft& d) {
  if (f.value.IsNull()) return std::nullopt;
  if (!f.value.IsMap()) return r.expected(f, "a mapping of worker names to their settings");
  for (const auto& kv : f.value) {
    if (!kv.first.IsScalar()) return r.error_at(kv.first.Mark(), f.path, "expected a worker name, found " + describe(kv.first));
    const std::string& name = kv.first.Scalar();
    const std::string path = f.path + "." + name;
    const bool name_ok = !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
    });
    if (!name_ok)
      return r.error_at(kv.first.Mark(), path, "a worker name is letters, digits, - and _ (at most 64), found " + quote(name));
    if (name == "orchestrator" || name == "subagent" || name == "daemon" || name == "all")
      return r.error_at(kv.first.Mark(), path, quote(name) + " is taken (a node's name, or a logs target); choose another");
    for (const auto& w : d.workers) {
      if (w.cfg.name == name)
        return r.error_at(kv.first.Mark(), path, "duplicate worker " + quote(name) + " (first at line " +
                                                      std::to_string(w.named_at.line + 1) + ")");
    }
    worker_draft w;
    w.cfg.name = name;
    if (auto e = read_worker(r, field{path, kv.first, kv.second}, w)) return e;
    d.workers.push_back(std::move(w));
  }
  return std::nullopt;
}

// openclawd runs exactly these two nodes; their order here is the order in config::nodes.
const key_spec<draft> nodes_keys[] = {
    {"orchestrator", required_key, "", [](R r, F f, draft& d) { return read_node(r, f, d.nodes[0]); }},
    {"subagent", required_key, "", [](R r, F f, draft& d) { return read_node(r, f, d.nodes[1]); }},
};
const key_table<draft> nodes_table{"nodes", nodes_keys};

constexpr int_rule hub_parallel_rule{1, 8, "an integer from 1 to 8"};

const key_spec<hub_draft> hub_keys[] = {
    {"endpoint", optional_key, "url mirror model_endpoint hf_endpoint", [](R r, F f, hub_draft& d) {
       d.endpoint_set = true;
       return r.read_string(f, d.cfg.endpoint, check_search_endpoint);
     }},
    {"cache_dir", optional_key, "cache models_dir", [](R r, F f, hub_draft& d) {
       located_path p;
       if (auto e = r.read_path(f, p)) return e;
       d.cache_dir = std::move(p);
       return maybe_error{};
     }},
    {"token_file", optional_key, "token", [](R r, F f, hub_draft& d) {
       located_path p;
       if (auto e = r.read_path(f, p)) return e;
       d.token_file = std::move(p);
       return maybe_error{};
     }},
    {"parallel", optional_key, "jobs", [](R r, F f, hub_draft& d) {
       return r.read_int(f, hub_parallel_rule, d.cfg.parallel);
     }},
};
const key_table<hub_draft> hub_table{"hub", hub_keys};

const key_spec<draft> top_level_keys[] = {
    {"llama_server", optional_key, "", [](R r, F f, draft& d) {
       located_path p;
       if (auto e = r.read_path(f, p, true)) return e;
       d.llama_server = std::move(p);
       return maybe_error{};
     }},
    {"rpc_server", optional_key, "", [](R r, F f, draft& d) {
       located_path p;
       if (auto e = r.read_path(f, p, true)) return e;
       d.rpc_server = std::move(p);
       return maybe_error{};
     }},
    {"workers", optional_key, "rpc_workers", read_workers},
    {"state_dir", optional_key, "", [](R r, F f, draft& d) {
       located_path p;
       if (auto e = r.read_path(f, p)) return e;
       d.state_dir = p.path;
       return maybe_error{};
     }},
    {"nodes", required_key, "models", [](R r, F f, draft& d) {
       if (auto e = r.read_mapping(f.value, f.key.Mark(), f.path, nodes_table, d)) return e;
       return check_ports(r, d);
     }},
    {"restart", optional_key, "", [](R r, F f, draft& d) {
       if (auto e = r.read_mapping(f.value, f.key.Mark(), f.path, restart_table, d.restart)) return e;
       return check_backoff(r, d.restart);
     }},
    {"health", optional_key, "", [](R r, F f, draft& d) {
       return r.read_mapping(f.value, f.key.Mark(), f.path, health_table, d.health);
     }},
    {"logs", optional_key, "", [](R r, F f, draft& d) {
       return r.read_mapping(f.value, f.key.Mark(), f.path, logs_table, d.logs);
     }},
    {"search", optional_key, "web_search", [](R r, F f, draft& d) {
       if (auto e = r.read_mapping(f.value, f.key.Mark(), f.path, search_table, d.search)) return e;
       return check_search_backoff(r, d.search);
     }},
    {"pages", optional_key, "page_reading web_pages read web_fetch", [](R r, F f, draft& d) {
       if (auto e = r.read_mapping(f.value, f.key.Mark(), f.path, pages_table, d.pages)) return e;
       return check_pages_timing(r, d.pages);
     }},
    {"pipeline", optional_key, "agent", [](R r, F f, draft& d) {
       if (auto e = r.read_mapping(f.value, f.key.Mark(), f.path, pipeline_table, d.pipeline)) return e;
       return check_compaction(r, f, d.pipeline);
     }},
    {"telegram", optional_key, "bot", [](R r, F f, draft& d) {
       d.telegram.cfg.enabled = true;  // the section turns it on; `enabled: false` parks it
       d.telegram.named_at = f.key.Mark();
       if (auto e = r.read_mapping(f.value, f.key.Mark(), f.path, telegram_table, d.telegram)) return e;
       return check_watchdog(r, d.telegram);
     }},
    {"admin", optional_key, "metrics status_page", [](R r, F f, draft& d) {
       return r.read_mapping(f.value, f.key.Mark(), f.path, admin_table, d.admin);
     }},
    {"slot_files_max", optional_key, "kv_disk_max", [](R r, F f, draft& d) {
       return r.read_size(f, 0, d.slot_files_max);
     }},
    {"hub", optional_key, "huggingface hf models_by_name", [](R r, F f, draft& d) {
       return r.read_mapping(f.value, f.key.Mark(), f.path, hub_table, d.hub);
     }},
};
const key_table<draft> top_level_table{"the top level", top_level_keys};

template <class T>
void add_section(std::vector<std::pair<std::string_view, std::string_view>>& out, const key_table<T>& t) {
  for (const auto& spec : t.keys) out.emplace_back(spec.name, t.label);
}

// Where else `name` is a known key ("under health", "at the top level"), for a key
// one level too deep or too shallow: the commonest mistake in a hand-edited YAML file.
std::string section_of_key(std::string_view name, std::string_view current_label) {
  static const auto index = [] {
    std::vector<std::pair<std::string_view, std::string_view>> all;  // key, section label
    add_section(all, top_level_table);
    add_section(all, nodes_table);
    add_section(all, node_table);
    add_section(all, worker_table);
    add_section(all, restart_table);
    add_section(all, health_table);
    add_section(all, logs_table);
    add_section(all, search_table);
    add_section(all, pages_table);
    add_section(all, pipeline_table);
    add_section(all, telegram_table);
    add_section(all, admin_table);
    add_section(all, hub_table);
    return all;
  }();
  std::string out;
  for (const auto& [key, label] : index) {
    if (key != name || label == current_label) continue;
    if (!out.empty()) out += " or ";
    out += label == top_level_table.label ? std::string("at the top level") : "under " + std::string(label);
  }
  return out;
}

// ---------------------------------------------------------------------------
// File-system checks, run once the text is known to be valid

std::optional<fs::path> find_on_path(const fs::path& name, const std::string& path_env) {
  std::size_t start = 0;
  while (start <= path_env.size()) {
    std::size_t end = path_env.find(':', start);
    if (end == std::string::npos) end = path_env.size();
    const std::string dir = path_env.substr(start, end - start);
    const fs::path candidate = (dir.empty() ? fs::path(".") : fs::path(dir)) / name;
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) {
      return fs::absolute(candidate, ec).lexically_normal();
    }
    start = end + 1;
  }
  return std::nullopt;
}

// Resolves a node's llama-server: a bare name through $PATH, a path checked to be an
// executable file. `p` is null when the top-level key is absent and the default applies.
// config_error is an aggregate, so C++20 can build one from a path too: say which.
config_result<fs::path> found_path(fs::path p) { return {boost::system::in_place_value, std::move(p)}; }

const located_path default_llama_server{"llama-server", true, YAML::Mark::null_mark(), "llama_server", ""};

config_result<fs::path> resolve_program(const reader& r, const located_path* p,
                                        const located_path& default_program = default_llama_server) {
  const located_path& prog = p != nullptr ? *p : default_program;
  const std::string what = default_program.path.string();  // "llama-server", "ggml-rpc-server"
  auto fail = [&](std::string message) -> config_error {
    return p != nullptr ? r.error_at(prog.mark, prog.key, std::move(message))
                        : r.file_error(prog.key, std::move(message));
  };
  if (!r.options().check_files) return found_path(prog.path);
  if (prog.bare) {
    const auto path_env = env_value("PATH");
    const std::string searched = path_env ? *path_env : std::string("PATH is not set");
    if (path_env) {
      if (auto found = find_on_path(prog.path, *path_env)) return found_path(*found);
    }
    return fail(prog.path.string() + " not found on PATH (" + searched + "); set " + default_program.key +
                ": to its full path");
  }
  std::error_code ec;
  const auto st = fs::status(prog.path, ec);
  if (!fs::exists(st)) return fail(what + " not found: " + prog.path.string());
  if (fs::is_directory(st)) {
    return fail(what + " path is a folder, not a program: " + prog.path.string());
  }
  if (::access(prog.path.c_str(), X_OK) != 0) {
    return fail(what + " is not executable: " + prog.path.string() + " (check its permissions)");
  }
  return found_path(prog.path);
}

maybe_error check_model_file(const reader& r, const located_path& p) {
  std::error_code ec;
  const auto st = fs::status(p.path, ec);
  if (!fs::exists(st)) return r.error_at(p.mark, p.key, "model file not found: " + p.path.string());
  if (!fs::is_regular_file(st)) {
    return r.error_at(p.mark, p.key, "model path is not a regular file: " + p.path.string());
  }
  if (::access(p.path.c_str(), R_OK) != 0) {
    return r.error_at(p.mark, p.key, "model file is not readable: " + p.path.string() + " (check its permissions)");
  }
  return std::nullopt;
}

config_result<fs::path> default_state_dir(const reader& r) {
  if (auto xdg = env_value("XDG_STATE_HOME"); xdg && fs::path(*xdg).is_absolute()) {
    return found_path((fs::path(*xdg) / "openclawd").lexically_normal());
  }
  auto home = home_dir();
  if (!home) return r.file_error("state_dir", "no home directory ($HOME is not set); set state_dir: to a folder");
  return found_path((fs::path(*home) / ".local/state/openclawd").lexically_normal());
}

// A bot token looks like 123456789:AAF-xyz... (digits, a colon, letters, digits, - and _).
bool plausible_token(std::string_view t) {
  const auto colon = t.find(':');
  if (colon == 0 || colon == std::string_view::npos || colon > 20 || t.size() - colon < 20 || t.size() > 200) return false;
  const auto id = t.substr(0, colon);
  const auto secret = t.substr(colon + 1);
  return id.find_first_not_of("0123456789") == std::string_view::npos &&
         std::all_of(secret.begin(), secret.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
         });
}

// The bot token, from telegram.token_file (which nobody else may read: the token is the
// whole of the bot's identity) or $OPENCLAWD_TELEGRAM_TOKEN. Errors never quote the text.
config_result<std::string> read_token(const reader& r, const telegram_draft& d) {
  auto result_of = [](std::string t) -> config_result<std::string> {
    return {boost::system::in_place_value, std::move(t)};
  };
  if (!d.token_file) {
    const auto env = env_value("OPENCLAWD_TELEGRAM_TOKEN");
    if (!env || trim(*env).empty())
      return r.error_at(d.named_at, "telegram.token_file",
                        "no bot token: set telegram.token_file to a file only you can read (chmod 600), or "
                        "the environment variable OPENCLAWD_TELEGRAM_TOKEN");
    const std::string token(trim(*env));
    if (!plausible_token(token))
      return r.error_at(d.named_at, "telegram.token_file",
                        "$OPENCLAWD_TELEGRAM_TOKEN does not look like a bot token (digits:letters, from @BotFather)");
    return result_of(token);
  }
  const located_path& p = *d.token_file;
  struct ::stat st {};
  if (::stat(p.path.c_str(), &st) != 0)
    return r.error_at(p.mark, p.key, "token file not found: " + p.path.string());
  if (!S_ISREG(st.st_mode)) return r.error_at(p.mark, p.key, "token file is not a regular file: " + p.path.string());
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return r.error_at(p.mark, p.key,
                      "token file " + p.path.string() + " is readable by others (mode " + mode +
                          "); run: chmod 600 " + p.path.string());
  }
  std::ifstream in(p.path, std::ios::binary);
  std::string text;
  if (!in || !std::getline(in, text))
    return r.error_at(p.mark, p.key, "cannot read the token file " + p.path.string() + " (or it is empty)");
  const std::string token(trim(text));
  if (!plausible_token(token))
    return r.error_at(p.mark, p.key,
                      "the first line of " + p.path.string() +
                          " does not look like a bot token (digits:letters, as @BotFather gives it)");
  return result_of(token);
}

// The worker program when neither the worker nor the top level names one: beside the
// llama-server the nodes run (setup.sh's .deps/bin, a llama.cpp build's bin/), as Debian's
// `ggml-rpc-server` or llama.cpp's own `rpc-server`, then the same names on PATH.
config_result<fs::path> default_rpc_server(const reader& r, const draft& d) {
  const located_path fallback{"ggml-rpc-server", true, YAML::Mark::null_mark(), "rpc_server", ""};
  if (!r.options().check_files) return found_path(fallback.path);
  for (const node_draft& n : d.nodes) {
    if (n.cfg.remote() || n.cfg.llama_server.empty() || !n.cfg.llama_server.is_absolute()) continue;
    for (const char* name : {"ggml-rpc-server", "rpc-server"}) {
      const fs::path candidate = n.cfg.llama_server.parent_path() / name;
      if (::access(candidate.c_str(), X_OK) == 0) return found_path(candidate);
    }
  }
  if (const auto path_env = env_value("PATH")) {
    for (const char* name : {"ggml-rpc-server", "rpc-server"})
      if (auto found = find_on_path(name, *path_env)) return found_path(*found);
  }
  return r.file_error("rpc_server", "no RPC worker program found (ggml-rpc-server or rpc-server, beside " +
                                        std::string("llama-server or on PATH); set rpc_server: to its full path"));
}

// Workers: each one some node uses, the names the nodes list resolved to endpoints, ports
// distinct from each other, from the nodes' and from the admin port, programs found.
maybe_error finish_workers(const reader& r, draft& d) {
  for (node_draft& n : d.nodes) {
    for (const auto& listed : n.rpc) {
      // Not a structured binding: clang before 16 cannot capture one in a lambda.
      const std::string& name = listed.first;
      const YAML::Mark& at = listed.second;
      const auto w = std::find_if(d.workers.begin(), d.workers.end(), [&](const worker_draft& x) { return x.cfg.name == name; });
      if (w == d.workers.end()) {
        std::string known;
        for (const auto& x : d.workers) known += (known.empty() ? "" : ", ") + x.cfg.name;
        return r.error_at(at, n.rpc_key, "no worker named " + quote(name) + " under workers:" +
                                              (known.empty() ? std::string(" (there is no workers: section)") : " (known: " + known + ")"));
      }
      n.cfg.rpc_endpoints.push_back(w->cfg.endpoint());
    }
  }
  for (const worker_draft& w : d.workers) {
    const bool used = std::any_of(d.nodes.begin(), d.nodes.end(), [&](const node_draft& n) {
      return std::find(n.cfg.rpc.begin(), n.cfg.rpc.end(), w.cfg.name) != n.cfg.rpc.end();
    });
    if (!used)
      return r.error_at(w.named_at, "workers." + w.cfg.name,
                        "worker " + quote(w.cfg.name) + " is not used by any node: list it in nodes.orchestrator.rpc "
                        "(or nodes.subagent.rpc), or remove it");
  }
  for (std::size_t i = 0; i < d.workers.size(); ++i) {
    const worker_draft& w = d.workers[i];
    if (w.cfg.is_remote()) continue;
    const std::string key = "workers." + w.cfg.name + ".port";
    for (std::size_t j = 0; j < i; ++j) {
      const worker_draft& o = d.workers[j];
      if (!o.cfg.is_remote() && o.cfg.port == w.cfg.port)
        return r.error_at(w.port_mark, key, "port " + std::to_string(w.cfg.port) + " is already used by workers." +
                                                o.cfg.name + ".port (line " + std::to_string(o.port_mark.line + 1) + ")");
    }
    for (const node_draft& n : d.nodes) {
      if (!n.cfg.remote() && n.cfg.port == w.cfg.port)
        return r.error_at(w.port_mark, key, "port " + std::to_string(w.cfg.port) + " is already used by nodes." +
                                                n.cfg.name + ".port (line " + std::to_string(n.port_mark.line + 1) + ")");
    }
    if (d.admin.cfg.port == w.cfg.port)
      return r.error_at(w.port_mark, key, "port " + std::to_string(w.cfg.port) + " is already used by admin.port");
  }
  std::optional<config_result<fs::path>> shared;
  const located_path top_default{"ggml-rpc-server", true, YAML::Mark::null_mark(), "rpc_server", ""};
  for (worker_draft& w : d.workers) {
    if (w.cfg.is_remote()) continue;
    if (w.rpc_server) {
      auto program = resolve_program(r, &*w.rpc_server, top_default);
      if (!program) return program.error();
      w.cfg.rpc_server = *program;
      continue;
    }
    if (!shared) shared = d.rpc_server ? resolve_program(r, &*d.rpc_server, top_default) : default_rpc_server(r, d);
    if (!*shared) return shared->error();
    w.cfg.rpc_server = **shared;
  }
  return std::nullopt;
}

config_result<config> finish(const reader& r, draft& d) {
  config out;
  out.source = r.source();
  if (d.state_dir) {
    out.state_dir = *d.state_dir;
  } else {
    auto dir = default_state_dir(r);
    if (!dir) return dir.error();
    out.state_dir = *dir;
  }
  out.restart = d.restart.cfg;
  out.health = d.health;
  out.logs = d.logs;
  out.search = d.search.cfg;
  out.pages = d.pages.cfg;
  out.pipeline = d.pipeline;
  out.slot_files_max = d.slot_files_max;
  for (node_draft& n : d.nodes) {
    // A url: node's server is someone else's: its flags are not ours to set.
    if (n.cfg.remote()) n.cfg.slot_files = false;
    if (n.cfg.slot_files) n.cfg.slot_dir = out.state_dir / "kv" / n.cfg.name;
  }

  // The top-level llama_server is resolved once, and only if a node uses it.
  std::optional<config_result<fs::path>> shared_program;
  for (node_draft& n : d.nodes) {
    if (n.cfg.remote()) continue;  // runs elsewhere: no program of ours
    if (n.llama_server) {
      auto program = resolve_program(r, &*n.llama_server);
      if (!program) return program.error();
      n.cfg.llama_server = *program;
    } else {
      if (!shared_program) shared_program = resolve_program(r, d.llama_server ? &*d.llama_server : nullptr);
      if (!*shared_program) return shared_program->error();
      n.cfg.llama_server = **shared_program;
    }
  }
  out.hub = d.hub.cfg;
  if (!d.hub.endpoint_set) {
    // llama.cpp's variable first, then huggingface_hub's: the same mirror serves both.
    for (const char* var : {"MODEL_ENDPOINT", "HF_ENDPOINT"}) {
      if (auto v = env_value(var); v && !trim(*v).empty()) {
        if (auto why = check_search_endpoint(trim(*v)); !why.empty())
          return r.file_error("hub.endpoint", "$" + std::string(var) + ": " + why);
        out.hub.endpoint = std::string(trim(*v));
        break;
      }
    }
    if (out.hub.endpoint.empty()) out.hub.endpoint = "https://huggingface.co/";
  }
  if (!out.hub.endpoint.ends_with('/')) out.hub.endpoint += '/';
  out.hub.cache_dir = d.hub.cache_dir ? d.hub.cache_dir->path : default_model_cache_dir();
  if (d.hub.token_file) out.hub.token_file = d.hub.token_file->path;

  // Model references become their files in the cache, as the lock file pins them.
  bool any_ref = false;
  for (const node_draft& n : d.nodes) {
    any_ref = any_ref || !n.model.ref.empty() ||
              std::any_of(n.fallbacks.begin(), n.fallbacks.end(), [](const located_path& p) { return !p.ref.empty(); });
  }
  model_lock lock;
  if (any_ref) {
    auto read = read_model_lock(lock_file_of(out.hub.cache_dir));
    if (!read) return r.file_error("hub.cache_dir", read.error());
    lock = std::move(*read);
  }
  for (node_draft& n : d.nodes) {
    if (n.cfg.remote()) continue;
    n.cfg.model_refs.clear();
    auto resolve = [&](located_path& p) -> maybe_error {
      n.cfg.model_refs.push_back(p.ref);
      if (p.ref.empty()) return std::nullopt;
      if (auto path = cached_model_path(out.hub.cache_dir, lock, p.ref)) {
        p.path = *path;
        return std::nullopt;
      }
      if (!r.options().check_files || r.options().allow_unpulled) return std::nullopt;
      return r.error_at(p.mark, p.key,
                        p.ref + " is not in the model cache (" + out.hub.cache_dir.string() +
                            "); run `openclawd pull`, or start without --offline");
    };
    if (auto e = resolve(n.model)) return *e;
    n.cfg.model = n.model.path;
    n.cfg.fallbacks.clear();
    for (auto& f : n.fallbacks) {
      if (auto e = resolve(f)) return *e;
      n.cfg.fallbacks.push_back(f.path);
    }
  }

  if (auto e = finish_workers(r, d)) return *e;
  if (r.options().check_files) {
    for (const node_draft& n : d.nodes) {
      if (n.cfg.remote()) continue;  // its model is on the machine that runs it
      if (n.model.ref.empty() || !n.model.path.empty())
        if (auto e = check_model_file(r, n.model)) return *e;
      for (const auto& f : n.fallbacks) {
        if (!f.ref.empty() && f.path.empty()) continue;  // allow_unpulled: pulled later
        if (auto e = check_model_file(r, f)) return *e;
      }
    }
  }
  if (d.admin.cfg.port != 0) {
    for (const node_draft& n : d.nodes) {
      if (n.cfg.port == d.admin.cfg.port)
        return r.error_at(d.admin.port_mark, "admin.port",
                          "port " + std::to_string(d.admin.cfg.port) + " is already used by nodes." + n.cfg.name +
                              ".port (line " + std::to_string(n.port_mark.line + 1) + ")");
    }
  }
  out.admin = d.admin.cfg;
  out.telegram = d.telegram.cfg;
  if (out.telegram.enabled && r.options().check_files) {
    auto token = read_token(r, d.telegram);
    if (!token) return token.error();
    out.telegram.token = std::move(*token);
  }
  for (node_draft& n : d.nodes) out.nodes.push_back(std::move(n.cfg));
  for (worker_draft& w : d.workers) out.workers.push_back(std::move(w.cfg));
  return out;
}

}  // namespace

std::vector<std::string> model_refs_of(const config& cfg) {
  std::vector<std::string> out;
  for (const auto& n : cfg.nodes)
    for (const auto& ref : n.model_refs)
      if (!ref.empty() && std::find(out.begin(), out.end(), ref) == out.end()) out.push_back(ref);
  return out;
}

std::vector<std::string> unpulled_refs(const config& cfg) {
  std::vector<std::string> out;
  for (const auto& n : cfg.nodes) {
    const auto paths = n.models();
    for (std::size_t i = 0; i < n.model_refs.size() && i < paths.size(); ++i)
      if (!n.model_refs[i].empty() && paths[i].empty() &&
          std::find(out.begin(), out.end(), n.model_refs[i]) == out.end())
        out.push_back(n.model_refs[i]);
  }
  return out;
}

std::optional<duration> parse_duration(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  // Go-style sequences are accepted too: "1m30s", "1h30m".
  double total_ms = 0;
  while (!text.empty()) {
    auto number = take_number(text);
    if (!number) return std::nullopt;
    double factor = 0;
    if (text.starts_with("ms")) {
      factor = 1;
      text.remove_prefix(2);
    } else if (text.starts_with("s")) {
      factor = 1000;
      text.remove_prefix(1);
    } else if (text.starts_with("m")) {
      factor = 60'000;
      text.remove_prefix(1);
    } else if (text.starts_with("h")) {
      factor = 3'600'000;
      text.remove_prefix(1);
    } else {
      return std::nullopt;  // a bare number, or an unknown unit
    }
    total_ms += *number * factor;
  }
  if (!(total_ms <= 1e15)) return std::nullopt;  // ~30,000 years: a typo, not a timeout
  return duration(std::llround(total_ms));
}

std::optional<std::string> expand_path_text(std::string_view text, std::string* missing) {
  expansion x = expand(text);
  if (!x.text && missing != nullptr) *missing = x.unset_variable;  // empty when malformed ("${")
  return std::move(x.text);
}

std::vector<fs::path> default_config_candidates() {
  std::vector<fs::path> out;
  if (auto explicit_file = env_value("OPENCLAWD_CONFIG"); explicit_file && !explicit_file->empty()) {
    out.emplace_back(*explicit_file);
  }
  const auto home = home_dir();
  if (auto xdg = env_value("XDG_CONFIG_HOME"); xdg && fs::path(*xdg).is_absolute()) {
    out.push_back(fs::path(*xdg) / "openclawd" / "openclawd.yaml");
  } else if (home) {
    out.push_back(fs::path(*home) / ".config" / "openclawd" / "openclawd.yaml");
  }
#ifdef __APPLE__
  if (home) out.push_back(fs::path(*home) / "Library" / "Application Support" / "openclawd" / "openclawd.yaml");
#endif
  return out;
}

namespace {

// Sees one YAML document's events and remembers where its first content is, if any.
class document_probe final : public YAML::EventHandler {
 public:
  std::optional<YAML::Mark> content;  // the first scalar, alias, sequence or mapping
  std::optional<YAML::Mark> null;     // an empty document's mark

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override {
    if (!null) null = mark;
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { seen(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override {
    seen(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    seen(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    seen(mark);
  }
  void OnMapEnd() override {}

 private:
  void seen(const YAML::Mark& mark) {
    if (!content) content = mark;
  }
};

// Where the first document with content after the first one starts, if there is one (empty
// documents, e.g. a stray trailing "---", do not count). Throws YAML::Exception on bad YAML.
// Not YAML::LoadAll(): in yaml-cpp 0.7 (Debian bookworm) it never returns on some malformed
// text, such as "{a: 1}\n," — its parser keeps yielding empty documents at the stray token
// without consuming it, and LoadAll allocates one node each time until memory runs out
// (jbeder/yaml-cpp#1319, fixed after 0.8.0; found by fuzz/fuzz_config). An empty document at
// the same place as the previous one is that loop, reported as an error here.
std::optional<YAML::Mark> later_document(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  document_probe first;
  if (!parser.HandleNextDocument(first)) return std::nullopt;
  std::optional<int> last_null = first.null ? std::optional<int>(first.null->pos) : std::nullopt;
  for (;;) {
    document_probe doc;
    if (!parser.HandleNextDocument(doc)) return std::nullopt;
    if (doc.content) return doc.content;
    if (doc.null && last_null == doc.null->pos) {
      const auto at = static_cast<std::size_t>(doc.null->pos);
      throw YAML::ParserException(*doc.null, at < text.size() ? "unexpected " + quote(text.substr(at, 1))
                                                               : std::string("unexpected end of the text"));
    }
    if (doc.null) last_null = doc.null->pos;
  }
}

}  // namespace

config_result<config> load_config(const fs::path& file, load_options options) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(file, ec).lexically_normal();
  fs::path source = fs::canonical(absolute, ec);
  if (ec) source = absolute;
  // Relative paths inside the file resolve against the folder the user named it in,
  // even when that entry is a symlink into a dotfiles checkout.
  reader r(source, absolute.parent_path(), options);

  const auto st = fs::status(source, ec);
  if (!fs::exists(st)) return r.file_error("", "config file not found");
  if (fs::is_directory(st)) return r.file_error("", "this is a folder, not a config file");
  std::ifstream in(source, std::ios::binary);
  if (!in) return r.file_error("", std::string("cannot read the config file: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return r.file_error("", std::string("cannot read the config file: ") + std::strerror(errno));

  YAML::Node root;
  std::optional<YAML::Mark> second;
  try {
    const std::string yaml = text.str();
    second = later_document(yaml);  // first: it also rejects the text LoadAll would loop on
    root = YAML::Load(yaml);        // the first document
  } catch (const YAML::Exception& e) {  // ParserException and its kin carry a mark
    return r.error_at(e.mark, "", "invalid YAML: " + e.msg);
  }
  if (root.IsNull()) {
    return r.file_error("", "the file is empty; expected at least a nodes: section "
                            "(see configs/openclawd.example.yaml)");
  }
  if (second) return r.error_at(*second, "", "expected one YAML document, found a second one after \"---\"");
  if (!root.IsMap()) {
    return r.error_at(root.Mark(), "",
                      "expected a mapping at the top level (llama_server:, state_dir:, nodes:, ...), found " +
                          describe(root));
  }
  draft d;
  d.nodes[0].cfg.name = "orchestrator";
  d.nodes[1].cfg.name = "subagent";
  // Per-node defaults (docs/configuration.md says why): the orchestrator reads prompts slowly on a
  // CPU, so its chats' KV is kept in files and it gets the larger host prompt cache.
  d.nodes[0].cfg.cache_ram = 2ull << 30;
  d.nodes[0].cfg.slot_files = true;
  d.nodes[1].cfg.cache_ram = 512ull << 20;
  d.nodes[1].cfg.slot_files = false;
  try {
    if (auto e = r.read_mapping(root, root.Mark(), "", top_level_table, d)) return *e;
  } catch (const YAML::Exception& e) {  // not expected once parsed; still an error about the file
    return r.error_at(e.mark, "", e.msg);
  }
  return finish(r, d);
}

}  // namespace openclawd::core
