#include "supervisor/load_phase.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <vector>

namespace openclawd::supervisor {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return s;
}

// "0.00.016.608 I srv    load_model: loading …" → "load_model: loading …". llama.cpp's log
// prefix: a time of digits and dots, a one-letter level, a short module name.
std::string_view strip_prefix(std::string_view line) {
  const auto first = line.find(' ');
  if (first == std::string_view::npos) return line;
  const auto stamp = line.substr(0, first);
  if (stamp.empty() || !std::all_of(stamp.begin(), stamp.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '.'; }))
    return line;
  std::string_view rest = trim(line.substr(first));
  if (rest.size() >= 2 && std::isupper(static_cast<unsigned char>(rest[0])) != 0 && rest[1] == ' ') {
    rest = trim(rest.substr(2));
    const auto space = rest.find(' ');
    if (space != std::string_view::npos && space <= 6) rest = trim(rest.substr(space));
  }
  return rest;
}

}  // namespace

load_phase parse_load_phase(std::string_view tail) {
  // Only what this start wrote: after the last marker openclawd put in the log.
  const auto marker = tail.rfind("openclawd: starting ");
  if (marker != std::string_view::npos) {
    const auto eol = tail.find('\n', marker);
    tail = eol == std::string_view::npos ? std::string_view() : tail.substr(eol + 1);
  }
  load_phase out;
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < tail.size()) {
    const auto end = std::min(tail.find('\n', start), tail.size());
    lines.push_back(tail.substr(start, end - start));
    start = end + 1;
  }
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    std::string_view line = trim(*it);
    if (line.empty() || line.starts_with("----")) continue;
    // Progress dots, after the phase that prints them or alone on a line (another line came
    // in between): then the phase is the line before.
    std::size_t dots = 0;
    while (dots < line.size() && line[line.size() - 1 - dots] == '.') ++dots;
    if (dots >= 3 && !out.percent) {
      out.percent = static_cast<int>(std::min<std::size_t>(dots, 100));
      line = trim(line.substr(0, line.size() - dots));
      if (line.empty()) continue;
    }
    std::string text(strip_prefix(line));
    if (text.size() > 120) text = text.substr(0, 117) + "...";
    out.text = std::move(text);
    return out;
  }
  if (out.percent) out.text = "loading tensors";
  return out;
}

std::string read_log_tail(const std::string& file, std::size_t max_bytes) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(std::max<std::streamoff>(0, in.tellg()));
  const std::size_t from = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(from));
  std::string out(size - from, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

}  // namespace openclawd::supervisor
