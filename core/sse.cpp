#include "core/sse.hpp"

#include <limits>

namespace openclawd::core {

namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

}  // namespace

bool is_done(const sse_event& ev) noexcept { return ev.data == "[DONE]"; }

sse_parser::sse_parser(std::size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

std::vector<sse_event> sse_parser::feed(std::string_view bytes) {
  std::vector<sse_event> out;
  feed(bytes, out);
  return out;
}

void sse_parser::feed(std::string_view bytes, std::vector<sse_event>& out) {
  if (failed_) return;
  if (at_start_) {
    // The spec strips one leading BOM. It may arrive split across feeds, so match it byte by
    // byte; on a mismatch the bytes matched so far were content after all.
    while (!bytes.empty() && bom_matched_ < utf8_bom.size() && bytes.front() == utf8_bom[bom_matched_]) {
      ++bom_matched_;
      bytes.remove_prefix(1);
    }
    if (bom_matched_ < utf8_bom.size()) {
      if (bytes.empty()) return;  // still undecided
      consume(utf8_bom.substr(0, bom_matched_), out);
    }
    at_start_ = false;
  }
  consume(bytes, out);
}

bool sse_parser::mid_event() const noexcept {
  return !line_.empty() || !data_.empty() || (at_start_ && bom_matched_ > 0);
}

bool sse_parser::over_cap(std::size_t line_bytes) const noexcept {
  return line_bytes + data_.size() + event_type_.size() > max_event_bytes_;
}

void sse_parser::fail() noexcept {
  failed_ = true;
  // Give the memory back: a failed parser ignores everything from now on.
  std::string().swap(line_);
  std::string().swap(data_);
  std::string().swap(event_type_);
}

void sse_parser::consume(std::string_view bytes, std::vector<sse_event>& out) {
  // feed() consumes twice when a partial BOM turns out to be content: a failure in the first
  // call must stop the second (found by fuzz/fuzz_sse).
  if (failed_) return;
  std::size_t i = 0;
  const std::size_t n = bytes.size();
  if (skip_lf_ && n > 0) {
    // The last feed ended on a CR that already ended a line; this LF completes that CRLF.
    if (bytes[0] == '\n') i = 1;
    skip_lf_ = false;
  }
  while (i < n) {
    const std::size_t end = bytes.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      if (over_cap(line_.size() + (n - i))) return fail();
      line_.append(bytes.substr(i));
      return;
    }
    std::string_view line = bytes.substr(i, end - i);
    const bool carried = !line_.empty();
    if (carried) {
      if (over_cap(line_.size() + line.size())) return fail();
      line_.append(line);
      line = line_;
    } else if (over_cap(line.size())) {
      return fail();
    }
    i = end + 1;
    if (bytes[end] == '\r') {
      if (i < n) {
        if (bytes[i] == '\n') ++i;
      } else {
        skip_lf_ = true;
      }
    }
    process_line(line, out);
    if (carried) line_.clear();
  }
}

void sse_parser::process_line(std::string_view line, std::vector<sse_event>& out) {
  if (line.empty()) {
    // Dispatch. An event without data is dropped (spec), but its type buffer is reset too.
    if (data_.empty()) {
      event_type_.clear();
      return;
    }
    data_.pop_back();  // the '\n' after the last data line
    sse_event ev;
    if (event_type_.empty()) {
      ev.event = "message";
    } else {
      ev.event = std::move(event_type_);
    }
    ev.data = std::move(data_);
    ev.id = last_id_;
    out.push_back(std::move(ev));
    data_.clear();
    event_type_.clear();
    return;
  }
  const std::size_t colon = line.find(':');
  if (colon == 0) {
    ++comments_;
    return;
  }
  std::string_view field = line;
  std::string_view value;
  if (colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    data_.append(value);
    data_.push_back('\n');
  } else if (field == "event") {
    event_type_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_.assign(value);
  } else if (field == "retry") {
    if (value.empty()) return;
    std::uint64_t ms = 0;
    for (char c : value) {
      if (c < '0' || c > '9') return;  // not all ASCII digits: ignored, as the spec says
      const auto d = static_cast<std::uint64_t>(c - '0');
      if (ms > (std::numeric_limits<std::uint64_t>::max() - d) / 10) {
        ms = std::numeric_limits<std::uint64_t>::max();  // saturate rather than wrap
      } else {
        ms = ms * 10 + d;
      }
    }
    retry_ms_ = ms;
  }
  // Any other field name is ignored (spec).
}

}  // namespace openclawd::core
