// Parses DuckDuckGo's no-JavaScript result pages (html.duckduckgo.com/html/ and the table
// layout of lite.duckduckgo.com/lite/) into native results, with libxml2's HTML parser.
// Pure functions: no I/O, no globals beyond libxml2's one-time init; safe on any input
// (malformed, truncated, huge, not UTF-8) and callable from any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace openclawd::tools {

// One organic result. All strings are valid UTF-8 without control characters, with
// whitespace collapsed; nothing in them is trusted (see render_results_for_model).
struct search_result {
  std::string title;
  std::string url;      // the target page: http(s)://..., `uddg` redirect links decoded
  std::string snippet;  // may be empty
};

enum class page_kind {
  results,       // at least one organic result
  no_results,    // a result page with nothing in it ("No results.", or only ads)
  challenge,     // the bot challenge (anomaly modal / challenge form): we are blocked
  unrecognized,  // none of these: an unknown layout, or an unknown kind of block page
};
std::string_view to_string(page_kind kind);

struct parse_limits {
  std::size_t max_input_bytes = 4 * 1024 * 1024;  // bytes past this are not parsed
  std::size_t max_results = 30;
  std::size_t max_title_bytes = 300;
  std::size_t max_snippet_bytes = 1000;
  std::size_t max_url_bytes = 2048;  // a longer target URL drops the result
};

struct parse_result {
  page_kind kind = page_kind::unrecognized;
  std::vector<search_result> results;  // page order; no ads, no duplicate URLs
  std::string block_marker;            // challenge only: what gave it away, e.g. "form#challenge-form"
  int ads_skipped = 0;
  int invalid_skipped = 0;  // result links without a title or a usable http(s) target
  bool truncated = false;   // the input was longer than max_input_bytes

  bool blocked() const { return kind == page_kind::challenge; }
};

parse_result parse_ddg_results(std::string_view html, const parse_limits& limits = {});

// A result link's href (already HTML-unescaped) to the page it leads to:
//   "//duckduckgo.com/l/?uddg=https%3A%2F%2Fexample.org%2Fa&rut=..."  -> "https://example.org/a"
//   "https://example.org/a"                                          -> itself
// Anything that does not end at an http(s) URL (javascript:, relative paths, a /l/ link
// without uddg, spaces or control characters, longer than max_bytes) gives nullopt.
std::optional<std::string> decode_result_href(std::string_view href, std::size_t max_bytes = 2048);

// DuckDuckGo's ad click-through (https://duckduckgo.com/y.js?ad_domain=...), or its
// "search elsewhere" link: never an organic result.
bool is_ad_or_internal_url(std::string_view url);

// Valid UTF-8 out of any bytes: invalid sequences and NUL become U+FFFD, other C0 controls
// (except tab, LF, CR, FF) become spaces. Exposed for tests.
std::string sanitize_utf8(std::string_view bytes);

}  // namespace openclawd::tools
