// net/url: parsing URLs for the remote client, loopback detection, form encoding.
#include "net/net_error.hpp"
#include "net/url.hpp"

#include <catch2/catch.hpp>

using namespace openclawd;

TEST_CASE("net url: parse http(s) URLs", "[net][url]") {
  auto u = net::parse_url("https://html.duckduckgo.com/html/");
  REQUIRE(u.has_value());
  CHECK(u->scheme == "https");
  CHECK(u->host == "html.duckduckgo.com");
  CHECK(u->port == 443);
  CHECK(u->target == "/html/");
  CHECK(u->authority() == "html.duckduckgo.com");
  CHECK(u->origin() == "https://html.duckduckgo.com/");

  u = net::parse_url("HTTP://127.0.0.1:8080?q=1#frag");
  REQUIRE(u.has_value());
  CHECK(u->scheme == "http");
  CHECK(u->port == 8080);
  CHECK(u->target == "/?q=1");
  CHECK(u->authority() == "127.0.0.1:8080");

  u = net::parse_url("https://[::1]:8443/x");
  REQUIRE(u.has_value());
  CHECK(u->host == "::1");
  CHECK(u->authority() == "[::1]:8443");
  u = net::parse_url("https://API.Telegram.org");
  REQUIRE(u.has_value());
  CHECK(u->host == "api.telegram.org");
  CHECK(u->target == "/");

  for (const char* bad : {"", "ftp://x/", "https://", "https:///x", "https://a b/", "https://x:0/", "https://x:65536/",
                          "https://x:12a/", "https://user@x/", "https://[::1/", "https://[zz]/", "x.org/path",
                          "https://x.org/a\nb", "https://x.org:/"}) {
    INFO(bad);
    auto r = net::parse_url(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == net::net_errc::bad_url);
  }
}

TEST_CASE("net url: loopback hosts", "[net][url]") {
  CHECK(net::is_loopback_host("127.0.0.1"));
  CHECK(net::is_loopback_host("127.1.2.3"));
  CHECK(net::is_loopback_host("::1"));
  CHECK(net::is_loopback_host("localhost"));
  CHECK_FALSE(net::is_loopback_host("localhost.example.com"));
  CHECK_FALSE(net::is_loopback_host("10.0.0.1"));
  CHECK_FALSE(net::is_loopback_host("example.com"));
  CHECK(net::is_ip_literal("10.0.0.1"));
  CHECK(net::is_ip_literal("::1"));
  CHECK_FALSE(net::is_ip_literal("localhost"));
}

TEST_CASE("net url: form encoding and percent decoding", "[net][url]") {
  CHECK(net::form_encode({{"q", "rust & c++ = fast?"}, {"b", ""}, {"kl", "wt-wt"}}) ==
        "q=rust+%26+c%2B%2B+%3D+fast%3F&b=&kl=wt-wt");
  CHECK(net::form_encode_component("caf\xC3\xA9/~_.-") == "caf%C3%A9%2F~_.-");
  CHECK(net::percent_decode("a%20b+c%2B%zz%4") == "a b+c+%zz%4");
  CHECK(net::percent_decode("a+b", true) == "a b");
}
