// tools::web_search end to end: the real HTTPS client against local servers on 127.0.0.1
// that serve the recorded DuckDuckGo pages and status codes. Covers the request sent, the
// parse, the circuit breaker (opening, growing, closing), the cache, the spacing between
// requests, deadlines, HTTPS with a test CA, the tool interface, and `openclawd search`.
// Pauses and intervals are configured in milliseconds so the suite stays fast; waits are
// on conditions with deadlines.
#include "tests/support/harness.hpp"
#include "tests/support/local_http_server.hpp"
#include "tests/support/run_coro.hpp"
#include "tests/support/test_certs.hpp"
#include "tools/untrusted_text.hpp"
#include "tools/web_search.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

using namespace openclawd;
using namespace std::chrono_literals;
using test::canned_response;
using test::local_http_server;
using test::read_fixture;
using test::run_all;
using test::run_one;
using tools::search_outcome;
using tools::search_status;

namespace {

canned_response page(const std::string& fixture, unsigned status = 200) {
  return {status, {{"Content-Type", "text/html; charset=UTF-8"}}, read_fixture(fixture), false, false};
}

// Test settings: a local endpoint, short pauses, no spacing unless a test wants it.
core::search_config local_config(const local_http_server& server) {
  core::search_config c;
  c.endpoint = server.url("/html/");
  c.min_interval = 0ms;
  c.max_wait = 5s;
  c.backoff_initial = 200ms;
  c.backoff_max = 800ms;
  c.connect_timeout = 2s;
  c.read_timeout = 2s;
  return c;
}

std::unique_ptr<tools::web_search> make_search(asio::io_context& ioc, core::search_config c,
                                               const net::tls_options& tls = {}) {
  auto s = tools::web_search::create(ioc.get_executor(), std::move(c), tls);
  REQUIRE(s.has_value());
  return std::move(*s);
}

search_outcome query(asio::io_context& ioc, tools::web_search& s, std::string q) {
  return run_one(ioc, s.search(std::move(q)));
}

// Waits (on the io_context, so timers keep running) until the pause is over.
void wait_for_pause_to_end(asio::io_context& ioc, const tools::web_search& s) {
  auto task = [&]() -> asio::awaitable<bool> {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    asio::steady_timer t(ioc);
    while (s.paused_for() > 0ms && std::chrono::steady_clock::now() < deadline) {
      t.expires_after(std::min<std::chrono::milliseconds>(s.paused_for(), 50ms));
      co_await t.async_wait(asio::use_awaitable);
    }
    co_return s.paused_for() == 0ms;
  };
  REQUIRE(run_one(ioc, task()));
}

}  // namespace

TEST_CASE("web search: a query is POSTed like a browser and parsed", "[search]") {
  local_http_server server(test::always(page("ddg/html_results_direct_links.html")));
  asio::io_context ioc;
  auto c = local_config(server);
  c.region = "de-de";
  c.time_limit = "m";
  auto s = make_search(ioc, c);
  const auto t0 = std::chrono::steady_clock::now();
  const auto o = query(ioc, *s, "  rust   programming language ");
  const auto took = std::chrono::steady_clock::now() - t0;
  INFO(o.reason);
  REQUIRE(o.status == search_status::ok);
  CHECK(o.query == "rust programming language");
  REQUIRE(o.results.size() == 5);  // max_results
  CHECK(o.results[0].url == "https://rust-lang.org/");
  CHECK_FALSE(o.from_cache);
  CHECK(took < 2s);
  WARN("end-to-end query against the local server: "
       << std::chrono::duration_cast<std::chrono::microseconds>(took).count() << " us");

  const auto r = server.requests().at(0);
  CHECK(r.method == "POST");
  CHECK(r.target == "/html/");
  CHECK(r.body == "q=rust+programming+language&b=&kl=de-de&df=m");
  CHECK(r.header("Content-Type") == "application/x-www-form-urlencoded");
  CHECK(r.header("User-Agent") == core::default_search_user_agent);
  CHECK(r.header("Referer") == server.url("/"));
  CHECK(r.header("Origin") == server.url(""));
  CHECK(r.header("Sec-Fetch-Mode") == "navigate");
  CHECK(r.header("Accept-Encoding") == "identity");
  CHECK(r.header("Cookie") == "kl=de-de; df=m");
  CHECK(s->stats().requests == 1);
}

TEST_CASE("web search: uddg links are decoded and ads dropped", "[search]") {
  local_http_server server(test::always(page("ddg/html_results_with_ad_uddg_links.html")));
  asio::io_context ioc;
  auto c = local_config(server);
  c.max_results = 20;
  auto s = make_search(ioc, c);
  const auto o = query(ioc, *s, "best mechanical keyboard 2026");
  REQUIRE(o.status == search_status::ok);
  REQUIRE(o.results.size() == 10);
  CHECK(o.results[0].url == "https://www.rtings.com/keyboard/reviews/best/mechanical");
  for (const auto& r : o.results) CHECK(r.url.find("duckduckgo.com") == std::string::npos);
}

TEST_CASE("web search: the cache answers a repeated query without a request", "[search]") {
  local_http_server server(test::always(page("ddg/html_results_direct_links.html")));
  asio::io_context ioc;
  auto s = make_search(ioc, local_config(server));
  const auto first = query(ioc, *s, "Rust Programming");
  const auto second = query(ioc, *s, "  rust   PROGRAMMING ");  // the same normalized query
  REQUIRE(first.status == search_status::ok);
  REQUIRE(second.status == search_status::ok);
  CHECK(second.from_cache);
  CHECK(second.results.size() == first.results.size());
  CHECK(second.results[0].url == first.results[0].url);
  CHECK(server.request_count() == 1);
  CHECK(s->stats().cache_hits == 1);

  // Two identical queries at once: the second waits for the first and takes its answer.
  const auto both = run_all(ioc, [&] {
    std::vector<asio::awaitable<search_outcome>> v;
    v.push_back(s->search("concurrent twin"));
    v.push_back(s->search("Concurrent Twin"));
    return v;
  }());
  CHECK(server.request_count() == 2);
  CHECK(both[1].from_cache);
}

TEST_CASE("web search: a block opens the circuit, the pause grows, then closes on success", "[search][breaker]") {
  std::atomic<unsigned> status{202};
  local_http_server server([&](const test::recorded_request&) {
    return status.load() == 200 ? page("ddg/html_results_direct_links.html")
                                : canned_response{status.load(), {}, "", false, false};
  });
  asio::io_context ioc;
  auto s = make_search(ioc, local_config(server));

  auto o = query(ioc, *s, "one");
  CHECK(o.status == search_status::blocked);
  CHECK(o.reason == "DuckDuckGo refused the query with HTTP 202 (its rate limit); web search is paused for 1s");
  CHECK(o.retry_after == 200ms);
  CHECK(server.request_count() == 1);

  // While paused: refused at once, nothing sent, the reason says why and for how long.
  o = query(ioc, *s, "two");
  CHECK(o.status == search_status::blocked);
  CHECK(o.reason.starts_with("web search is paused for another "));
  CHECK(o.reason.ends_with("because DuckDuckGo blocked a query (DuckDuckGo refused the query with HTTP 202 (its rate limit))"));
  CHECK(o.retry_after > 0ms);
  CHECK(o.retry_after <= 200ms);
  CHECK(server.request_count() == 1);
  CHECK(s->stats().paused == 1);

  // After the pause one probe goes out; blocked again (403 now), the pause doubles.
  wait_for_pause_to_end(ioc, *s);
  status = 403;
  o = query(ioc, *s, "three");
  CHECK(o.status == search_status::blocked);
  CHECK(o.reason.starts_with("DuckDuckGo refused the query with HTTP 403 (forbidden)"));
  CHECK(o.retry_after == 400ms);
  CHECK(server.request_count() == 2);

  wait_for_pause_to_end(ioc, *s);
  status = 429;
  o = query(ioc, *s, "four");
  CHECK(o.retry_after == 800ms);
  wait_for_pause_to_end(ioc, *s);
  o = query(ioc, *s, "five");
  CHECK(o.retry_after == 800ms);  // capped at backoff_max
  CHECK(s->stats().blocks == 4);

  // DuckDuckGo answers again: results, and the next block starts from the initial pause.
  wait_for_pause_to_end(ioc, *s);
  status = 200;
  o = query(ioc, *s, "six");
  CHECK(o.status == search_status::ok);
  status = 202;
  o = query(ioc, *s, "seven");
  CHECK(o.retry_after == 200ms);
}

TEST_CASE("web search: challenge pages and unknown pages are blocks too", "[search][breaker]") {
  local_http_server server(test::always(page("ddg/html_anomaly_captcha.html")));
  asio::io_context ioc;
  auto s = make_search(ioc, local_config(server));
  auto o = query(ioc, *s, "html challenge");
  CHECK(o.status == search_status::blocked);
  CHECK(o.reason.starts_with("DuckDuckGo answered with its bot challenge page (form[action*=anomaly.js])"));

  wait_for_pause_to_end(ioc, *s);
  server.set_handler(test::always(page("ddg/lite_anomaly_captcha.html", 202)));
  o = query(ioc, *s, "lite challenge");
  CHECK(o.status == search_status::blocked);

  wait_for_pause_to_end(ioc, *s);
  server.set_handler(test::always({200, {}, "<html><body>Something else entirely</body></html>", false, false}));
  o = query(ioc, *s, "unknown page");
  CHECK(o.status == search_status::blocked);
  CHECK(o.reason.find("neither results nor a \"No results\" notice") != std::string::npos);

  // "No results." is an answer, not a block.
  wait_for_pause_to_end(ioc, *s);
  server.set_handler(test::always(page("ddg/html_no_results_handwritten.html")));
  o = query(ioc, *s, "xqzjvkwpq");
  CHECK(o.status == search_status::ok);
  CHECK(o.results.empty());
}

TEST_CASE("web search: Retry-After lengthens the pause", "[search][breaker]") {
  local_http_server server(test::always({429, {{"Retry-After", "3"}}, "", false, false}));
  asio::io_context ioc;
  auto c = local_config(server);
  c.backoff_max = 1h;
  auto s = make_search(ioc, c);
  CHECK(query(ioc, *s, "x").retry_after == 3s);
}

TEST_CASE("web search: errors that are not blocks do not pause search", "[search]") {
  local_http_server server(test::always({500, {}, "oops", false, false}));
  asio::io_context ioc;
  auto c = local_config(server);
  c.max_page_size = 16 * 1024;
  auto s = make_search(ioc, c);
  auto o = query(ioc, *s, "a");
  CHECK(o.status == search_status::unavailable);
  CHECK(o.reason == "DuckDuckGo answered HTTP 500");
  CHECK(s->paused_for() == 0ms);

  server.set_handler(test::always({303, {{"Location", "https://en.wikipedia.org/wiki/X"}}, "", false, false}));
  o = query(ioc, *s, "b");
  CHECK(o.reason == "DuckDuckGo redirected the query (HTTP 303 to https://en.wikipedia.org/wiki/X)");

  server.set_handler(test::always(page("ddg/html_results_with_ad_uddg_links.html")));  // 42 KB > 16 KiB
  o = query(ioc, *s, "c");
  CHECK(o.status == search_status::unavailable);
  CHECK(o.reason == "DuckDuckGo's page was larger than search.max_page_size");

  server.set_handler(test::always({200, {{"Content-Encoding", "gzip"}}, "\x1f\x8b", false, false}));
  o = query(ioc, *s, "d");
  CHECK(o.status == search_status::unavailable);
  CHECK(s->paused_for() == 0ms);
  CHECK(s->stats().failures == 4);
  CHECK(server.request_count() == 4);

  o = query(ioc, *s, "   ");
  CHECK(o.status == search_status::unavailable);
  CHECK(o.reason == "the search query is empty");
  c.enabled = false;
  auto off = make_search(ioc, c);
  CHECK(query(ioc, *off, "x").reason == "web search is turned off (search.enabled: false)");
  CHECK(server.request_count() == 4);
}

TEST_CASE("web search: a server that never answers is a timeout, within the deadline", "[search]") {
  local_http_server server(test::always({200, {}, "", false, /*never_answer=*/true}));
  asio::io_context ioc;
  auto c = local_config(server);
  c.read_timeout = 300ms;
  auto s = make_search(ioc, c);
  const auto t0 = std::chrono::steady_clock::now();
  const auto o = query(ioc, *s, "silence");
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(o.status == search_status::unavailable);
  CHECK(o.reason == "DuckDuckGo did not answer in time");
  CHECK(took >= 250ms);
  CHECK(took < 3s);
  CHECK(s->paused_for() == 0ms);
}

TEST_CASE("web search: requests go one at a time, min_interval apart", "[search][politeness]") {
  local_http_server server(test::always(page("ddg/html_results_direct_links.html")));
  asio::io_context ioc;
  auto c = local_config(server);
  c.min_interval = 300ms;
  auto s = make_search(ioc, c);
  const auto outcomes = run_all(ioc, [&] {
    std::vector<asio::awaitable<search_outcome>> v;
    for (const char* q : {"first", "second", "third", "fourth"}) v.push_back(s->search(q));
    return v;
  }());
  for (const auto& o : outcomes) CHECK(o.status == search_status::ok);
  const auto reqs = server.requests();
  REQUIRE(reqs.size() == 4);
  CHECK(server.max_concurrent_requests() == 1);
  for (std::size_t i = 1; i < reqs.size(); ++i) {
    const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(reqs[i].received - reqs[i - 1].received);
    INFO("gap " << i << ": " << gap.count() << " ms");
    // Slack for the clocks' difference: the client spaces departures, the server stamps
    // arrivals, and one request may travel slower than the next on a loaded machine.
    CHECK(gap >= 250ms);
  }
  // Arrival order is kept.
  CHECK(reqs[0].body.starts_with("q=first"));
  CHECK(reqs[3].body.starts_with("q=fourth"));
}

TEST_CASE("web search: a query that would wait longer than max_wait is refused", "[search][politeness]") {
  local_http_server server(test::always(page("ddg/html_results_direct_links.html")));
  asio::io_context ioc;
  auto c = local_config(server);
  c.min_interval = 5s;
  c.max_wait = 100ms;
  auto s = make_search(ioc, c);
  CHECK(query(ioc, *s, "first").status == search_status::ok);
  const auto t0 = std::chrono::steady_clock::now();
  const auto o = query(ioc, *s, "second");
  CHECK(o.status == search_status::unavailable);
  CHECK(o.reason.starts_with("too many searches at once"));
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  CHECK(query(ioc, *s, "first").from_cache);  // a cache hit needs no turn
  CHECK(server.request_count() == 1);
  CHECK(s->stats().refused_busy == 1);
}

TEST_CASE("web search: over HTTPS with a CA made for the test", "[search][tls]") {
  const auto ca = test::make_test_ca();
  const auto id = ca.issue({"localhost"}, {"127.0.0.1"});
  test::server_options o;
  o.tls_cert_pem = id.cert_pem;
  o.tls_key_pem = id.key_pem;
  local_http_server server(test::always(page("ddg/html_results_direct_links.html")), o);
  asio::io_context ioc;
  auto c = local_config(server);
  REQUIRE(c.endpoint.starts_with("https://127.0.0.1:"));
  auto s = make_search(ioc, c, net::tls_options{ca.ca.cert_pem});
  auto r = query(ioc, *s, "rust");
  INFO(r.reason);
  CHECK(r.status == search_status::ok);
  CHECK(r.results.size() == 5);

  auto untrusting = make_search(ioc, c);  // system roots only
  r = query(ioc, *untrusting, "rust");
  CHECK(r.status == search_status::unavailable);
  CHECK(r.reason.starts_with("could not reach DuckDuckGo ("));
  CHECK(server.request_count() == 1);
}

TEST_CASE("web search: the tool interface", "[search][tool]") {
  local_http_server server(test::always(page("ddg/html_results_direct_links.html")));
  asio::io_context ioc;
  auto s = make_search(ioc, local_config(server));
  tools::tool& t = *s;
  CHECK(t.name() == "web_search");
  CHECK(nlohmann::json::parse(t.parameters_schema())["required"][0] == "query");

  auto out = run_one(ioc, t.invoke(R"({"query":"rust programming"})"));
  CHECK(out.status == tools::tool_status::ok);
  CHECK(out.content.starts_with("Web search results for \"rust programming\" (5 results)."));
  CHECK(out.content.find("<<<BEGIN UNTRUSTED WEB RESULTS ") != std::string::npos);
  CHECK(out.content.find("URL: https://rust-lang.org/") != std::string::npos);
  CHECK(tools::count_chars(out.content) <= 4000);

  for (const char* bad : {"", "[]", R"({"q":"x"})", R"({"query":7})", "{not json"}) {
    INFO(bad);
    out = run_one(ioc, t.invoke(bad));
    CHECK(out.status == tools::tool_status::invalid_arguments);
  }

  server.set_handler(test::always({202, {}, "", false, false}));
  out = run_one(ioc, t.invoke(R"({"query":"blocked now"})"));
  CHECK(out.status == tools::tool_status::unavailable);
  CHECK(out.content.starts_with("Web search is unavailable right now (DuckDuckGo refused the query with HTTP 202"));
}

TEST_CASE("web search: `openclawd search` against a local endpoint", "[search][cli]") {
  local_http_server server(test::always(page("ddg/html_results_direct_links.html")));
  test::temp_dir dir;
  const auto config = dir / "openclawd.yaml";
  std::ofstream(config) << "nodes:\n"
                           "  orchestrator: { model: o.gguf, ctx: 1024, port: 18081 }\n"
                           "  subagent: { model: s.gguf, ctx: 1024, port: 18082 }\n"
                           "search:\n"
                           "  endpoint: " << server.url("/html/") << "\n"
                           "  max_results: 3\n"
                           "  read_timeout: 2s\n";
  const auto t0 = std::chrono::steady_clock::now();
  auto r = test::run_openclawd({"search", "--config", config.string(), "--json", "rust programming language"}, 20s);
  WARN("openclawd search --json, whole process: "
       << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count() << " ms");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j.size() == 2);  // exactly results and blocked
  CHECK(j["blocked"] == false);
  REQUIRE(j["results"].size() == 3);
  CHECK(j["results"][0] == nlohmann::json{{"title", "Rust Programming Language"},
                                          {"url", "https://rust-lang.org/"},
                                          {"snippet", j["results"][0]["snippet"]}});
  CHECK(j["results"][0]["snippet"].get<std::string>().starts_with("Rust is a fast"));
  CHECK(server.requests().at(0).body == "q=rust+programming+language&b=&kl=wt-wt");

  // Text output: numbered results.
  r = test::run_openclawd({"search", "--config", config.string(), "rust", "programming"}, 20s);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("1. Rust Programming Language\n   https://rust-lang.org/\n") != std::string::npos);

  // Blocked: exit 1, blocked true, a reason.
  server.set_handler(test::always({202, {}, "", false, false}));
  r = test::run_openclawd({"search", "--config", config.string(), "--json", "rust"}, 20s);
  CHECK(r.exit_code == 1);
  const auto b = nlohmann::json::parse(r.out);
  CHECK(b["blocked"] == true);
  CHECK(b["results"].empty());
  CHECK(b["reason"].get<std::string>().starts_with("DuckDuckGo refused the query with HTTP 202"));
  r = test::run_openclawd({"search", "--config", config.string(), "rust"}, 20s);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("web search is blocked: DuckDuckGo refused the query with HTTP 202") != std::string::npos);

  // Usage errors: exit 2, nothing sent.
  const auto before = server.request_count();
  CHECK(test::run_openclawd({"search", "--config", config.string()}, 20s).exit_code == 2);
  CHECK(test::run_openclawd({"search", "--config", config.string(), "  "}, 20s).exit_code == 2);
  CHECK(test::run_openclawd({"search", "--config", (dir / "missing.yaml").string(), "x"}, 20s).exit_code == 2);
  CHECK(test::run_openclawd({"search", "--bogus", "x"}, 20s).exit_code == 2);
  CHECK(server.request_count() == before);
}
