#include "core/prometheus.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace openclawd::core {
namespace {

bool name_char(char c, bool first, bool colon_ok) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
  return first ? alpha : alpha || (c >= '0' && c <= '9');
}

}  // namespace

std::string_view to_string(metric_type t) noexcept {
  switch (t) {
    case metric_type::counter: return "counter";
    case metric_type::gauge: return "gauge";
    case metric_type::untyped: return "untyped";
  }
  return "untyped";
}

bool valid_metric_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (!name_char(name[i], i == 0, true)) return false;
  return true;
}

bool valid_label_name(std::string_view name) noexcept {
  if (name.empty() || name.starts_with("__")) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (!name_char(name[i], i == 0, false)) return false;
  return true;
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_metric_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Counters and byte counts are integers: print them exactly, without an exponent.
  if (v == std::trunc(v) && std::fabs(v) < 9.007199254740992e15) {
    return std::to_string(static_cast<long long>(v));
  }
  // The shortest of %.15g / %.17g that reads back as the same double (std::to_chars for
  // doubles is missing from older Apple libc++).
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  if (std::strtod(buf, nullptr) != v) std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

prometheus_writer::family_data& prometheus_writer::find(std::string_view name) {
  for (auto& f : families_)
    if (f.name == name) return f;
  throw std::invalid_argument("metric " + std::string(name) + " was not declared with family()");
}

void prometheus_writer::family(std::string_view name, metric_type type, std::string_view help) {
  if (!valid_metric_name(name)) throw std::invalid_argument("invalid metric name: " + std::string(name));
  for (auto& f : families_) {
    if (f.name != name) continue;
    if (f.type != type)
      throw std::invalid_argument("metric " + std::string(name) + " declared as " + std::string(to_string(f.type)) +
                                  " and as " + std::string(to_string(type)));
    return;
  }
  families_.push_back(family_data{std::string(name), type, escape_help(help), {}});
}

void prometheus_writer::add_sample(std::string_view name, double value, const metric_label* first,
                                   std::size_t count) {
  auto& f = find(name);
  std::string& s = f.samples;
  s += name;
  if (count > 0) {
    s += '{';
    for (std::size_t i = 0; i < count; ++i) {
      const auto& [label, v] = first[i];
      if (!valid_label_name(label)) throw std::invalid_argument("invalid label name: " + std::string(label));
      if (i > 0) s += ',';
      s += label;
      s += "=\"";
      s += escape_label_value(v);
      s += '"';
    }
    s += '}';
  }
  s += ' ';
  s += format_metric_value(value);
  s += '\n';
}

void prometheus_writer::sample(std::string_view name, double value, std::initializer_list<metric_label> labels) {
  add_sample(name, value, labels.begin(), labels.size());
}

void prometheus_writer::sample(std::string_view name, double value, const std::vector<metric_label>& labels) {
  add_sample(name, value, labels.data(), labels.size());
}

void prometheus_writer::gauge(std::string_view name, std::string_view help, double value,
                              std::initializer_list<metric_label> labels) {
  family(name, metric_type::gauge, help);
  sample(name, value, labels);
}

void prometheus_writer::counter(std::string_view name, std::string_view help, double value,
                                std::initializer_list<metric_label> labels) {
  family(name, metric_type::counter, help);
  sample(name, value, labels);
}

std::string prometheus_writer::text() const {
  std::string out;
  std::size_t size = 0;
  for (const auto& f : families_) size += f.name.size() * 2 + f.help.size() + f.samples.size() + 32;
  out.reserve(size);
  for (const auto& f : families_) {
    // A family declared by a collector that then had nothing to report (e.g. no node has
    // a pid) still gets its HELP/TYPE: valid, and it says the metric exists.
    out += "# HELP ";
    out += f.name;
    out += ' ';
    out += f.help;
    out += "\n# TYPE ";
    out += f.name;
    out += ' ';
    out += to_string(f.type);
    out += '\n';
    out += f.samples;
  }
  return out;
}

}  // namespace openclawd::core
