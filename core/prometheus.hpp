// A tiny writer for Prometheus' text exposition format 0.0.4 (what GET /metrics serves):
//   # HELP openclawd_node_up 1 when the node answers GET /health with 200
//   # TYPE openclawd_node_up gauge
//   openclawd_node_up{node="orchestrator"} 1
// Samples are grouped under their family whatever order they are added in, because the
// format requires one contiguous block per metric name and the daemon's collectors (one per
// source: supervisor, pipeline, search, Telegram...) add to the same families in turn.
// Pure string building: no I/O, no clock, no threads. A bad metric or label *name* is a
// programming error (std::invalid_argument); label *values* may be anything and are escaped.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace openclawd::core {

enum class metric_type { counter, gauge, untyped };
std::string_view to_string(metric_type t) noexcept;

using metric_label = std::pair<std::string_view, std::string_view>;  // name, value

// [a-zA-Z_:][a-zA-Z0-9_:]*  and  [a-zA-Z_][a-zA-Z0-9_]* (a leading "__" is reserved).
bool valid_metric_name(std::string_view name) noexcept;
bool valid_label_name(std::string_view name) noexcept;

// Label values escape \ " and newline; HELP text escapes \ and newline.
std::string escape_label_value(std::string_view value);
std::string escape_help(std::string_view help);
// Integers without a decimal point ("42"), others in the shortest form that reads back
// exactly ("0.25", "1.5e-07"); "NaN", "+Inf", "-Inf".
std::string format_metric_value(double v);

class prometheus_writer {
 public:
  // Declares a family (# HELP and # TYPE). Declaring it again with the same type is fine
  // (the first help text stays); another type is a programming error.
  void family(std::string_view name, metric_type type, std::string_view help);
  // One sample of a declared family. Counters are conventionally named *_total.
  void sample(std::string_view name, double value, std::initializer_list<metric_label> labels = {});
  void sample(std::string_view name, double value, const std::vector<metric_label>& labels);

  // family() + sample() for the common one-sample case.
  void gauge(std::string_view name, std::string_view help, double value,
             std::initializer_list<metric_label> labels = {});
  void counter(std::string_view name, std::string_view help, double value,
               std::initializer_list<metric_label> labels = {});

  // The whole exposition, families in the order they were first declared; ends with "\n".
  std::string text() const;
  std::size_t families() const noexcept { return families_.size(); }

  static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct family_data {
    std::string name;
    metric_type type;
    std::string help;
    std::string samples;  // complete lines
  };
  family_data& find(std::string_view name);
  void add_sample(std::string_view name, double value, const metric_label* first, std::size_t count);

  std::vector<family_data> families_;  // a handful of dozen: a linear search is the fastest
};

}  // namespace openclawd::core
