// Which URLs and addresses the page-reading tool may reach: the SSRF classifier. Untrusted
// URLs are parsed with Boost.URL, never by hand; addresses are classified by their bytes
// (IPv4, IPv6 and IPv4 embedded in IPv6). Pure functions on values, no I/O, any thread.
// Fuzzed (fuzz/fuzz_address_policy.cpp).
#pragma once

#include <boost/asio/ip/address.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <variant>

namespace openclawd::net {

namespace ip = boost::asio::ip;

enum class address_class {
  global,        // publicly routable: the only class fetched
  loopback,      // 127.0.0.0/8, ::1
  private_net,   // RFC 1918, IPv6 ULA fc00::/7
  shared,        // CGNAT 100.64.0.0/10
  link_local,    // 169.254.0.0/16 (cloud metadata), fe80::/10
  multicast,
  unspecified,   // 0.0.0.0/8, ::
  reserved,      // documentation, benchmarking, 240/4, broadcast, 192.0.0.0/24, discard-only ...
};
std::string_view to_string(address_class c);

// IPv4 embedded in IPv6 (::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::/96 NAT64, 2002::/16 6to4,
// 2001::/32 Teredo) is classified by the embedded IPv4 address.
address_class classify(const ip::address& a);

struct address_policy {
  bool allow_http = false;  // plain http:// pages (https:// always)
  // Test-only allowance: loopback addresses are fetched too (the suite's fake sites), except
  // blocked_ports. Never set from a user's config file.
  bool allow_loopback = false;
  std::set<std::uint16_t> blocked_ports;  // the admin port and the nodes' ports: never reached
};

// One reason, for a log line and the model's note; empty when allowed.
std::string address_refusal(const ip::address& a, std::uint16_t port, const address_policy& p);

struct checked_url {
  std::string scheme;  // "http" | "https"
  std::string host;    // lower-case name, or the canonical IP text (IPv6 without brackets)
  std::uint16_t port = 0;
  std::string target;  // path and query, normalized by Boost.URL; "/" when empty
  std::string text;    // the whole URL, normalized, without fragment
};

// Parses an untrusted URL with Boost.URL and refuses what cannot be fetched safely: other
// schemes, plain http unless allowed, user info, empty hosts, IPvFuture, hosts that are
// numbers in odd forms ("2130706433", "0x7f.1", "017700000001", "127.1": only canonical
// dotted-decimal IPv4 is an address), "localhost" and "*.localhost" (unless allow_loopback),
// IP literals that address_refusal refuses, blocked ports. A non-ASCII name is mapped with
// UTS #46 (ICU) to its ASCII form, which `host` and `text` then hold. A name is not resolved
// here. Errors are one line for a model.
std::variant<checked_url, std::string> check_url(std::string_view text, const address_policy& p);

// Resolves a relative redirect Location against the URL it came from (Boost.URL), then check_url.
std::variant<checked_url, std::string> resolve_redirect(const checked_url& base, std::string_view location,
                                                        const address_policy& p);

// The same checks, saying which kind of refusal it is (fetch_page maps it to fetch_failure):
// check_url and resolve_redirect are these with the reason only.
enum class url_refusal_kind {
  malformed,  // not a URL Boost.URL accepts, user info, no host, IPvFuture, a bad name or port
  scheme,     // not http or https
  insecure,   // http:// while policy.allow_http is off
  address,    // an IP literal or a name that is refused, an odd numeric host, a blocked port
};
struct url_refusal {
  url_refusal_kind kind = url_refusal_kind::malformed;
  std::string reason;
};
std::variant<checked_url, url_refusal> inspect_url(std::string_view text, const address_policy& p);
std::variant<checked_url, url_refusal> inspect_redirect(const checked_url& base, std::string_view location,
                                                        const address_policy& p);

}  // namespace openclawd::net
