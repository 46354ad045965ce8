// The SSRF classifier. URLs go through Boost.URL's RFC 3986 grammar; a host name that is not
// plain ASCII goes through ICU's UTS #46 mapping (the one browsers use), so that what is
// checked here is the name the resolver will be asked for. Addresses are classified by their
// bytes, never by their text.
#include "net/address_policy.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <boost/url/url_view.hpp>
#include <unicode/uidna.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <memory>
#include <optional>

namespace openclawd::net {
namespace {

namespace urls = boost::urls;

// In the network `net`/`bits` (host byte order).
bool in4(std::uint32_t a, std::uint32_t net, int bits) {
  const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
  return (a & mask) == (net & mask);
}

constexpr std::uint32_t v4(unsigned a, unsigned b, unsigned c, unsigned d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

address_class classify_v4(std::uint32_t a) {
  if (in4(a, v4(0, 0, 0, 0), 8)) return address_class::unspecified;  // "this network": 0.0.0.0 reaches loopback on Linux
  if (in4(a, v4(127, 0, 0, 0), 8)) return address_class::loopback;
  if (in4(a, v4(10, 0, 0, 0), 8) || in4(a, v4(172, 16, 0, 0), 12) || in4(a, v4(192, 168, 0, 0), 16))
    return address_class::private_net;
  if (in4(a, v4(100, 64, 0, 0), 10)) return address_class::shared;
  if (in4(a, v4(169, 254, 0, 0), 16)) return address_class::link_local;
  if (in4(a, v4(224, 0, 0, 0), 4)) return address_class::multicast;
  if (in4(a, v4(240, 0, 0, 0), 4)  // future use and the limited broadcast 255.255.255.255
      || in4(a, v4(192, 0, 0, 0), 24)      // IETF protocol assignments
      || in4(a, v4(192, 0, 2, 0), 24)      // TEST-NET-1
      || in4(a, v4(192, 88, 99, 0), 24)    // the retired 6to4 relay anycast
      || in4(a, v4(198, 18, 0, 0), 15)     // benchmarking
      || in4(a, v4(198, 51, 100, 0), 24)   // TEST-NET-2
      || in4(a, v4(203, 0, 113, 0), 24))   // TEST-NET-3
    return address_class::reserved;
  return address_class::global;
}

std::uint32_t be32(const ip::address_v6::bytes_type& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) |
         std::uint32_t{b[at + 3]};
}

bool zero(const ip::address_v6::bytes_type& b, std::size_t from, std::size_t to) {
  return std::all_of(b.begin() + static_cast<std::ptrdiff_t>(from), b.begin() + static_cast<std::ptrdiff_t>(to),
                     [](unsigned char x) { return x == 0; });
}

// The worse of two embedded addresses: a tunnel whose either end is not public is refused.
address_class worst(address_class a, address_class b) { return a != address_class::global ? a : b; }

address_class classify_v6(const ip::address_v6& addr) {
  const auto b = addr.to_bytes();
  if (zero(b, 0, 16)) return address_class::unspecified;
  if (zero(b, 0, 15) && b[15] == 1) return address_class::loopback;
  // Forms that carry an IPv4 address, which is what a gateway or the kernel would reach.
  if (zero(b, 0, 10) && b[10] == 0xff && b[11] == 0xff) return classify_v4(be32(b, 12));  // ::ffff:0:0/96 mapped
  if (zero(b, 0, 12)) return classify_v4(be32(b, 12));                                    // ::/96 compatible
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
    if (zero(b, 4, 12)) return classify_v4(be32(b, 12));  // 64:ff9b::/96, RFC 6052 well-known NAT64
    if (b[4] == 0x00 && b[5] == 0x01) {
      // 64:ff9b:1::/48, RFC 8215 local-use NAT64: its prefix length is the operator's, so the
      // IPv4 may sit at bits 96-127 (/96) or 48-63 + 72-95 (/48). Both must be public.
      const std::uint32_t at48 = (std::uint32_t{b[6]} << 24) | (std::uint32_t{b[7]} << 16) |
                                 (std::uint32_t{b[9]} << 8) | std::uint32_t{b[10]};
      return worst(classify_v4(be32(b, 12)), classify_v4(at48));
    }
  }
  if (b[0] == 0x20 && b[1] == 0x02) return classify_v4(be32(b, 2));  // 2002::/16 6to4: bits 16-47
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00) {
    // 2001::/32 Teredo: the server at bits 32-63, the client's address inverted in the last 32.
    return worst(classify_v4(be32(b, 12) ^ 0xffffffffU), classify_v4(be32(b, 4)));
  }
  if (b[0] == 0xff) return address_class::multicast;                       // ff00::/8
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return address_class::link_local;  // fe80::/10
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return address_class::reserved;    // fec0::/10, site-local (deprecated)
  if ((b[0] & 0xfe) == 0xfc) return address_class::private_net;                 // fc00::/7 ULA
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return address_class::reserved;  // documentation
  // 2001::/23 (besides Teredo): IETF protocol assignments (benchmarking, ORCHID, AS112 ...).
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] < 0x02) return address_class::reserved;
  if (b[0] == 0x01 && b[1] == 0x00 && zero(b, 2, 8)) return address_class::reserved;  // 100::/64 discard-only
  if ((b[0] & 0xe0) != 0x20) return address_class::reserved;  // outside 2000::/3, the only global unicast
  return address_class::global;
}

std::string_view phrase(address_class c) {
  switch (c) {
    case address_class::global: return "a public address";
    case address_class::loopback: return "a loopback address";
    case address_class::private_net: return "a private address";
    case address_class::shared: return "a shared (carrier-grade NAT) address";
    case address_class::link_local: return "a link-local address (cloud metadata lives there)";
    case address_class::multicast: return "a multicast address";
    case address_class::unspecified: return "an unspecified address";
    case address_class::reserved: return "a reserved address";
  }
  return "an unknown address";
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// WHATWG's "ends in a number": such a host is parsed as IPv4 by browsers and by many
// resolvers (inet_aton: "2130706433", "0x7f.1", "0177.0.0.1", "127.1" are all 127.0.0.1).
bool ends_in_number(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  const auto dot = host.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
  if (last.empty()) return false;
  if (std::all_of(last.begin(), last.end(), is_digit)) return true;
  return last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') &&
         std::all_of(last.begin() + 2, last.end(), is_hex);
}

// "1.2.3.4.example", "1.2.3.4-x": Boost.URL 1.81 parses such a host as the IPv4 address
// 1.2.3.4 followed by a path (see inspect_url), so once written into a URL this name would
// not read back as itself. Such names are nip.io-style aliases of addresses, not web sites.
bool starts_like_ipv4(std::string_view host) {
  for (int part = 0; part < 3; ++part) {
    std::size_t digits = 0;
    while (digits < host.size() && is_digit(host[digits])) ++digits;
    if (digits == 0 || digits > 3 || digits == host.size() || host[digits] != '.') return false;
    host.remove_prefix(digits + 1);
  }
  return !host.empty() && is_digit(host.front());
}

// Percent-encodes bytes that RFC 3986 does not allow but people paste (UTF-8 in an IRI):
// Boost.URL then parses the URL, and a non-ASCII host is decoded again for IDNA.
std::string encode_non_ascii(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

struct idna_closer {
  void operator()(UIDNA* p) const { uidna_close(p); }
};

// UTS #46 ToASCII, nontransitional (as browsers do), STD3 rules, bidi and joiner checks.
std::variant<std::string, std::string> to_ascii(std::string_view name) {
  UErrorCode status = U_ZERO_ERROR;
  const std::unique_ptr<UIDNA, idna_closer> idna(uidna_openUTS46(
      UIDNA_USE_STD3_RULES | UIDNA_CHECK_BIDI | UIDNA_CHECK_CONTEXTJ | UIDNA_NONTRANSITIONAL_TO_ASCII, &status));
  if (U_FAILURE(status)) return std::variant<std::string, std::string>(std::in_place_index<1>, "IDNA is unavailable");
  std::array<char, 512> out{};
  UIDNAInfo info = UIDNA_INFO_INITIALIZER;
  const auto n = uidna_nameToASCII_UTF8(idna.get(), name.data(), static_cast<std::int32_t>(name.size()), out.data(),
                                        static_cast<std::int32_t>(out.size()), &info, &status);
  if (U_FAILURE(status) || info.errors != 0 || n <= 0 || static_cast<std::size_t>(n) >= out.size()) {
    return std::variant<std::string, std::string>(std::in_place_index<1>, "the host name is not a valid international domain name");
  }
  return std::variant<std::string, std::string>(std::in_place_index<0>, std::string(out.data(), static_cast<std::size_t>(n)));
}

bool ascii_host_char(char c) {
  return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '.' || c == '_';
}

url_refusal refuse(url_refusal_kind kind, std::string reason) { return url_refusal{kind, std::move(reason)}; }

// The host name a resolver will be asked for, or why there is none.
std::variant<std::string, url_refusal> check_name(const urls::url_view& u, const address_policy& p) {
  std::string name = u.host();  // percent-decoded
  if (name.empty()) return refuse(url_refusal_kind::malformed, "the URL has no host");
  const bool plain = u.encoded_host().find('%') == std::string_view::npos &&
                     std::all_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (plain) {
    std::transform(name.begin(), name.end(), name.begin(),
                   [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
    if (!std::all_of(name.begin(), name.end(), ascii_host_char))
      return refuse(url_refusal_kind::malformed, "the host name has characters a host name cannot have");
  } else {
    if (name.find('\0') != std::string::npos) return refuse(url_refusal_kind::malformed, "the host name holds a NUL");
    auto mapped = to_ascii(name);
    if (mapped.index() == 1) return refuse(url_refusal_kind::malformed, std::get<1>(mapped));
    name = std::move(std::get<0>(mapped));
  }
  if (!name.empty() && name.back() == '.') name.pop_back();  // the absolute form of the same name
  if (name.empty() || name.front() == '.' || name.back() == '.' || name.find("..") != std::string::npos ||
      name.size() > 253)
    return refuse(url_refusal_kind::malformed, "the host name is malformed");
  if (ends_in_number(name)) {
    return refuse(url_refusal_kind::address,
                  "the host \"" + name + "\" is a number in an odd form, which browsers read as an IPv4 address");
  }
  if (starts_like_ipv4(name))
    return refuse(url_refusal_kind::malformed, "the host \"" + name + "\" begins with an IPv4 address");
  if (!p.allow_loopback && (name == "localhost" || name.ends_with(".localhost")))
    return refuse(url_refusal_kind::address, "\"" + name + "\" names this machine");
  return name;
}

std::string_view to_string_view(urls::string_view s) { return {s.data(), s.size()}; }

}  // namespace

std::string_view to_string(address_class c) {
  switch (c) {
    case address_class::global: return "global";
    case address_class::loopback: return "loopback";
    case address_class::private_net: return "private";
    case address_class::shared: return "shared";
    case address_class::link_local: return "link-local";
    case address_class::multicast: return "multicast";
    case address_class::unspecified: return "unspecified";
    case address_class::reserved: return "reserved";
  }
  return "unknown";
}

address_class classify(const ip::address& a) {
  if (a.is_v4()) return classify_v4(a.to_v4().to_uint());
  return classify_v6(a.to_v6());
}

std::string address_refusal(const ip::address& a, std::uint16_t port, const address_policy& p) {
  if (p.blocked_ports.contains(port)) return "port " + std::to_string(port) + " is one of the daemon's own";
  const auto c = classify(a);
  if (c == address_class::global) return {};
  if (c == address_class::loopback && p.allow_loopback) return {};
  return std::string(phrase(c));
}

std::variant<checked_url, url_refusal> inspect_url(std::string_view text, const address_policy& p) {
  if (text.size() > 8192) return refuse(url_refusal_kind::malformed, "the URL is longer than 8192 characters");
  if (std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }))
    return refuse(url_refusal_kind::malformed, "the URL holds spaces or control characters");
  const std::string encoded = encode_non_ascii(text);
  const auto parsed = urls::parse_uri(encoded);
  if (!parsed) return refuse(url_refusal_kind::malformed, "not a valid URL");
  const urls::url_view& u = *parsed;

  checked_url out;
  if (u.scheme_id() == urls::scheme::https) {
    out.scheme = "https";
  } else if (u.scheme_id() == urls::scheme::http) {
    out.scheme = "http";
    if (!p.allow_http) return refuse(url_refusal_kind::insecure, "plain http:// is not read (https:// only)");
  } else {
    return refuse(url_refusal_kind::scheme, "only http:// and https:// URLs are read, not " +
                                                std::string(to_string_view(u.scheme())) + ":");
  }
  if (!u.has_authority()) return refuse(url_refusal_kind::malformed, "the URL has no host");
  // Boost.URL 1.81 reads "https://1.2.3.4.5/" as host 1.2.3.4 and path ".5/" (RFC 3986's
  // path-abempty must start with '/'): a browser would see another host than we would check.
  if (!u.encoded_path().empty() && u.encoded_path().front() != '/')
    return refuse(url_refusal_kind::malformed, "the host is malformed");
  if (u.has_userinfo()) return refuse(url_refusal_kind::malformed, "user names and passwords in URLs (user@host) are refused");

  // The port: absent or empty is the scheme's default; leading zeros are read as decimal.
  const std::uint16_t default_port = out.scheme == "https" ? 443 : 80;
  out.port = default_port;
  if (u.has_port() && !u.port().empty()) {
    const auto digits = to_string_view(u.port());
    unsigned long value = 0;
    for (char c : digits) {
      value = value * 10 + static_cast<unsigned long>(c - '0');
      if (value > 65535) return refuse(url_refusal_kind::malformed, "the port is out of range");
    }
    if (value == 0) return refuse(url_refusal_kind::malformed, "port 0 cannot be reached");
    out.port = static_cast<std::uint16_t>(value);
  }

  urls::url normal(u);
  normal.remove_fragment();
  if (normal.encoded_path().empty()) normal.set_encoded_path("/");
  normal.normalize();  // scheme and host case, percent-encoding case, dot segments
  if (out.port == default_port) normal.remove_port();
  else normal.set_port_number(out.port);

  std::optional<ip::address> literal;
  switch (u.host_type()) {
    case urls::host_type::ipv4:  // only canonical dotted decimal reaches this: "0177.0.0.1" is a name here
      literal = ip::address_v4(u.host_ipv4_address().to_uint());
      break;
    case urls::host_type::ipv6: {
      const auto bytes = u.host_ipv6_address().to_bytes();
      ip::address_v6::bytes_type b{};
      std::copy(bytes.begin(), bytes.end(), b.begin());
      literal = ip::address_v6(b);
      break;
    }
    case urls::host_type::ipvfuture:
      return refuse(url_refusal_kind::malformed, "IPvFuture hosts are refused");
    case urls::host_type::name: {
      auto name = check_name(u, p);
      if (name.index() == 1) return std::get<1>(std::move(name));
      out.host = std::move(std::get<0>(name));
      normal.set_encoded_host(out.host);  // the checked ASCII form is what a client sends
      break;
    }
    case urls::host_type::none:
    default:
      return refuse(url_refusal_kind::malformed, "the URL has no host");
  }
  if (literal) {
    out.host = literal->to_string();
    if (auto why = address_refusal(*literal, out.port, p); !why.empty())
      return refuse(url_refusal_kind::address, out.host + " is " + why);
  } else if (p.blocked_ports.contains(out.port)) {
    return refuse(url_refusal_kind::address, "port " + std::to_string(out.port) + " is one of the daemon's own");
  }

  out.target = std::string(to_string_view(normal.encoded_path()));
  if (normal.has_query()) out.target += "?" + std::string(to_string_view(normal.encoded_query()));
  out.text = std::string(to_string_view(normal.buffer()));
  return out;
}

std::variant<checked_url, url_refusal> inspect_redirect(const checked_url& base, std::string_view location,
                                                        const address_policy& p) {
  if (location.size() > 8192) return refuse(url_refusal_kind::malformed, "the Location is longer than 8192 characters");
  if (std::any_of(location.begin(), location.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
    return refuse(url_refusal_kind::malformed, "the Location holds control characters");
  // Spaces happen in Location headers in the wild; browsers encode them.
  std::string encoded;
  for (char c : encode_non_ascii(location)) {
    if (c == ' ') encoded += "%20";
    else encoded += c;
  }
  const auto ref = urls::parse_uri_reference(encoded);
  if (!ref) return refuse(url_refusal_kind::malformed, "the Location is not a valid URL");
  const auto b = urls::parse_uri(base.text);
  if (!b) return refuse(url_refusal_kind::malformed, "the base URL is not valid");
  urls::url dest;
  if (!urls::resolve(*b, *ref, dest)) return refuse(url_refusal_kind::malformed, "the Location cannot be resolved");
  return inspect_url(to_string_view(dest.buffer()), p);
}

std::variant<checked_url, std::string> check_url(std::string_view text, const address_policy& p) {
  auto r = inspect_url(text, p);
  if (r.index() == 0) return std::get<0>(std::move(r));
  return std::move(std::get<1>(r).reason);
}

std::variant<checked_url, std::string> resolve_redirect(const checked_url& base, std::string_view location,
                                                        const address_policy& p) {
  auto r = inspect_redirect(base, location, p);
  if (r.index() == 0) return std::get<0>(std::move(r));
  return std::move(std::get<1>(r).reason);
}

}  // namespace openclawd::net
