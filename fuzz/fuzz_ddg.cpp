// libFuzzer target: the DuckDuckGo result-page parser (tools/ddg_parser.hpp), which reads
// pages a remote server controls. Whatever the bytes, the results must keep the header's
// promises: valid UTF-8 without control characters, http(s) URLs, no ads, no duplicate URLs,
// and every limit respected. Odd-sized inputs are parsed with small limits as well, so that the
// truncation and cut-off paths are reached.
#include "fuzz/fuzz_support.hpp"
#include "tools/ddg_parser.hpp"

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

using namespace openclawd::tools;
using openclawd::fuzz::valid_utf8;

namespace {

bool no_controls(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return false;
  }
  return true;
}

void check(std::string_view html, const parse_limits& limits) {
  const parse_result r = parse_ddg_results(html, limits);
  FUZZ_CHECK(r.results.size() <= limits.max_results);
  FUZZ_CHECK(r.truncated == (html.size() > limits.max_input_bytes));
  FUZZ_CHECK((r.kind == page_kind::results) == !r.results.empty());
  FUZZ_CHECK(r.ads_skipped >= 0 && r.invalid_skipped >= 0);
  FUZZ_CHECK(r.blocked() == !r.block_marker.empty());
  std::set<std::string> urls;
  for (const search_result& x : r.results) {
    FUZZ_CHECK(!x.title.empty());
    FUZZ_CHECK(valid_utf8(x.title) && no_controls(x.title));
    FUZZ_CHECK(valid_utf8(x.snippet) && no_controls(x.snippet));
    FUZZ_CHECK(valid_utf8(x.url) && no_controls(x.url));
    FUZZ_CHECK(x.title.size() <= limits.max_title_bytes);
    FUZZ_CHECK(x.snippet.size() <= limits.max_snippet_bytes);
    FUZZ_CHECK(x.url.size() <= limits.max_url_bytes);
    FUZZ_CHECK(x.url.starts_with("http://") || x.url.starts_with("https://"));
    FUZZ_CHECK(!is_ad_or_internal_url(x.url));
    FUZZ_CHECK(urls.insert(x.url).second);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  check(bytes, parse_limits{});
  if (size % 2 == 1) {
    parse_limits small;
    small.max_input_bytes = size / 2;
    small.max_results = 2;
    small.max_title_bytes = 8;
    small.max_snippet_bytes = 16;
    small.max_url_bytes = 40;
    check(bytes, small);
  }

  const std::string clean = sanitize_utf8(bytes);
  FUZZ_CHECK(valid_utf8(clean));
  FUZZ_CHECK(sanitize_utf8(clean) == clean);
  if (size <= 4096) {
    if (auto url = decode_result_href(bytes)) {
      FUZZ_CHECK(url->starts_with("http://") || url->starts_with("https://"));
      FUZZ_CHECK(url->size() <= 2048);
    }
  }
  return 0;
}
