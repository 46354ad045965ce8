// The SSRF classifier (net/address_policy.hpp): addresses of every refused range and their
// IPv4-in-IPv6 disguises, and untrusted URLs in the forms browsers and resolvers read as
// something else. Pure functions: no sockets.
#include "net/address_policy.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

using namespace openclawd::net;

namespace {

address_class class_of(const std::string& text) { return classify(ip::make_address(text)); }

checked_url accepted(const std::variant<checked_url, std::string>& r) {
  INFO((r.index() == 1 ? std::get<1>(r) : std::string()));
  REQUIRE(r.index() == 0);
  return std::get<0>(r);
}

std::string refused(const std::variant<checked_url, std::string>& r) {
  if (r.index() == 0) FAIL_CHECK("accepted as " << std::get<0>(r).text);
  return r.index() == 1 ? std::get<1>(r) : std::string();
}

}  // namespace

TEST_CASE("address_policy: every range is classified by its bytes", "[address_policy]") {
  const std::vector<std::pair<std::string, address_class>> table = {
      // IPv4
      {"8.8.8.8", address_class::global},
      {"1.1.1.1", address_class::global},
      {"93.184.216.34", address_class::global},
      {"127.0.0.1", address_class::loopback},
      {"127.255.255.254", address_class::loopback},
      {"10.0.0.1", address_class::private_net},
      {"10.255.255.255", address_class::private_net},
      {"172.16.0.1", address_class::private_net},
      {"172.31.255.255", address_class::private_net},
      {"172.15.255.255", address_class::global},
      {"172.32.0.0", address_class::global},
      {"192.168.1.1", address_class::private_net},
      {"100.64.0.1", address_class::shared},
      {"100.127.255.255", address_class::shared},
      {"100.128.0.0", address_class::global},
      {"169.254.169.254", address_class::link_local},
      {"169.254.0.1", address_class::link_local},
      {"224.0.0.1", address_class::multicast},
      {"239.255.255.250", address_class::multicast},
      {"0.0.0.0", address_class::unspecified},
      {"0.1.2.3", address_class::unspecified},
      {"192.0.0.8", address_class::reserved},
      {"192.0.2.1", address_class::reserved},
      {"198.18.0.1", address_class::reserved},
      {"198.19.255.255", address_class::reserved},
      {"198.51.100.7", address_class::reserved},
      {"203.0.113.9", address_class::reserved},
      {"240.0.0.1", address_class::reserved},
      {"255.255.255.255", address_class::reserved},
      // IPv6
      {"2606:4700:4700::1111", address_class::global},
      {"2a00:1450:4001:82b::200e", address_class::global},
      {"::1", address_class::loopback},
      {"::", address_class::unspecified},
      {"fc00::1", address_class::private_net},
      {"fd12:3456:789a::1", address_class::private_net},
      {"fe80::1", address_class::link_local},
      {"febf::1", address_class::link_local},
      {"fec0::1", address_class::reserved},
      {"ff02::1", address_class::multicast},
      {"ff0e::1", address_class::multicast},
      {"2001:db8::1", address_class::reserved},
      {"100::1", address_class::reserved},
      {"2001:2::1", address_class::reserved},   // benchmarking
      {"4000::1", address_class::reserved},     // outside 2000::/3
      {"::ffff:0:0:1", address_class::reserved},  // not one of the embedded forms
      // IPv4 embedded in IPv6: classified by the IPv4 address
      {"::ffff:127.0.0.1", address_class::loopback},
      {"::ffff:7f00:1", address_class::loopback},
      {"::ffff:10.0.0.1", address_class::private_net},
      {"::ffff:169.254.169.254", address_class::link_local},
      {"::ffff:8.8.8.8", address_class::global},
      {"::127.0.0.1", address_class::loopback},  // IPv4-compatible
      {"::10.0.0.1", address_class::private_net},
      {"::8.8.8.8", address_class::global},
      {"64:ff9b::127.0.0.1", address_class::loopback},  // NAT64
      {"64:ff9b::a00:1", address_class::private_net},
      {"64:ff9b::8.8.8.8", address_class::global},
      {"64:ff9b:1::7f00:1", address_class::loopback},  // local-use NAT64, /96 position
      {"64:ff9b:1:7f00:0:100:808:808", address_class::loopback},  // local-use NAT64, /48 position
      {"2002:7f00:1::1", address_class::loopback},  // 6to4
      {"2002:a00:1::", address_class::private_net},
      {"2002:808:808::1", address_class::global},
      {"2001:0:4136:e378:8000:63bf:80ff:fffe", address_class::loopback},  // Teredo, client 127.0.0.1
      {"2001:0:4136:e378:8000:63bf:f5ff:fffe", address_class::private_net},  // client 10.0.0.1
      {"2001:0:a00:1:8000:63bf:f7f7:f7f7", address_class::private_net},      // server 10.0.0.1
      {"2001:0:4136:e378:8000:63bf:f7f7:f7f7", address_class::global},        // both public
  };
  for (const auto& [text, want] : table) {
    INFO(text);
    CHECK(to_string(class_of(text)) == to_string(want));
  }
}

TEST_CASE("address_policy: address_refusal names the reason, and loopback passes only by the test allowance",
          "[address_policy]") {
  address_policy p;
  CHECK(address_refusal(ip::make_address("8.8.8.8"), 443, p).empty());
  CHECK(address_refusal(ip::make_address("10.1.2.3"), 443, p) == "a private address");
  CHECK(address_refusal(ip::make_address("127.0.0.1"), 443, p) == "a loopback address");
  CHECK(address_refusal(ip::make_address("169.254.169.254"), 80, p).find("link-local") != std::string::npos);
  p.allow_loopback = true;
  CHECK(address_refusal(ip::make_address("127.0.0.1"), 443, p).empty());
  CHECK(address_refusal(ip::make_address("::1"), 443, p).empty());
  CHECK_FALSE(address_refusal(ip::make_address("10.0.0.1"), 443, p).empty());
  p.blocked_ports = {8080, 9090};
  CHECK(address_refusal(ip::make_address("127.0.0.1"), 8080, p) == "port 8080 is one of the daemon's own");
  CHECK_FALSE(address_refusal(ip::make_address("8.8.8.8"), 9090, p).empty());
  CHECK(address_refusal(ip::make_address("127.0.0.1"), 8081, p).empty());
}

TEST_CASE("address_policy: check_url accepts http(s) URLs and normalizes them", "[address_policy]") {
  address_policy p;
  {
    const auto u = accepted(check_url("https://Example.COM/a/./b/../c?q=1#frag", p));
    CHECK(u.scheme == "https");
    CHECK(u.host == "example.com");
    CHECK(u.port == 443);
    CHECK(u.target == "/a/c?q=1");
    CHECK(u.text == "https://example.com/a/c?q=1");  // fragment dropped
  }
  {
    const auto u = accepted(check_url("HTTPS://example.com", p));
    CHECK(u.target == "/");
    CHECK(u.text == "https://example.com/");
  }
  {
    const auto u = accepted(check_url("https://example.com:443/x", p));
    CHECK(u.text == "https://example.com/x");
    const auto v = accepted(check_url("https://example.com:8443/x", p));
    CHECK(v.port == 8443);
    CHECK(v.text == "https://example.com:8443/x");
  }
  {
    const auto u = accepted(check_url("https://8.8.8.8/", p));
    CHECK(u.host == "8.8.8.8");
    const auto v = accepted(check_url("https://[2606:4700:4700:0::1111]/", p));
    CHECK(v.host == "2606:4700:4700::1111");
  }
  {
    const auto u = accepted(check_url("https://example.com./", p));  // the absolute form
    CHECK(u.host == "example.com");
  }
  // An accepted URL's text checks again to itself.
  for (const char* text : {"https://Example.COM/a/./b/../c?q=1#frag", "https://bücher.example/straße?x=ä",
                           "https://[2606:4700:4700::1111]:8443/p%2fq"}) {
    const auto u = accepted(check_url(text, p));
    CHECK(accepted(check_url(u.text, p)).text == u.text);
  }
}

TEST_CASE("address_policy: international names are mapped with UTS #46", "[address_policy]") {
  address_policy p;
  CHECK(accepted(check_url("https://bücher.example/", p)).host == "xn--bcher-kva.example");
  CHECK(accepted(check_url("https://B%C3%BCcher.example/", p)).host == "xn--bcher-kva.example");
  CHECK(accepted(check_url("https://faß.de/", p)).host == "xn--fa-hia.de");  // nontransitional, as browsers
  CHECK(accepted(check_url("https://xn--bcher-kva.example/", p)).host == "xn--bcher-kva.example");
  // Fullwidth digits map to ASCII digits: then it is a numeric host in disguise.
  CHECK_THAT(refused(check_url("https://１２７.０.０.１/", p)), Catch::Contains("number"));
  CHECK_THAT(refused(check_url("https://ｌｏｃａｌｈｏｓｔ/", p)), Catch::Contains("this machine"));
  CHECK_FALSE(refused(check_url("https://a%00b.example/", p)).empty());
  CHECK_FALSE(refused(check_url("https://exa mple.com/", p)).empty());
  CHECK_FALSE(refused(check_url("https://ex%20ample.com/", p)).empty());
}

TEST_CASE("address_policy: check_url refuses what cannot be fetched safely", "[address_policy]") {
  address_policy p;
  const std::vector<std::pair<std::string, std::string>> table = {
      // schemes
      {"javascript:alert(1)", "only http"},
      {"file:///etc/passwd", "only http"},
      {"ftp://example.com/", "only http"},
      {"data:text/html,hi", "only http"},
      {"gopher://example.com/", "only http"},
      {"http://example.com/", "plain http"},
      // shapes
      {"", "not a valid URL"},
      {"example.com", "not a valid URL"},
      {"//example.com/", "not a valid URL"},
      {"https:///path", "no host"},
      {"https://user@example.com/", "user names"},
      {"https://user:pw@example.com/", "user names"},
      {"https://example.com:99999/", "out of range"},
      {"https://example.com:0/", "port 0"},
      {"https://[v1.fe80::1]/", "IPvFuture"},
      {"https://ex_am!ple.com/", "characters"},
      {"https://a..b/", "malformed"},
      {"https://f../", "malformed"},  // found by fuzz_address_policy: "f." checked again read as "f"
      // numbers in odd forms
      {"https://2130706433/", "number"},
      {"https://0x7f.1/", "number"},
      {"https://0x7f000001/", "number"},
      {"https://0177.0.0.1/", "number"},
      {"https://017700000001/", "number"},
      {"https://127.1/", "number"},
      {"https://127.0.0.1./", "malformed"},
      {"https://example.0x10/", "number"},
      {"https://1.2.3.4.5/", "malformed"},  // Boost.URL 1.81 reads host 1.2.3.4, path ".5/"
      {"https://1.2.3.4:443.5/", "malformed"},
      {"https://1.2.3.4./", "malformed"},
      {"https://169.25%2e69.25-da200/", "begins with an IPv4 address"},  // found by fuzz_address_policy
      {"https://10.0.0.1.nip.io/", "malformed"},
      // addresses
      {"https://127.0.0.1/", "loopback"},
      {"https://10.0.0.1/", "private"},
      {"https://169.254.169.254/latest/meta-data/", "link-local"},
      {"https://[::1]/", "loopback"},
      {"https://[::ffff:127.0.0.1]/", "loopback"},
      {"https://[::ffff:7f00:1]/", "loopback"},
      {"https://[::ffff:10.0.0.1]/", "private"},
      {"https://[64:ff9b::7f00:1]/", "loopback"},
      {"https://[64:ff9b::10.0.0.1]/", "private"},
      {"https://[2002:7f00:1::]/", "loopback"},
      {"https://[2002:a00:1::]/", "private"},
      {"https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "loopback"},
      {"https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/", "private"},
      {"https://[fd00::1]/", "private"},
      {"https://[fe80::1]/", "link-local"},
      {"https://0.0.0.0/", "unspecified"},
      {"https://255.255.255.255/", "reserved"},
      {"https://100.64.0.1/", "shared"},
      {"https://224.0.0.1/", "multicast"},
      // names of this machine
      {"https://localhost/", "this machine"},
      {"https://LOCALHOST:8080/", "this machine"},
      {"https://localhost./", "this machine"},
      {"https://foo.localhost/", "this machine"},
  };
  for (const auto& [url, why] : table) {
    INFO(url);
    CHECK_THAT(refused(check_url(url, p)), Catch::Contains(why));
  }
  address_policy plain;
  plain.allow_http = true;
  CHECK_THAT(refused(check_url("http://2130706433/", plain)), Catch::Contains("number"));
  CHECK_THAT(refused(check_url("http://0x7f.1/", plain)), Catch::Contains("number"));
  CHECK_THAT(refused(check_url("http://0177.0.0.1/", plain)), Catch::Contains("number"));
  CHECK_THAT(refused(check_url("http://127.1/", plain)), Catch::Contains("number"));
  CHECK_THAT(refused(check_url("http://[::ffff:127.0.0.1]/", plain)), Catch::Contains("loopback"));
  CHECK_THAT(refused(check_url("http://[::ffff:7f00:1]/", plain)), Catch::Contains("loopback"));
  CHECK(accepted(check_url("http://example.com/", plain)).port == 80);
}

TEST_CASE("address_policy: inspect_url says which kind of refusal", "[address_policy]") {
  address_policy p;
  CHECK(std::get<url_refusal>(inspect_url("ftp://x.example/", p)).kind == url_refusal_kind::scheme);
  CHECK(std::get<url_refusal>(inspect_url("http://x.example/", p)).kind == url_refusal_kind::insecure);
  CHECK(std::get<url_refusal>(inspect_url("https://u@x.example/", p)).kind == url_refusal_kind::malformed);
  CHECK(std::get<url_refusal>(inspect_url("https://10.0.0.1/", p)).kind == url_refusal_kind::address);
  CHECK(std::get<url_refusal>(inspect_url("https://0x7f.1/", p)).kind == url_refusal_kind::address);
  CHECK(std::get<url_refusal>(inspect_url("https://localhost/", p)).kind == url_refusal_kind::address);
}

TEST_CASE("address_policy: the test allowance and blocked ports", "[address_policy]") {
  address_policy p;
  p.allow_loopback = true;
  p.blocked_ports = {8080};
  CHECK(accepted(check_url("https://127.0.0.1:4443/", p)).host == "127.0.0.1");
  CHECK(accepted(check_url("https://localhost:4443/", p)).host == "localhost");
  CHECK_THAT(refused(check_url("https://127.0.0.1:8080/", p)), Catch::Contains("port 8080"));
  CHECK_THAT(refused(check_url("https://localhost:8080/", p)), Catch::Contains("port 8080"));
  CHECK_THAT(refused(check_url("https://example.com:8080/", p)), Catch::Contains("port 8080"));
  CHECK_THAT(refused(check_url("https://10.0.0.1/", p)), Catch::Contains("private"));
}

TEST_CASE("address_policy: redirects resolve relative Locations and are checked again", "[address_policy]") {
  address_policy p;
  const auto base = accepted(check_url("https://example.com/a/b/page?x=1#top", p));
  CHECK(accepted(resolve_redirect(base, "/root", p)).text == "https://example.com/root");
  CHECK(accepted(resolve_redirect(base, "next", p)).text == "https://example.com/a/b/next");
  CHECK(accepted(resolve_redirect(base, "../up?y=2", p)).text == "https://example.com/a/up?y=2");
  CHECK(accepted(resolve_redirect(base, "?z=3", p)).text == "https://example.com/a/b/page?z=3");
  CHECK(accepted(resolve_redirect(base, "//other.example/p", p)).text == "https://other.example/p");
  CHECK(accepted(resolve_redirect(base, "https://other.example/q#frag", p)).text == "https://other.example/q");
  CHECK(accepted(resolve_redirect(base, "/with space/ü", p)).text == "https://example.com/with%20space/%C3%BC");
  CHECK_THAT(refused(resolve_redirect(base, "https://10.0.0.1/", p)), Catch::Contains("private"));
  CHECK_THAT(refused(resolve_redirect(base, "//169.254.169.254/", p)), Catch::Contains("link-local"));
  CHECK_THAT(refused(resolve_redirect(base, "http://example.com/", p)), Catch::Contains("plain http"));
  CHECK_THAT(refused(resolve_redirect(base, "javascript:alert(1)", p)), Catch::Contains("only http"));
  CHECK_THAT(refused(resolve_redirect(base, "//0x7f.1/", p)), Catch::Contains("number"));
  CHECK_THAT(refused(resolve_redirect(base, "https://user@example.com/", p)), Catch::Contains("user names"));
}
