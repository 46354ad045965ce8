// The loopback admin endpoint (issue 6): a small HTTP/1.1 server on the daemon's io_context,
// bound to 127.0.0.1:<admin.port>, serving
//   GET /status   the JSON of `openclawd status --json`, from the live supervisor
//   GET /metrics  Prometheus text format 0.0.4, from a list of collectors (one per source)
//   GET /         a small self-contained HTML status page
// It is read-only and has no authentication, so it must never be reachable from another
// machine: the bind is to 127.0.0.1, every peer is checked to be loopback anyway, and the
// Host header must name a loopback host (a web page in the user's browser cannot use DNS
// rebinding to read it). The content comes from callbacks the daemon registers; this file
// only speaks HTTP. Every read and write has a deadline, requests are size-capped, and
// connections are capped. One thread (the daemon's): no locks.
#pragma once

#include "core/prometheus.hpp"
#include "net/asio.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace openclawd::app {

// 127.0.0.0/8, ::1, and 127.x as an IPv4-mapped IPv6 address.
bool admin_peer_allowed(const asio::ip::address& peer) noexcept;
// The Host header of a request to the endpoint: empty (HTTP/1.0), or 127.x.y.z, localhost or
// [::1], with or without a port.
bool admin_host_allowed(std::string_view host);

// Adds its families and samples to the exposition; runs on every GET /metrics.
using metrics_collector = std::function<void(core::prometheus_writer&)>;
// A titled block of the HTML page: (name, value) rows of plain text (the page escapes them).
struct page_section {
  std::string title;
  std::vector<std::pair<std::string, std::string>> rows;
};
// Builds the whole HTML page; `extra` are the sections added with add_page_section().
using page_renderer = std::function<std::string(const std::vector<page_section>& extra)>;

struct admin_limits {
  std::chrono::milliseconds read_timeout{std::chrono::seconds(10)};  // one request; also the keep-alive idle time
  std::chrono::milliseconds write_timeout{std::chrono::seconds(10)};
  std::uint32_t header_limit = 8 * 1024;  // a browser's request is well under 2 KiB
  std::uint64_t body_limit = 16 * 1024;   // GET and HEAD have no body; anything larger is refused
  int max_connections = 16;               // more at once are closed on accept
};

struct admin_stats {
  std::uint64_t requests = 0;
  std::uint64_t refused_peers = 0;        // non-loopback peers and foreign Host headers (403)
  std::uint64_t refused_connections = 0;  // closed on accept: max_connections reached
  int connections = 0;                    // open now
};

class admin_server {
 public:
  admin_server(asio::any_io_executor ex, int port, admin_limits limits = {});
  ~admin_server();  // closes the listening socket; open connections end with the io_context
  admin_server(const admin_server&) = delete;
  admin_server& operator=(const admin_server&) = delete;

  void set_status(std::function<std::string()> status_json);
  void set_page(page_renderer page);
  void add_collector(metrics_collector collector);
  void add_page_section(std::function<page_section()> section);
  // For tests only: replaces admin_peer_allowed (the bind makes a foreign peer impossible).
  void set_peer_filter(std::function<bool(const asio::ip::address&)> allowed);

  // Binds 127.0.0.1:<port> and starts accepting. Returns "" or why not ("127.0.0.1:8090 is
  // already in use (...)"), and then the daemon runs without the endpoint.
  std::string start();
  void stop();  // stops accepting; open connections finish their current request
  asio::ip::tcp::endpoint local_endpoint() const;

  // One request's response, without a socket: routing, 404/405, and never a throw (an
  // escaped exception becomes a 500 and a log line).
  http::response<http::string_body> respond(const http::request<http::string_body>& req) const;
  std::string render_metrics() const;
  const admin_stats& stats() const noexcept;

 private:
  struct state;
  static asio::awaitable<void> accept_loop(std::shared_ptr<state> st);
  static asio::awaitable<void> serve(std::shared_ptr<state> st, asio::ip::tcp::socket socket);
  // Shared with the coroutine frames, which the io_context may destroy after this object.
  std::shared_ptr<state> state_;
};

}  // namespace openclawd::app
