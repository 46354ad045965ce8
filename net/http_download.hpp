// A streamed GET for large files (model downloads): the body is handed to a sink piece by
// piece as it arrives, never held in memory, so a 15 GB file costs one buffer. HTTPS with
// verified TLS (net/tls.hpp), or plain http:// to loopback only (a local mirror, tests).
// Deadlines: connect (DNS, TCP, TLS each), the response headers, and an idle limit re-armed
// for every read, so a stalled transfer ends however large the file is. One request per
// connection; redirects are not followed (the caller decides, as the Hub's rules differ for
// relative and absolute ones). Coroutine-based: call from the io_context's thread.
#pragma once

#include "core/error.hpp"
#include "net/asio.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace openclawd::net {

struct download_timeouts {
  std::chrono::milliseconds connect{std::chrono::seconds(15)};  // each of DNS, TCP connect, TLS handshake
  std::chrono::milliseconds headers{std::chrono::seconds(30)};  // request written, response headers read
  std::chrono::milliseconds idle{std::chrono::seconds(30)};     // between two pieces of the body
};

struct download_response;

struct download_request {
  http::verb method = http::verb::get;  // GET, or HEAD for the headers alone
  std::string url;                      // https://..., or http:// to a loopback host
  std::vector<std::pair<std::string, std::string>> headers;  // after User-Agent and Accept-Encoding: identity
  // Called once the status and headers are in, before any of the body reaches the sink (a
  // resume must know whether the server honoured its Range). An error code ends the request.
  std::function<boost::system::error_code(const download_response&)> on_headers;
};

struct download_response {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;            // a non-2xx answer's body (at most 64 KiB), for its error text
  std::uint64_t body_bytes = 0;  // a 2xx body's bytes handed to the sink

  std::optional<std::string_view> header(std::string_view name) const;  // case-insensitive
};

// Receives a 2xx body. An error code stops the transfer and is returned as the result.
using download_sink = std::function<boost::system::error_code(std::string_view)>;

// Sends one request. A 2xx body goes to `sink`; the result is the status and headers once the
// body has ended. A transfer cut short (the peer closed, the idle limit) is an error: what the
// sink got so far is valid, so the caller can resume with a Range request. `tls` is the client
// context for https:// (with the roots loaded); it may be null for loopback http:// only.
// Errors: net_errc (bad_url, insecure_scheme, not_loopback), errc::timeout, socket/TLS/Beast
// codes (http::error::partial_message when the body ended early), or the sink's own code.
asio::awaitable<result<download_response>> http_download(std::shared_ptr<asio::ssl::context> tls,
                                                         download_request req, download_timeouts timeouts,
                                                         download_sink sink);

}  // namespace openclawd::net
