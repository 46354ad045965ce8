// URLs for the remote HTTP(S) client: parse "http(s)://host[:port][/path][?query]", tell
// loopback hosts apart, and percent-encode form bodies. Pure functions on values: no I/O,
// no state, usable from any thread.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace openclawd::net {

struct url {
  std::string scheme;      // "http" or "https" (lower case)
  std::string host;        // lower-case name, dotted IPv4, or IPv6 without brackets
  std::uint16_t port = 0;  // as written, or the scheme's default (80, 443)
  std::string target;      // path and query as written ("/html/?q=x"); "/" when absent

  bool is_https() const { return scheme == "https"; }
  bool has_default_port() const { return port == (is_https() ? 443 : 80); }
  // The Host header: host, with ":port" unless default, IPv6 in brackets.
  std::string authority() const;
  // The origin with a trailing slash: "https://html.duckduckgo.com/".
  std::string origin() const;
};

// Accepts only http and https with a host; rejects user info ("user@host"), spaces and
// control characters, and bad ports. A fragment ("#...") is dropped. Errors: net_errc::bad_url.
result<url> parse_url(std::string_view text);

// "localhost", an IPv4 address in 127.0.0.0/8, or ::1. Names are not resolved: a name
// is loopback only if it is literally "localhost".
bool is_loopback_host(std::string_view host);

// True for a dotted IPv4 or an IPv6 literal (without brackets).
bool is_ip_literal(std::string_view host);

// application/x-www-form-urlencoded: unreserved bytes kept, space as '+', the rest %XX.
std::string form_encode_component(std::string_view text);
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);

// %XX decoded (malformed escapes are kept as written); '+' becomes a space only when asked
// (form bodies), never in URLs taken from a page.
std::string percent_decode(std::string_view text, bool plus_is_space = false);

}  // namespace openclawd::net
