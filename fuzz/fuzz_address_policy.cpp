// libFuzzer target: net/address_policy (the page reader's SSRF classifier). The input is an
// untrusted URL, checked under a policy chosen by its last byte, and also a redirect Location
// resolved against a fixed base; its first 16 bytes are also an IPv6 address (and the first 4
// an IPv4 one) to classify. Checks: nothing crashes; an accepted URL checks again to the same
// text, host, port and target; an accepted host is lower-case ASCII without odd characters;
// an accepted IP-literal host is global (or loopback only under allow_loopback); an IPv4
// address classifies the same bare, IPv4-mapped and IPv4-compatible (outside ::/8's own
// loopback and unspecified).
#include "fuzz/fuzz_support.hpp"
#include "net/address_policy.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace openclawd::net;

namespace {

void check_accepted(const checked_url& u, const address_policy& p) {
  FUZZ_CHECK(u.scheme == "https" || (u.scheme == "http" && p.allow_http));
  FUZZ_CHECK(!u.host.empty());
  FUZZ_CHECK(u.port != 0);
  FUZZ_CHECK(!u.target.empty() && u.target.front() == '/');
  for (char c : u.host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == ':';
    FUZZ_CHECK(ok);
  }
  FUZZ_CHECK(p.blocked_ports.count(u.port) == 0);
  FUZZ_CHECK(u.text.find('#') == std::string::npos);

  boost::system::error_code ec;
  const auto literal = ip::make_address(u.host, ec);
  if (!ec) {
    const auto c = classify(literal);
    FUZZ_CHECK(c == address_class::global || (c == address_class::loopback && p.allow_loopback));
  } else {
    FUZZ_CHECK(p.allow_loopback || (u.host != "localhost" && !u.host.ends_with(".localhost")));
  }

  // Idempotent: what was accepted checks again to itself.
  const auto again = check_url(u.text, p);
  FUZZ_CHECK(again.index() == 0);
  const auto& v = std::get<checked_url>(again);
  FUZZ_CHECK(v.text == u.text);
  FUZZ_CHECK(v.host == u.host);
  FUZZ_CHECK(v.port == u.port);
  FUZZ_CHECK(v.target == u.target);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  address_policy p;
  const unsigned flags = size > 0 ? data[size - 1] : 0;
  p.allow_http = (flags & 1) != 0;
  p.allow_loopback = (flags & 2) != 0;
  if ((flags & 4) != 0) p.blocked_ports = {80, 443, 8080};

  const auto r = check_url(text, p);
  if (r.index() == 0) check_accepted(std::get<checked_url>(r), p);
  else FUZZ_CHECK(!std::get<std::string>(r).empty());

  static const checked_url base = [] {
    const auto b = check_url("https://example.com/dir/page?q=1", address_policy{});
    if (b.index() != 0) std::abort();
    return std::get<checked_url>(b);
  }();
  const auto redirected = resolve_redirect(base, text, p);
  if (redirected.index() == 0) check_accepted(std::get<checked_url>(redirected), p);

  if (size >= 16) {
    ip::address_v6::bytes_type b{};
    for (std::size_t i = 0; i < 16; ++i) b[i] = data[i];
    (void)classify(ip::address(ip::address_v6(b)));
    (void)address_refusal(ip::address(ip::address_v6(b)), 443, p);
  }
  if (size >= 4) {
    const ip::address_v4::bytes_type b4{data[0], data[1], data[2], data[3]};
    const auto v4 = ip::address_v4(b4);
    const auto bare = classify(ip::address(v4));
    ip::address_v6::bytes_type m{};
    m[10] = 0xff;
    m[11] = 0xff;
    for (int i = 0; i < 4; ++i) m[12 + static_cast<std::size_t>(i)] = b4[static_cast<std::size_t>(i)];
    FUZZ_CHECK(classify(ip::address(ip::address_v6(m))) == bare);
    m[10] = m[11] = 0;
    const auto compat = classify(ip::address(ip::address_v6(m)));
    const std::uint32_t x = v4.to_uint();
    if (x > 1) FUZZ_CHECK(compat == bare);  // ::0 and ::1 are IPv6's own
  }
  return 0;
}
