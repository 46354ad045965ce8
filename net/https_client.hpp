// An HTTP/1.1 client for remote hosts over TLS (and plain http:// to loopback only): the
// web-search tool's fetcher and the Telegram channel's. By default one request per connection
// (`Connection: close`); with keep_alive_options, idle connections are kept per origin and
// reused, which saves a TCP and TLS handshake (and their round trips) per request. A deadline
// on every step (resolve, connect, TLS handshake, write, read) and on the whole exchange;
// response bodies capped. Coroutine-based: call request() from the io_context's thread. A
// client is cheap to copy (copies share the TLS context and the idle connections).
#pragma once

#include "core/error.hpp"
#include "net/asio.hpp"
#include "net/tls.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace openclawd::net {

struct https_request {
  http::verb method = http::verb::get;
  std::string url;  // https://host[:port]/path?query; http:// only for loopback hosts
  // Sent as given, after the client's defaults (User-Agent: openclawd/VERSION,
  // Accept-Encoding: identity) so they can be overridden. Host, Connection and
  // Content-Length are the client's own and always win.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // e.g. form_encode(...) with Content-Type: application/x-www-form-urlencoded
};

// Each step has its own limit, and all steps together stay within `total`.
struct https_timeouts {
  std::chrono::milliseconds resolve{std::chrono::seconds(10)};    // DNS (not covered by socket timers)
  std::chrono::milliseconds connect{std::chrono::seconds(10)};    // TCP, all addresses of the name
  std::chrono::milliseconds handshake{std::chrono::seconds(10)};  // TLS
  std::chrono::milliseconds write{std::chrono::seconds(10)};      // the request
  std::chrono::milliseconds read{std::chrono::seconds(30)};       // status line, headers and body
  std::chrono::milliseconds total{std::chrono::seconds(60)};
};

struct https_options {
  https_timeouts timeouts;
  std::size_t body_limit = 4 * 1024 * 1024;  // a longer body is http::error::body_limit
  std::uint32_t header_limit = 64 * 1024;    // longer headers are http::error::header_limit
  // Set to true once the whole request has been written. After that, a failure is
  // ambiguous: the server may have acted on the request (a Telegram message may have been
  // delivered), so a caller that must not do a thing twice does not simply retry.
  bool* request_written = nullptr;
};

struct https_response {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // in the order received
  std::string body;

  // The first header with this name (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
};

// Reusing connections. A request on a reused connection that fails is handled like any
// other failure (a written request is ambiguous, see https_options::request_written), so the
// one new risk is a server closing an idle connection just as a request is written on it.
// Two rules make that rare: a connection idle for longer than max_idle is closed, not reused
// (servers time idle connections out after tens of seconds: nginx 75 s), and before reuse the
// socket is checked for a close or stray bytes from the server (either: it is not reused).
struct keep_alive_options {
  std::size_t max_idle_per_origin = 4;  // more idle connections than this: the oldest is closed
  std::chrono::milliseconds max_idle{std::chrono::seconds(15)};
};

// Counters, for tests and metrics.
struct https_client_stats {
  std::uint64_t connections_opened = 0;  // TCP connects (each with a TLS handshake for https)
  std::uint64_t connections_reused = 0;  // requests sent on a kept connection
};

class https_client {
 public:
  // Builds the TLS context (options.extra_ca_pem) once; the system roots are loaded into it
  // with the first https request (a client that only speaks plain http to loopback, as in
  // tests and benchmarks, never pays the ~20 ms of parsing the CA bundle). Without
  // keep_alive, every request has a connection of its own.
  static result<https_client> create(const tls_options& options = {},
                                     std::optional<keep_alive_options> keep_alive = std::nullopt);
  // A ready context (its trust store as the caller set it up).
  explicit https_client(std::shared_ptr<asio::ssl::context> tls) : tls_(std::make_shared<tls_state>()) {
    tls_->ctx = std::move(tls);
    tls_->roots_loaded = true;
  }

  // Sends one request and reads the whole response. Any HTTP status is a response, not an
  // error; redirects are not followed. Errors: net_errc (bad_url, insecure_scheme,
  // not_loopback, bad_header, no_address), openclawd::errc::timeout for any deadline,
  // and socket, TLS (e.g. certificate verify failed) and Beast codes (body_limit) as-is.
  asio::awaitable<result<https_response>> request(https_request req, https_options options = {}) const;

  https_client_stats stats() const;
  // Closes the kept connections (they hold sockets of the io_context). Also done when the
  // last copy of the client is destroyed.
  void close_idle() const;

 private:
  struct pool;
  struct tls_state {  // shared by the copies of a client
    std::shared_ptr<asio::ssl::context> ctx;
    bool roots_loaded = false;
  };
  std::shared_ptr<tls_state> tls_;
  std::shared_ptr<pool> pool_;  // null: no keep-alive
  std::shared_ptr<https_client_stats> stats_ = std::make_shared<https_client_stats>();
};

}  // namespace openclawd::net
