// net::https_client end to end against local servers on 127.0.0.1 (plain HTTP and TLS with a
// CA made at test time): requests as sent, verification that cannot be skipped, every
// deadline, the body cap. No traffic leaves the machine; the one non-loopback URL is
// refused before any lookup.
#include "net/https_client.hpp"
#include "net/net_error.hpp"
#include "net/url.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/local_http_server.hpp"
#include "tests/support/run_coro.hpp"
#include "tests/support/test_certs.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>

using namespace openclawd;
using namespace std::chrono_literals;
using test::canned_response;
using test::local_http_server;
using test::run_one;

namespace {

// One CA for the whole run: key generation is the slow part.
const test::test_ca& test_pki() {
  static const test::test_ca ca = test::make_test_ca();
  return ca;
}

test::server_options tls_server(const test::pem_pair& id) {
  test::server_options o;
  o.tls_cert_pem = id.cert_pem;
  o.tls_key_pem = id.key_pem;
  return o;
}

net::https_client trusting_test_ca() {
  auto c = net::https_client::create(net::tls_options{test_pki().ca.cert_pem});
  REQUIRE(c.has_value());
  return *c;
}

net::https_client system_roots_only() {
  auto c = net::https_client::create();
  REQUIRE(c.has_value());
  return *c;
}

net::https_options short_timeouts(std::chrono::milliseconds each) {
  net::https_options o;
  o.timeouts = {each, each, each, each, each, each * 6};
  return o;
}

}  // namespace

TEST_CASE("https client: GET over plain http to loopback", "[net][https]") {
  local_http_server server(test::always({200, {{"X-Test", "yes"}, {"Content-Type", "text/plain"}}, "hello", false, false}));
  asio::io_context ioc;
  const auto client = system_roots_only();
  const auto res = run_one(ioc, client.request({http::verb::get, server.url("/path?q=1"), {}, {}}));
  REQUIRE(res.has_value());
  CHECK(res->status == 200);
  CHECK(res->body == "hello");
  CHECK(res->header("x-test") == "yes");
  CHECK_FALSE(res->header("missing"));
  const auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].method == "GET");
  CHECK(reqs[0].target == "/path?q=1");
  CHECK(reqs[0].header("Host") == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(reqs[0].header("User-Agent") == "openclawd/" OPENCLAWD_VERSION);
  CHECK(reqs[0].header("Accept-Encoding") == "identity");
  CHECK(reqs[0].header("Connection") == "close");
}

TEST_CASE("https client: POST a form with headers, chunked answers", "[net][https]") {
  local_http_server server(test::always({201, {}, "created", /*chunked=*/true, false}));
  asio::io_context ioc;
  net::https_request req{http::verb::post, server.url("/submit"),
                         {{"Content-Type", "application/x-www-form-urlencoded"}, {"User-Agent", "custom/1"},
                          {"Host", "ignored.example"}},
                         net::form_encode({{"q", "a b&c"}, {"b", ""}})};
  const auto res = run_one(ioc, system_roots_only().request(req));
  REQUIRE(res.has_value());
  CHECK(res->status == 201);
  CHECK(res->body == "created");
  const auto r = server.requests().at(0);
  CHECK(r.method == "POST");
  CHECK(r.body == "q=a+b%26c&b=");
  CHECK(r.header("Content-Length") == "12");
  CHECK(r.header("Content-Type") == "application/x-www-form-urlencoded");
  CHECK(r.header("User-Agent") == "custom/1");
  CHECK(r.header("Host") == "127.0.0.1:" + std::to_string(server.port()));  // the client's own
}

TEST_CASE("https client: plain http only to loopback, malformed requests refused", "[net][https]") {
  asio::io_context ioc;
  const auto client = system_roots_only();
  // Refused before any DNS lookup or connection: nothing leaves the machine.
  auto res = run_one(ioc, client.request({http::verb::get, "http://example.com/", {}, {}}));
  REQUIRE_FALSE(res.has_value());
  CHECK(res.error() == net::net_errc::insecure_scheme);
  res = run_one(ioc, client.request({http::verb::get, "http://10.1.2.3:8080/", {}, {}}));
  CHECK(res.error() == net::net_errc::insecure_scheme);
  res = run_one(ioc, client.request({http::verb::get, "gopher://x/", {}, {}}));
  CHECK(res.error() == net::net_errc::bad_url);
  res = run_one(ioc, client.request({http::verb::get, "http://127.0.0.1:1/", {{"X-Evil", "a\r\nInjected: 1"}}, {}}));
  CHECK(res.error() == net::net_errc::bad_header);
}

TEST_CASE("https client: a closed port is refused at once", "[net][https]") {
  unsigned short port = 0;
  {
    local_http_server gone(test::always({}));
    port = gone.port();
  }
  asio::io_context ioc;
  const auto res =
      run_one(ioc, system_roots_only().request({http::verb::get, "http://127.0.0.1:" + std::to_string(port) + "/", {}, {}}));
  REQUIRE_FALSE(res.has_value());
  CHECK(res.error() == asio::error::connection_refused);
}

TEST_CASE("https client: TLS with a trusted CA, SNI and host name checks", "[net][https]") {
  const auto id = test_pki().issue({"localhost"}, {"127.0.0.1"});
  local_http_server server(test::always({200, {}, "secret", false, false}), tls_server(id));
  asio::io_context ioc;
  const auto client = trusting_test_ca();

  auto res = run_one(ioc, client.request({http::verb::get, server.url("/tls"), {}, {}}));
  REQUIRE(res.has_value());
  CHECK(res->status == 200);
  CHECK(res->body == "secret");
  CHECK(server.requests().back().sni.empty());  // no SNI for an IP address (RFC 6066)

  // By name: localhost may resolve to ::1 first (nothing listens there), then 127.0.0.1.
  res = run_one(ioc, client.request({http::verb::get, "https://localhost:" + std::to_string(server.port()) + "/n", {}, {}}));
  REQUIRE(res.has_value());
  CHECK(server.requests().back().sni == "localhost");
  CHECK(server.request_count() == 2);
}

TEST_CASE("https client: the system roots are read with the first https request, not at create", "[net][https]") {
  // OpenSSL reads SSL_CERT_FILE when the roots are loaded: set after create(), it still counts
  // only if loading waited for the first https request (start-up then costs no CA parsing).
  test::temp_dir dir;
  const auto id = test_pki().issue({"localhost"}, {"127.0.0.1"});
  local_http_server server(test::always({200, {}, "late roots", false, false}), tls_server(id));
  asio::io_context ioc;
  const auto client = system_roots_only();
  const auto ca_file = dir / "ca.pem";
  std::ofstream(ca_file) << test_pki().ca.cert_pem;
  const char* before = std::getenv("SSL_CERT_FILE");
  const std::optional<std::string> saved = before ? std::optional<std::string>(before) : std::nullopt;
  ::setenv("SSL_CERT_FILE", ca_file.c_str(), 1);
  const auto res = run_one(ioc, client.request({http::verb::get, server.url("/"), {}, {}}));
  if (saved) ::setenv("SSL_CERT_FILE", saved->c_str(), 1);
  else ::unsetenv("SSL_CERT_FILE");
  REQUIRE(res.has_value());
  CHECK(res->body == "late roots");
}

TEST_CASE("https client: verification cannot be skipped", "[net][https]") {
  asio::io_context ioc;
  SECTION("a CA the client does not trust") {
    const auto id = test_pki().issue({"localhost"}, {"127.0.0.1"});
    local_http_server server(test::always({200, {}, "no", false, false}), tls_server(id));
    const auto res = run_one(ioc, system_roots_only().request({http::verb::get, server.url("/"), {}, {}}));
    REQUIRE_FALSE(res.has_value());
    INFO(res.error().message());
    CHECK(res.error().category() == asio::error::get_ssl_category());
    CHECK(server.request_count() == 0);  // nothing was sent
  }
  SECTION("a trusted CA, but the certificate names another host") {
    const auto id = test_pki().issue({"other.example"}, {"127.0.0.2"});
    local_http_server server(test::always({200, {}, "no", false, false}), tls_server(id));
    const auto res = run_one(ioc, trusting_test_ca().request({http::verb::get, server.url("/"), {}, {}}));
    REQUIRE_FALSE(res.has_value());
    INFO(res.error().message());
    CHECK(res.error().category() == asio::error::get_ssl_category());
    CHECK(server.request_count() == 0);
  }
  SECTION("a self-signed certificate") {
    const auto other = test::make_test_ca("a stranger");
    local_http_server server(test::always({200, {}, "no", false, false}),
                             tls_server(other.issue({"localhost"}, {"127.0.0.1"})));
    const auto res = run_one(ioc, trusting_test_ca().request({http::verb::get, server.url("/"), {}, {}}));
    REQUIRE_FALSE(res.has_value());
    CHECK(server.request_count() == 0);
  }
}

TEST_CASE("https client: every step has a deadline", "[net][https]") {
  asio::io_context ioc;
  const auto client = trusting_test_ca();
  SECTION("a server that reads the request and never answers") {
    local_http_server server(test::always({200, {}, "", false, /*never_answer=*/true}));
    const auto t0 = std::chrono::steady_clock::now();
    const auto res = run_one(ioc, client.request({http::verb::get, server.url("/"), {}, {}}, short_timeouts(300ms)));
    const auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE_FALSE(res.has_value());
    CHECK(res.error() == errc::timeout);
    CHECK(took >= 250ms);
    CHECK(took < 3s);
  }
  SECTION("a server that accepts and never does the TLS handshake") {
    test::server_options silent;
    silent.silent = true;
    local_http_server server(test::always({}), silent);
    const auto t0 = std::chrono::steady_clock::now();
    const auto res = run_one(ioc, client.request({http::verb::get, "https://127.0.0.1:" + std::to_string(server.port()) + "/",
                                                  {}, {}},
                                                 short_timeouts(300ms)));
    REQUIRE_FALSE(res.has_value());
    CHECK(res.error() == errc::timeout);
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
    CHECK(server.connection_count() == 1);
  }
  SECTION("the total budget bounds all steps together") {
    local_http_server server(test::always({200, {}, "", false, true}));
    net::https_options o;
    o.timeouts.read = 10s;
    o.timeouts.total = 400ms;
    const auto t0 = std::chrono::steady_clock::now();
    const auto res = run_one(ioc, client.request({http::verb::get, server.url("/"), {}, {}}, o));
    CHECK(res.error() == errc::timeout);
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  }
}

TEST_CASE("https client: bodies larger than the cap are an error", "[net][https]") {
  local_http_server server(test::always({200, {}, std::string(100 * 1024, 'x'), false, false}));
  asio::io_context ioc;
  net::https_options o;
  o.body_limit = 16 * 1024;
  auto res = run_one(ioc, system_roots_only().request({http::verb::get, server.url("/"), {}, {}}, o));
  REQUIRE_FALSE(res.has_value());
  CHECK(res.error() == http::error::body_limit);
  o.body_limit = 200 * 1024;
  res = run_one(ioc, system_roots_only().request({http::verb::get, server.url("/"), {}, {}}, o));
  REQUIRE(res.has_value());
  CHECK(res->body.size() == 100 * 1024);
}

// Keep-alive (the Telegram channel's client): one connection carries many requests, a
// connection the server closed is noticed before it is used, a connection idle too long is
// not reused, and without keep-alive nothing changes.
TEST_CASE("https client: keep-alive reuses a connection, notices a closed one, respects max_idle",
          "[net][https]") {
  const bool tls = GENERATE(false, true);
  const auto id = test_pki().issue({"localhost"}, {"127.0.0.1"});
  test::server_options so = tls ? tls_server(id) : test::server_options{};
  so.keep_alive = true;
  std::atomic<bool> close_next{false};
  local_http_server server(
      [&](const test::recorded_request&) {
        canned_response c{200, {{"Content-Type", "application/json"}}, R"({"ok":true})"};
        c.close_after = close_next.exchange(false);
        return c;
      },
      so);
  auto made = net::https_client::create(net::tls_options{test_pki().ca.cert_pem}, net::keep_alive_options{});
  REQUIRE(made.has_value());
  const net::https_client client = *made;
  const std::string url = tls ? server.url("/x") : "http://127.0.0.1:" + std::to_string(server.port()) + "/x";
  asio::io_context io;
  auto get = [&] {
    net::https_request req;
    req.url = url;
    auto r = run_one(io, client.request(req));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
  };

  for (int i = 0; i < 5; ++i) get();
  CHECK(server.connection_count() == 1);
  CHECK(client.stats().connections_opened == 1);
  CHECK(client.stats().connections_reused == 4);
  // Keep-alive is HTTP/1.1's default: no "Connection: close" went out.
  for (const auto& r : server.requests()) CHECK_FALSE(r.header("Connection").has_value());

  // The server answers and then closes (its idle timeout): the next request sees the close
  // before writing anything, and takes a new connection.
  close_next = true;
  get();
  // Once the FIN is sent, the peek sees it (loopback delivers at once); a request written
  // before it arrived would be the race the peek cannot close, which this test does not show.
  REQUIRE(test::wait_until([&] { return server.closed_after_answer() == 1; }));
  get();
  CHECK(server.connection_count() == 2);
  CHECK(server.request_count() == 7);

  // max_idle 0: every request on a new connection, kept ones are closed.
  auto strict = net::https_client::create(net::tls_options{test_pki().ca.cert_pem},
                                          net::keep_alive_options{4, std::chrono::milliseconds(0)});
  REQUIRE(strict.has_value());
  const auto before = server.connection_count();
  for (int i = 0; i < 3; ++i) {
    net::https_request req;
    req.url = url;
    auto r = run_one(io, strict->request(req));
    REQUIRE(r.has_value());
  }
  CHECK(server.connection_count() == before + 3);
  CHECK(strict->stats().connections_reused == 0);
  client.close_idle();
  strict->close_idle();
}

TEST_CASE("https client: without keep-alive every request has its own connection", "[net][https]") {
  test::server_options so;
  so.keep_alive = true;  // the server would keep it: the client says no
  local_http_server server([](const test::recorded_request&) { return canned_response{200, {}, "ok"}; }, so);
  const auto client = system_roots_only();
  asio::io_context io;
  for (int i = 0; i < 3; ++i) {
    net::https_request req;
    req.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/";
    REQUIRE(run_one(io, client.request(req)).has_value());
  }
  CHECK(server.connection_count() == 3);
  for (const auto& r : server.requests()) CHECK(r.header("Connection") == std::optional<std::string>("close"));
}
