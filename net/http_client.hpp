// HTTP/1.1 clients for loopback peers (llama-server). Two shapes:
//  - http_get(): one request on a fresh connection under one deadline (health probes);
//  - http_client: keep-alive connections to one endpoint, whole-body or streamed
//    responses, with separate deadlines for connect, first byte and idle gaps.
// Coroutine-based; an http_client belongs to one io_context thread (no locks).
// Errors are values: asio/beast codes pass through (connection_refused,
// beast::error::timeout, http::error::body_limit, ...).
#pragma once

#include "core/error.hpp"
#include "net/asio.hpp"

#include <chrono>
#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace openclawd::net {

struct http_response {
  unsigned status = 0;
  std::string body;  // for streamed 2xx answers: empty (the pieces went to the handler)
};

struct http_get_options {
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};  // whole exchange
  std::size_t body_limit = 1024 * 1024;                         // larger answers are an error
};

// Where an http_client connects: an IP address, or a host name that is looked up again for
// every new connection (under the connect deadline), so that a server on the LAN may move.
struct http_peer {
  std::string host;  // "127.0.0.1", "192.168.1.20", "::1" (no brackets), "gpu-box.local"
  std::uint16_t port = 0;

  static http_peer of(const asio::ip::tcp::endpoint& ep) { return {ep.address().to_string(), ep.port()}; }
  // The Host header: host:port, an IPv6 address in brackets.
  std::string authority() const;
};

// `host` (an IP literal needs no lookup) as an endpoint, within `timeout`. getaddrinfo cannot
// be interrupted, so a late answer is dropped: errc::timeout at the deadline.
asio::awaitable<result<asio::ip::tcp::endpoint>> resolve_endpoint(std::string host, std::uint16_t port,
                                                                  std::chrono::milliseconds timeout);

// GET http://<endpoint><target>. Sends `Connection: close`.
asio::awaitable<result<http_response>> http_get(asio::ip::tcp::endpoint endpoint, std::string target,
                                                http_get_options options = {});

struct http_request {
  http::verb method = http::verb::get;
  std::string target = "/";
  std::string body;                                         // sent as application/json when non-empty
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. {"Authorization", "Bearer …"}
};

struct http_deadlines {
  std::chrono::milliseconds connect{std::chrono::seconds(5)};
  // Until the response headers arrive. Long on purpose: llama-server sends nothing at all,
  // not even headers, while a request waits for a busy slot or a CPU model reads its prompt.
  std::chrono::milliseconds first_byte{std::chrono::minutes(10)};
  // Between two pieces of the body once it flows (tokens, SSE pings, progress events).
  std::chrono::milliseconds idle{std::chrono::minutes(2)};
};

struct http_client_stats {
  std::uint64_t connects = 0;  // new TCP connections made
  std::uint64_t requests = 0;  // requests sent (including retries)
  std::uint64_t retries = 0;   // requests resent after a kept-alive connection turned out dead
  // Exchanges under way, and when the last one ended: how a liveness probe that costs the
  // server work (a test completion) knows that nobody else is asking it anything.
  int in_flight = 0;
  std::chrono::steady_clock::time_point last_done{};
};

// Lets other code end a stream while it waits for data (a watchdog that learned the answer is
// worthless from elsewhere, e.g. llama-server's /slots): stop() closes the connection, which
// makes llama-server stop generating, and the stream returns what it had (its status, no error).
// Belongs to one stream at a time, on the same thread.
class stream_stop {
 public:
  void stop();
  bool stopped() const noexcept { return stopped_; }

 private:
  friend class http_client;
  beast::tcp_stream* stream_ = nullptr;  // while the stream runs
  bool stopped_ = false;
};

class http_client {
 public:
  // Returns false to stop reading: the connection is closed, which makes llama-server
  // stop generating for that request.
  using data_handler = std::function<bool(std::string_view)>;

  http_client(asio::any_io_executor ex, asio::ip::tcp::endpoint endpoint, std::size_t max_idle = 4);
  http_client(asio::any_io_executor ex, http_peer peer, std::size_t max_idle = 4);

  // The whole body, at most `body_limit` bytes.
  asio::awaitable<result<http_response>> request(http_request req, http_deadlines deadlines,
                                                 std::size_t body_limit = 16 * 1024 * 1024);

  // A 2xx body is handed to `on_data` piece by piece as it arrives; any other status is
  // returned with its (capped) body, for the caller to decode the error. The connection
  // is closed afterwards (llama-server does not keep streamed connections alive).
  // `stop` (optional, must outlive the call) ends it early from outside.
  asio::awaitable<result<http_response>> stream(http_request req, http_deadlines deadlines, data_handler on_data,
                                                stream_stop* stop = nullptr);

  // Drops kept-alive connections (e.g. after the node behind the endpoint restarted).
  void close_idle() { idle_.clear(); }
  // New requests go to `peer` (a reload moved the node); requests under way finish where they are.
  void set_peer(http_peer peer) {
    peer_ = std::move(peer);
    idle_.clear();
  }
  const http_client_stats& stats() const noexcept { return stats_; }
  const http_peer& peer() const noexcept { return peer_; }

 private:
  struct idle_connection {
    beast::tcp_stream stream;
    std::chrono::steady_clock::time_point since;
  };
  asio::awaitable<result<http_response>> exchange(const http_request& req, const http_deadlines& d,
                                                  std::size_t body_limit, const data_handler* on_data,
                                                  stream_stop* stop);

  asio::any_io_executor ex_;
  http_peer peer_;
  std::size_t max_idle_;
  std::deque<idle_connection> idle_;
  http_client_stats stats_;
};

}  // namespace openclawd::net
