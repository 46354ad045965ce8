#include "tools/untrusted_text.hpp"

#include <cctype>
#include <random>

namespace openclawd::tools {
namespace {

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// "[INST]", "[/INST]", "[SYSTEM_PROMPT]", "[TOOL_CALLS]": upper-case words in brackets are
// control tokens in several chat templates (Mistral); return the length of one at s[i].
std::size_t control_word_at(std::string_view s, std::size_t i) {
  if (s[i] != '[') return 0;
  std::size_t j = i + 1;
  if (j < s.size() && s[j] == '/') ++j;
  const std::size_t word = j;
  while (j < s.size() && j - word <= 24 &&
         (std::isupper(static_cast<unsigned char>(s[j])) != 0 || s[j] == '_' ||
          std::isdigit(static_cast<unsigned char>(s[j])) != 0)) {
    ++j;
  }
  if (j - word < 2 || j >= s.size() || s[j] != ']') return 0;
  return j - i + 1;
}

}  // namespace

std::string neutralize_untrusted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (c == '<') {
      out += "\xE2\x80\xB9";  // ‹
      ++i;
    } else if (c == '>') {
      out += "\xE2\x80\xBA";  // ›
      ++i;
    } else if (const std::size_t n = control_word_at(s, i); n > 0) {
      out += '(';
      out.append(s.substr(i + 1, n - 2));
      out += ')';
      i += n;
    } else if (c == '`' && out.ends_with("``")) {
      out += " `";  // a Markdown code fence needs three in a row: never let a third follow two
      ++i;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      out += ' ';
      ++i;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

std::size_t count_chars(std::string_view text) {
  std::size_t n = 0;
  for (const char c : text) n += is_continuation(c) ? 0 : 1;
  return n;
}

std::string truncate_chars(std::string_view text, std::size_t max_chars) {
  if (count_chars(text) <= max_chars) return std::string(text);
  if (max_chars == 0) return {};
  std::size_t chars = 0;
  std::size_t i = 0;
  for (; i < text.size(); ++i) {
    if (!is_continuation(text[i])) {
      if (chars == max_chars - 1) break;  // room for the ellipsis
      ++chars;
    }
  }
  std::string out(text.substr(0, i));
  while (!out.empty() && out.back() == ' ') out.pop_back();
  out += "\xE2\x80\xA6";  // …
  return out;
}

std::string make_fence_nonce() {
  static constexpr char hex[] = "0123456789abcdef";
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 4; ++i) {
    auto v = rd();
    for (int k = 0; k < 4; ++k) {
      out += hex[v & 0xF];
      v >>= 4;
    }
  }
  return out;
}

std::string fence_begin(std::string_view label, std::string_view nonce) {
  return "<<<BEGIN UNTRUSTED " + std::string(label) + " " + std::string(nonce) + ">>>";
}

std::string fence_end(std::string_view label, std::string_view nonce) {
  return "<<<END UNTRUSTED " + std::string(label) + " " + std::string(nonce) + ">>>";
}

}  // namespace openclawd::tools
