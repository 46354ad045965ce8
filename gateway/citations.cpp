#include "gateway/citations.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>

namespace openclawd::gateway {
namespace {

// A Markdown link text that shows as written: the characters that could end or format it escaped.
std::string escape_link_text(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '\n' || c == '\r') {
      out += ' ';
      continue;
    }
    if (std::string_view("[]*_`\\<>~|").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

// A link destination in angle brackets takes any URL without spaces, '<', '>' or line breaks
// (checked URLs have none; percent-encode them anyway rather than break the list).
std::string link_destination(std::string_view url) {
  std::string out = "<";
  for (const char c : url) {
    if (c == ' ' || c == '<' || c == '>' || c == '\n' || c == '\r') {
      static constexpr char hex[] = "0123456789ABCDEF";
      out += '%';
      out += hex[static_cast<unsigned char>(c) >> 4];
      out += hex[static_cast<unsigned char>(c) & 15];
    } else {
      out += c;
    }
  }
  return out + ">";
}

// The numbers of a marker starting at s[i] == '[': "[1]", "[1, 2]", "[1,2,3]"; its length in `len`.
std::optional<std::vector<int>> marker_at(std::string_view s, std::size_t i, std::size_t& len) {
  std::vector<int> numbers;
  std::size_t j = i + 1;
  while (true) {
    while (j < s.size() && s[j] == ' ') ++j;
    std::size_t digits = 0;
    int n = 0;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j])) != 0 && digits < 3) {
      n = n * 10 + (s[j] - '0');
      ++j;
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    numbers.push_back(n);
    while (j < s.size() && s[j] == ' ') ++j;
    if (j < s.size() && s[j] == ',') {
      ++j;
      continue;
    }
    if (j < s.size() && s[j] == ']') break;
    return std::nullopt;
  }
  len = j + 1 - i;
  // "[1](…)" is a link the model wrote itself, "[1]:" a reference definition: not markers.
  if (i + len < s.size() && (s[i + len] == '(' || s[i + len] == ':')) return std::nullopt;
  // "[[1]](…)": already linked.
  if (i > 0 && s[i - 1] == '[') return std::nullopt;
  return numbers;
}

}  // namespace

cited_answer cite_sources(std::string_view answer, const std::vector<source>& sources) {
  cited_answer out;
  std::map<int, const source*> by_number;
  for (const auto& s : sources) by_number.emplace(s.number, &s);

  std::string shown;
  shown.reserve(answer.size() + 64);
  bool in_fence = false;
  bool at_line_start = true;
  for (std::size_t i = 0; i < answer.size();) {
    const char c = answer[i];
    // A fence line (``` or ~~~ at the start of a line, indented up to 3) toggles code; code is copied.
    if (at_line_start) {
      std::size_t k = i;
      while (k < answer.size() && k - i < 3 && answer[k] == ' ') ++k;
      if (answer.compare(k, 3, "```") == 0 || answer.compare(k, 3, "~~~") == 0) in_fence = !in_fence;
    }
    at_line_start = c == '\n';
    if (in_fence) {
      shown += c;
      ++i;
      continue;
    }
    if (c == '`') {  // an inline code span: copied up to its closing run
      std::size_t run = 0;
      while (i + run < answer.size() && answer[i + run] == '`') ++run;
      const auto close = answer.find(std::string(run, '`'), i + run);
      const auto end = close == std::string_view::npos ? i + run : close + run;
      shown.append(answer.substr(i, end - i));
      i = end;
      continue;
    }
    std::size_t len = 0;
    if (c == '[') {
      if (auto numbers = marker_at(answer, i, len)) {
        const bool all_known = std::all_of(numbers->begin(), numbers->end(), [&](int n) { return by_number.count(n) > 0; });
        if (all_known) {
          for (std::size_t k = 0; k < numbers->size(); ++k) {
            const int n = (*numbers)[k];
            if (std::find(out.cited.begin(), out.cited.end(), n) == out.cited.end()) out.cited.push_back(n);
            shown += "[[" + std::to_string(n) + "]](" + link_destination(by_number[n]->url) + ")";
          }
          i += len;
          continue;
        }
      }
    }
    shown += c;
    ++i;
  }

  std::vector<const source*> listed;
  for (const int n : out.cited) listed.push_back(by_number[n]);
  if (listed.empty()) {
    for (const auto& s : sources) {
      if (s.read) listed.push_back(&s);
    }
  }
  std::sort(listed.begin(), listed.end(), [](const source* a, const source* b) { return a->number < b->number; });
  if (!listed.empty()) {
    out.sources = "\n\nSources:";
    for (const auto* s : listed) {
      out.sources += "\n[" + std::to_string(s->number) + "] [" +
                     escape_link_text(s->title.empty() ? s->url : s->title) + "](" + link_destination(s->url) + ")";
    }
  }
  out.stored = std::string(answer) + out.sources;
  out.shown = shown + out.sources;
  return out;
}

}  // namespace openclawd::gateway
