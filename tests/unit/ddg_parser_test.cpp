// The DuckDuckGo page parser on real recorded pages (tests/fixtures/ddg, see PROVENANCE.md),
// on the hand-written lite and no-results pages, and on hostile input: truncated at every
// offset step, random bytes, a 5 MB page, deep nesting, odd encodings. Every result must
// hold valid UTF-8 without control characters and an http(s) URL, whatever the input.
#include "net/url.hpp"
#include "tests/support/local_http_server.hpp"
#include "tests/support/time_scale.hpp"
#include "tools/ddg_parser.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <random>
#include <string>

using namespace openclawd;
using tools::page_kind;
using tools::parse_ddg_results;
using test::read_fixture;
using namespace std::string_literals;

namespace {

bool valid_text(const std::string& s) {
  if (tools::sanitize_utf8(s) != s) return false;
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

// What must hold for any input.
void check_invariants(const tools::parse_result& r, const tools::parse_limits& limits = {}) {
  CHECK(r.results.size() <= limits.max_results);
  if (r.blocked()) CHECK(r.results.empty());
  for (const auto& x : r.results) {
    INFO(x.url);
    CHECK_FALSE(x.title.empty());
    CHECK(x.title.size() <= limits.max_title_bytes);
    CHECK(x.snippet.size() <= limits.max_snippet_bytes);
    CHECK(x.url.size() <= limits.max_url_bytes);
    CHECK(valid_text(x.title));
    CHECK(valid_text(x.snippet));
    CHECK(valid_text(x.url));
    auto u = net::parse_url(x.url);
    CHECK(u.has_value());
    CHECK_FALSE(tools::is_ad_or_internal_url(x.url));
  }
}

}  // namespace

TEST_CASE("ddg parser: html page with direct links", "[ddg][parser]") {
  const auto r = parse_ddg_results(read_fixture("ddg/html_results_direct_links.html"));
  check_invariants(r);
  CHECK(r.kind == page_kind::results);
  CHECK_FALSE(r.blocked());
  CHECK(r.ads_skipped == 0);
  CHECK(r.invalid_skipped == 0);
  CHECK_FALSE(r.truncated);
  REQUIRE(r.results.size() == 10);
  CHECK(r.results[0].title == "Rust Programming Language");
  CHECK(r.results[0].url == "https://rust-lang.org/");
  CHECK(r.results[0].snippet.starts_with("Rust is a fast, reliable, and productive programming language"));
  CHECK(r.results[1].title == "Rust (programming language) - Wikipedia");
  CHECK(r.results[1].url == "https://en.wikipedia.org/wiki/Rust_(programming_language)");
  CHECK(r.results[6].url == "http://rust-lang.github.io/book/");
  // &#x27; entities and <b> around matched words come out as plain text.
  CHECK(r.results[9].title == "Has the Rust Programming Language's Popularity Reached Its Plateau ...");
  CHECK(r.results[9].snippet.starts_with("\"Rust's rise shows signs of slowing,\" argues the CEO of TIOBE."));
  for (const auto& x : r.results) CHECK(x.snippet.find("  ") == std::string::npos);
}

TEST_CASE("ddg parser: html page with an ad and uddg redirect links", "[ddg][parser]") {
  const auto r = parse_ddg_results(read_fixture("ddg/html_results_with_ad_uddg_links.html"));
  check_invariants(r);
  CHECK(r.kind == page_kind::results);
  CHECK(r.ads_skipped == 1);
  REQUIRE(r.results.size() == 10);
  CHECK(r.results[0].title == "The 7 Best Mechanical Keyboards of 2026 - RTINGS.com");
  CHECK(r.results[0].url == "https://www.rtings.com/keyboard/reviews/best/mechanical");
  CHECK(r.results[0].snippet.find("Keychron Q5 Max") != std::string::npos);
  CHECK(r.results[2].url == "https://www.nytimes.com/wirecutter/reviews/our-favorite-mechanical-keyboards/");
  CHECK(r.results[9].url == "https://ide.com/best-mechanical-keyboards-in-2026-7-picks-from-budget-to-endgame/");
  for (const auto& x : r.results) {
    CHECK(x.url.find("duckduckgo.com") == std::string::npos);
    CHECK(x.url.find("rut=") == std::string::npos);
    CHECK(x.title.find("Winner Products") == std::string::npos);  // the ad
  }
}

TEST_CASE("ddg parser: the html and lite challenge pages are blocks", "[ddg][parser]") {
  const auto html = parse_ddg_results(read_fixture("ddg/html_anomaly_captcha.html"));
  CHECK(html.kind == page_kind::challenge);
  CHECK(html.blocked());
  CHECK(html.results.empty());
  CHECK(html.block_marker == "form[action*=anomaly.js]");  // the first marker in document order

  const auto lite = parse_ddg_results(read_fixture("ddg/lite_anomaly_captcha.html"));
  CHECK(lite.kind == page_kind::challenge);
  CHECK(lite.results.empty());
  CHECK_FALSE(lite.block_marker.empty());

  // Each marker alone is enough.
  for (const char* page : {R"(<form id="challenge-form" action="/x"></form>)",
                           R"(<div data-testid="anomaly-modal">duck?</div>)",
                           R"(<div class="anomaly-modal__modal">duck?</div>)",
                           R"(<form action="//duckduckgo.com/anomaly.js?sv=lite"></form>)"}) {
    INFO(page);
    CHECK(parse_ddg_results(page).blocked());
  }
  // A challenge wins over results on the same page.
  const std::string mixed = read_fixture("ddg/html_results_direct_links.html") +
                            R"(<form id="challenge-form" action="//duckduckgo.com/anomaly.js"></form>)";
  const auto m = parse_ddg_results(mixed);
  CHECK(m.blocked());
  CHECK(m.results.empty());
}

TEST_CASE("ddg parser: lite table layout", "[ddg][parser]") {
  const auto r = parse_ddg_results(read_fixture("ddg/lite_results_handwritten.html"));
  check_invariants(r);
  CHECK(r.kind == page_kind::results);
  CHECK(r.ads_skipped == 1);
  REQUIRE(r.results.size() == 3);
  CHECK(r.results[0].title == "10 Day Weather & Forecast - Example");
  CHECK(r.results[0].url == "https://example.org/weather/San%20Francisco?days=10");  // decoded once, not twice
  CHECK(r.results[0].snippet ==
        "Be prepared with the most accurate 10-day forecast for San Francisco, with highs & lows.");
  CHECK(r.results[1].title == "Caf\xC3\xA9 \xE2\x80\x94 direct link");
  CHECK(r.results[1].url == "https://example.net/caf%C3%A9");
  CHECK(r.results[1].snippet == "Sometimes the lite page links straight to the target 'without' a redirect.");
  CHECK(r.results[2].url == "https://forecast.example.gov/zipcity.php?inputstring=San+Francisco,CA");
}

TEST_CASE("ddg parser: no results, and pages it does not know", "[ddg][parser]") {
  const auto none = parse_ddg_results(read_fixture("ddg/html_no_results_handwritten.html"));
  CHECK(none.kind == page_kind::no_results);
  CHECK(none.results.empty());
  CHECK_FALSE(none.blocked());
  CHECK(parse_ddg_results("<html><body><p>No  more   results.</p></body></html>").kind == page_kind::no_results);
  // Only an ad: the layout was recognised, nothing organic in it.
  CHECK(parse_ddg_results(R"(<div class="result result--ad"><h2><a class="result__a"
      href="https://duckduckgo.com/y.js?ad_domain=x.com">Ad</a></h2></div>)")
            .kind == page_kind::no_results);
  CHECK(parse_ddg_results("").kind == page_kind::unrecognized);
  CHECK(parse_ddg_results("<html><body>Hello</body></html>").kind == page_kind::unrecognized);
  CHECK(parse_ddg_results("{\"not\": \"html\"}").kind == page_kind::unrecognized);
}

TEST_CASE("ddg parser: result links are decoded or dropped", "[ddg][parser]") {
  using tools::decode_result_href;
  CHECK(decode_result_href("//duckduckgo.com/l/?uddg=https%3A%2F%2Fexample.org%2Fa%3Fb%3Dc%26d%3De&rut=abc") ==
        "https://example.org/a?b=c&d=e");
  CHECK(decode_result_href("https://duckduckgo.com/l/?uddg=https%3A%2F%2Fexample.org%2F") == "https://example.org/");
  CHECK(decode_result_href("/l/?kh=-1&uddg=https%3A%2F%2Fexample.org%2Fx") == "https://example.org/x");
  CHECK(decode_result_href("//duckduckgo.com/l/?uddg=%2F%2Fexample.org%2Fx") == "https://example.org/x");
  CHECK(decode_result_href("  https://example.org/direct  ") == "https://example.org/direct");
  CHECK(decode_result_href("http://example.org/") == "http://example.org/");
  // A scheme in any case is written lowercase (fuzz_ddg: "httP://" passed as a result link).
  CHECK(decode_result_href("httP://example.org/Path") == "http://example.org/Path");
  CHECK(decode_result_href("HTTPS://example.org/") == "https://example.org/");
  CHECK(decode_result_href("//duckduckgo.com/l/?uddg=HtTpS%3A%2F%2Fexample.org%2Fx") == "https://example.org/x");
  // '+' inside uddg is a literal plus, not a space.
  CHECK(decode_result_href("//duckduckgo.com/l/?uddg=https%3A%2F%2Fexample.org%2Fq%3Fa%2Bb") ==
        "https://example.org/q?a+b");
  CHECK_FALSE(decode_result_href("javascript:alert(1)"));
  CHECK_FALSE(decode_result_href("//duckduckgo.com/l/?uddg=javascript%3Aalert(1)"));
  CHECK_FALSE(decode_result_href("//duckduckgo.com/l/?rut=abc"));
  CHECK_FALSE(decode_result_href("//duckduckgo.com/l/?uddg=https%3A%2F%2Fexample.org%2F%0Aevil"));
  CHECK_FALSE(decode_result_href("//duckduckgo.com/l/?uddg=https%3A%2F%2Fexa%20mple.org%2F"));
  CHECK_FALSE(decode_result_href("data:text/html,hi"));
  CHECK_FALSE(decode_result_href("relative/path"));
  CHECK_FALSE(decode_result_href(""));
  CHECK_FALSE(decode_result_href("https://user:pw@example.org/"));
  CHECK_FALSE(decode_result_href("https://example.org/" + std::string(3000, 'a')));
  CHECK(tools::is_ad_or_internal_url("https://duckduckgo.com/y.js?ad_domain=x.com&ad_provider=b"));
  CHECK(tools::is_ad_or_internal_url("http://www.google.com/search?q=rust"));
  CHECK_FALSE(tools::is_ad_or_internal_url("https://duckduckgo.com/duckduckgo-help-pages/"));
  CHECK_FALSE(tools::is_ad_or_internal_url("https://example.org/y.js"));
}

TEST_CASE("ddg parser: duplicates, missing titles and limits", "[ddg][parser]") {
  std::string page;
  for (int i = 0; i < 50; ++i) {
    page += R"(<div class="result"><h2><a class="result__a" href="https://example.org/)" + std::to_string(i % 40) +
            R"(">Title )" + std::to_string(i) + R"(</a></h2><a class="result__snippet">S</a></div>)";
  }
  page += R"(<div class="result"><h2><a class="result__a" href="https://example.org/empty"></a></h2></div>)";
  tools::parse_limits limits;
  limits.max_results = 100;
  auto r = parse_ddg_results(page, limits);
  CHECK(r.results.size() == 40);  // 10 duplicate URLs dropped
  CHECK(r.invalid_skipped == 1);
  limits.max_results = 7;
  r = parse_ddg_results(page, limits);
  CHECK(r.results.size() == 7);
  limits.max_title_bytes = 4;
  r = parse_ddg_results(page, limits);
  CHECK(r.results[0].title == "Titl");
}

TEST_CASE("ddg parser: a snippet belongs to its own result block", "[ddg][parser]") {
  const auto r = parse_ddg_results(R"(
    <div class="result"><h2><a class="result__a" href="https://a.example/">A</a></h2></div>
    <div class="result"><h2><a class="result__a" href="https://b.example/">B</a></h2>
      <div class="result__snippet">snippet of B</div></div>)");
  REQUIRE(r.results.size() == 2);
  CHECK(r.results[0].snippet.empty());
  CHECK(r.results[1].snippet == "snippet of B");
}

TEST_CASE("ddg parser: truncated at every 61st byte, never a crash or a bad result", "[ddg][parser][robust]") {
  for (const char* name : {"ddg/html_results_direct_links.html", "ddg/html_results_with_ad_uddg_links.html",
                           "ddg/lite_results_handwritten.html", "ddg/html_anomaly_captcha.html"}) {
    const std::string page = read_fixture(name);
    const auto full = parse_ddg_results(page);
    std::size_t previous = 0;
    for (std::size_t n = 0; n <= page.size(); n += 61) {
      const auto r = parse_ddg_results(std::string_view(page).substr(0, n));
      check_invariants(r);
      // A longer prefix never shows fewer results (the last one may still lack its snippet).
      CHECK(r.results.size() + 1 >= previous);
      CHECK(r.results.size() <= full.results.size());
      previous = r.results.size();
    }
  }
}

TEST_CASE("ddg parser: random bytes and mutated pages", "[ddg][parser][robust]") {
  std::mt19937 rng(20261124);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int i = 0; i < 200; ++i) {
    std::string junk(static_cast<std::size_t>(rng() % 4096), '\0');
    for (char& c : junk) c = static_cast<char>(byte(rng));
    check_invariants(parse_ddg_results(junk));
  }
  const std::string page = read_fixture("ddg/html_results_with_ad_uddg_links.html");
  for (int i = 0; i < 100; ++i) {
    std::string m = page;
    for (int k = 0; k < 40; ++k) m[rng() % m.size()] = static_cast<char>(byte(rng));
    // Splice a random slice elsewhere: unbalanced tags, cut attributes.
    const std::size_t from = rng() % m.size();
    const std::size_t len = rng() % 2000;
    m.insert(rng() % m.size(), m.substr(from, len));
    check_invariants(parse_ddg_results(m));
  }
}

TEST_CASE("ddg parser: a 5 MB page is capped and stays fast", "[ddg][parser][robust]") {
  const std::string page = read_fixture("ddg/html_results_direct_links.html");
  std::string huge = page;
  while (huge.size() < 5 * 1024 * 1024) huge += "<div class=\"junk\"><span>filler &amp; more filler</span></div>\n";
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = parse_ddg_results(huge);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  check_invariants(r);
  CHECK(r.truncated);
  CHECK(r.results.size() == 10);
  CHECK(ms.count() < 3000 * test::time_scale);

  // 5 MB of result blocks: the count is capped, not the time.
  std::string blocks;
  for (int i = 0; blocks.size() < 5 * 1024 * 1024; ++i) {
    blocks += R"(<div class="result"><h2><a class="result__a" href="https://example.org/)" + std::to_string(i) +
              R"(">T</a></h2><a class="result__snippet">s</a></div>)";
  }
  tools::parse_limits limits;
  limits.max_input_bytes = 8 * 1024 * 1024;
  const auto many = parse_ddg_results(blocks, limits);
  CHECK(many.results.size() == limits.max_results);
  CHECK_FALSE(many.truncated);
}

TEST_CASE("ddg parser: deep nesting and tag soup", "[ddg][parser][robust]") {
  std::string deep;
  for (int i = 0; i < 200000; ++i) deep += "<div><b><i>";
  check_invariants(parse_ddg_results(deep));
  // A result before the deep part is still found (libxml2 stops at 256 levels, after it).
  const std::string first = R"(<div class="result"><h2><a class="result__a" href="https://a.example/">A</a></h2></div>)";
  const auto r = parse_ddg_results(first + deep);
  REQUIRE(r.results.size() == 1);
  CHECK(r.results[0].url == "https://a.example/");

  std::string soup;
  for (int i = 0; i < 20000; ++i) {
    soup += R"(<a class="result__a" href="//duckduckgo.com/l/?uddg=)" + std::string(i % 7 == 0 ? "%%%" : "https%3A%2F%2Fx") +
            "\"><td><tr></table><p <<>> =\"&#0;&#xD800;&#x110000;&bogus;" + std::string(i % 3 == 0 ? "</a>" : "");
  }
  check_invariants(parse_ddg_results(soup));
}

TEST_CASE("ddg parser: odd encodings come out as valid UTF-8", "[ddg][parser][robust]") {
  const std::string latin1 = "<div class=\"result\"><h2><a class=\"result__a\" href=\"https://a.example/\">Caf\xE9 "
                             "cr\xE8me</a></h2><a class=\"result__snippet\">na\xEFve\x01\x02 text\x00!</a></div>"s;
  auto r = parse_ddg_results(latin1);
  REQUIRE(r.results.size() == 1);
  CHECK(r.results[0].title == "Caf\xEF\xBF\xBD cr\xEF\xBF\xBDme");  // U+FFFD, the rest intact
  check_invariants(r);

  // UTF-16LE with a BOM: not what DuckDuckGo sends; must merely be harmless.
  const std::string page = read_fixture("ddg/html_results_direct_links.html");
  std::string utf16 = "\xFF\xFE";
  for (const char c : page.substr(0, 8000)) {
    utf16 += c;
    utf16 += '\0';
  }
  check_invariants(parse_ddg_results(utf16));

  // A UTF-8 BOM and CRLF line ends change nothing.
  std::string bom = "\xEF\xBB\xBF" + page;
  for (std::size_t at = bom.find('\n'); at != std::string::npos; at = bom.find('\n', at + 2)) bom.insert(at, "\r");
  CHECK(parse_ddg_results(bom).results.size() == 10);

  // Surrogates, overlongs and stray continuation bytes.
  check_invariants(parse_ddg_results("<a class=\"result__a\" href=\"https://a.example/\">\xED\xA0\x80\xC0\xAF\x80\xF5x</a>"));
  CHECK(tools::sanitize_utf8("ok \xE2\x82\xAC \xF0\x9F\xA6\x86") == "ok \xE2\x82\xAC \xF0\x9F\xA6\x86");
  CHECK(tools::sanitize_utf8(std::string("a\0b", 3)) == "a\xEF\xBF\xBD" "b");
}
