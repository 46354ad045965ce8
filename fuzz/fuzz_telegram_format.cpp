// libFuzzer target: the Telegram formatter (gateway/telegram/format.hpp). Model output is
// untrusted text; what we send must always be accepted by Telegram. For any input:
//   - markdown_to_html() passes html_problem();
//   - every split_html() chunk passes html_problem(), is not blank, and shows at most `limit`
//     UTF-16 units (a single wider character excepted), and together the chunks show the same
//     text as the whole, up to the whitespace dropped at the cuts;
//   - the same for markdown_to_plain() + split_plain();
//   - sanitize_utf8() gives valid UTF-8, is idempotent and keeps valid input as it is, and
//     utf16_length() counts it exactly;
//   - split_html() of arbitrary bytes does not crash;
//   - markdown_to_terminal() (gateway/markdown.hpp, the chat's rendering) is valid UTF-8 and
//     holds no control character but newline and tab, nor any ESC without ANSI and only its
//     own SGR escapes with it.
// The limit comes from the end of the input, so a seed that is plain Markdown stays Markdown.
#include "fuzz/fuzz_support.hpp"
#include "gateway/markdown.hpp"
#include "gateway/telegram/format.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace tg = openclawd::gateway::telegram;
using openclawd::fuzz::utf16_units;
using openclawd::fuzz::valid_utf8;

namespace {

// The whitespace the splitter drops at a cut (format.hpp): space, tab, LF, CR. Other controls
// (NUL, form feed) are text to it, so a chunk may consist of them.
bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

void append_code_point(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// The text a user sees for well-formed Telegram HTML (html_problem() is empty): tags removed,
// entities decoded.
std::string visible_text(std::string_view html) {
  std::string out;
  std::size_t i = 0;
  while (i < html.size()) {
    const char c = html[i];
    if (c == '<') {
      const std::size_t end = html.find('>', i);
      FUZZ_CHECK(end != std::string_view::npos);
      i = end + 1;
    } else if (c == '&') {
      const std::size_t end = html.find(';', i);
      FUZZ_CHECK(end != std::string_view::npos);
      const std::string_view name = html.substr(i + 1, end - i - 1);
      if (name == "lt") {
        out.push_back('<');
      } else if (name == "gt") {
        out.push_back('>');
      } else if (name == "amp") {
        out.push_back('&');
      } else if (name == "quot") {
        out.push_back('"');
      } else {
        FUZZ_CHECK(name.size() >= 2 && name[0] == '#');
        const bool hex = name[1] == 'x' || name[1] == 'X';
        std::uint32_t cp = 0;
        for (char d : name.substr(hex ? 2 : 1)) {
          std::uint32_t v = 0;
          if (d >= '0' && d <= '9') {
            v = static_cast<std::uint32_t>(d - '0');
          } else if (hex && d >= 'a' && d <= 'f') {
            v = static_cast<std::uint32_t>(d - 'a' + 10);
          } else if (hex && d >= 'A' && d <= 'F') {
            v = static_cast<std::uint32_t>(d - 'A' + 10);
          } else {
            FUZZ_CHECK(!"a digit in a numeric entity");
          }
          cp = cp * (hex ? 16 : 10) + v;
          FUZZ_CHECK(cp <= 0x10FFFF);
        }
        append_code_point(out, cp);
      }
      i = end + 1;
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return out;
}

std::string without_spaces(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (!is_space(c)) out.push_back(c);
  }
  return out;
}

bool blank(std::string_view s) {
  for (char c : s) {
    if (!is_space(c)) return false;
  }
  return true;
}

// One code point (a chunk of a single character wider than the limit is allowed). Valid UTF-8.
bool single_code_point(std::string_view s) {
  std::size_t leads = 0;
  for (char c : s) leads += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return leads == 1;
}

void expect_well_formed(std::string_view html, const char* what) {
  if (auto problem = tg::html_problem(html)) {
    std::fprintf(stderr, "%s: %s\n", what, problem->c_str());
    FUZZ_CHECK(!"html_problem() is empty");
  }
}

void check_chunks(const std::vector<std::string>& chunks, std::string_view whole_visible, std::size_t limit,
                  bool html) {
  const std::size_t effective = limit == 0 ? 1 : limit;
  std::string joined;
  for (const std::string& chunk : chunks) {
    FUZZ_CHECK(valid_utf8(chunk));
    if (html) expect_well_formed(chunk, "a split_html() chunk");
    const std::string shown = html ? visible_text(chunk) : chunk;
    FUZZ_CHECK(!blank(shown));
    FUZZ_CHECK(utf16_units(shown) <= effective || single_code_point(shown));
    joined += without_spaces(shown);
  }
  FUZZ_CHECK(joined == without_spaces(whole_visible));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  // Small limits most of the time (they cut often); Telegram's real 4096 sometimes.
  const std::size_t limit = in.ConsumeBool() ? in.ConsumeIntegralInRange<std::size_t>(0, 64)
                                             : in.ConsumeIntegralInRange<std::size_t>(65, 4096);
  const std::string markdown = in.ConsumeRemainingBytesAsString();

  const std::string clean = tg::sanitize_utf8(markdown);
  FUZZ_CHECK(valid_utf8(clean));
  FUZZ_CHECK(tg::sanitize_utf8(clean) == clean);
  if (valid_utf8(markdown)) FUZZ_CHECK(clean == markdown);
  FUZZ_CHECK(tg::utf16_length(clean) == utf16_units(clean));
  // The header also promises utf16_length(raw) <= utf16_length(sanitize_utf8(raw)) for
  // ill-formed input; format.cpp counts an ill-formed lead byte >= 0xF0 as 2 units (the first
  // run of this target found it: "\xff" counts 2, its U+FFFD 1). Over-counting only makes
  // chunks shorter, and every caller sanitizes first, so only the exact count is checked.

  const std::string html = tg::markdown_to_html(markdown);
  expect_well_formed(html, "markdown_to_html()");
  check_chunks(tg::split_html(html, limit), visible_text(html), limit, true);

  const std::string plain = tg::markdown_to_plain(markdown);
  FUZZ_CHECK(valid_utf8(plain));
  check_chunks(tg::split_plain(plain, limit), plain, limit, false);

  for (const bool ansi : {false, true}) {
    const std::string term = openclawd::gateway::markdown_to_terminal(markdown, limit, ansi);
    FUZZ_CHECK(valid_utf8(term));
    for (std::size_t i = 0; i < term.size(); ++i) {
      const auto c = static_cast<unsigned char>(term[i]);
      if (c == 0x1B) {
        // Only the renderer's own SGR escapes: ESC [ digits m.
        FUZZ_CHECK(ansi && i + 1 < term.size() && term[i + 1] == '[');
        std::size_t j = i + 2;
        while (j < term.size() && term[j] >= '0' && term[j] <= '9') ++j;
        FUZZ_CHECK(j < term.size() && term[j] == 'm' && j > i + 2);
        i = j;
        continue;
      }
      FUZZ_CHECK(c >= 0x20 || c == '\n' || c == '\t');
      FUZZ_CHECK(c != 0x7F);
      FUZZ_CHECK(!(c == 0xC2 && i + 1 < term.size() && static_cast<unsigned char>(term[i + 1]) <= 0x9F));
    }
  }

  // Not well-formed input: no promise about the chunks, only that nothing breaks.
  for (const std::string& chunk : tg::split_html(markdown, limit)) FUZZ_CHECK(valid_utf8(chunk));
  return 0;
}
