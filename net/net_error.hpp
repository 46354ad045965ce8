// Error codes of the remote HTTP(S) client (net/https_client.hpp) and URL parser
// (net/url.hpp): one enum and one category, in the style of core/error.hpp. Timeouts are
// openclawd::errc::timeout; socket, TLS and Beast codes pass through unchanged.
// Pure values: no state, usable from any thread.
#pragma once

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace openclawd::net {

enum class net_errc {
  ok = 0,
  bad_url = 1,          // not http(s)://host[:port][/path][?query], or a part is malformed
  insecure_scheme,      // plain http:// to a host that is not loopback (127.0.0.0/8, ::1, localhost)
  not_loopback,         // an http:// host name resolved to an address that is not loopback
  tls_setup_failed,     // the trust store, the extra CA or the SNI name could not be set up
  no_address,           // the host name resolved to no address
  bad_header,           // a request header name or value holds a line break or is empty
};

const boost::system::error_category& net_category() noexcept;

inline boost::system::error_code make_error_code(net_errc e) noexcept {
  return {static_cast<int>(e), net_category()};
}

}  // namespace openclawd::net

template <>
struct boost::system::is_error_code_enum<openclawd::net::net_errc> : std::true_type {};
