#include "app/admin_server.hpp"

#include "core/log.hpp"

#include <array>
#include <cctype>
#include <exception>
#include <string_view>

namespace openclawd::app {
namespace {
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using response = http::response<http::string_body>;

constexpr std::string_view component = "admin";

response text_response(const http::request<http::string_body>& req, http::status status, std::string body,
                       std::string_view content_type = "text/plain; charset=utf-8") {
  response res{status, req.version()};
  res.set(http::field::server, "openclawd");
  res.set(http::field::content_type, content_type);
  // Live numbers: a cached copy is a wrong copy.
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

// Closes after an answer that ends the connection early (403, 4xx): half-close, then read
// and drop what the client still sends, briefly. Closing a socket with unread input makes
// the kernel send RST, which can destroy the answer before the client has read it.
asio::awaitable<void> linger_close(beast::tcp_stream& stream) {
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  stream.expires_after(1s);
  std::array<char, 4096> sink{};
  for (std::size_t total = 0; total < 256 * 1024;) {
    auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
    if (rec) break;  // eof (the client closed too), or the deadline
    total += n;
  }
}

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

// The request's path without its query string (Prometheus and browsers may add one).
std::string_view path_of(std::string_view target) {
  const auto q = target.find_first_of("?#");
  return q == std::string_view::npos ? target : target.substr(0, q);
}

}  // namespace

bool admin_peer_allowed(const asio::ip::address& peer) noexcept {
  if (peer.is_v4()) return peer.to_v4().is_loopback();
  const auto v6 = peer.to_v6();
  if (v6.is_loopback()) return true;
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).is_loopback();
  return false;
}

bool admin_host_allowed(std::string_view host) {
  if (host.empty()) return true;  // HTTP/1.0 clients may send none
  std::string_view name = host;
  if (name.starts_with('[')) {
    const auto close = name.find(']');
    if (close == std::string_view::npos) return false;
    const auto rest = name.substr(close + 1);
    if (!rest.empty() && (rest[0] != ':' || rest.find_first_not_of("0123456789", 1) != std::string_view::npos))
      return false;
    name = name.substr(1, close - 1);
    return name == "::1";
  }
  if (const auto colon = name.rfind(':'); colon != std::string_view::npos) {
    if (name.find_first_not_of("0123456789", colon + 1) != std::string_view::npos) return false;
    name = name.substr(0, colon);
  }
  if (name.size() == 9 || name.size() == 10) {
    std::string lower(name);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "localhost" || lower == "localhost.") return true;
  }
  boost::system::error_code ec;
  const auto a = asio::ip::make_address_v4(std::string(name), ec);
  return !ec && a.is_loopback();
}

struct admin_server::state {
  asio::any_io_executor ex;
  int port = 0;
  admin_limits limits;
  tcp::acceptor acceptor;
  std::function<std::string()> status_json;
  page_renderer page;
  std::vector<metrics_collector> collectors;
  std::vector<std::function<page_section()>> sections;
  std::function<bool(const asio::ip::address&)> peer_allowed = admin_peer_allowed;
  admin_stats stats;

  state(asio::any_io_executor e, int p, admin_limits l) : ex(e), port(p), limits(l), acceptor(e) {}

  std::string metrics() const {
    core::prometheus_writer w;
    for (const auto& c : collectors) c(w);
    return w.text();
  }

  response route(const http::request<http::string_body>& req) const {
    const auto path = path_of(sv(req.target()));
    enum class page_kind { none, status, metrics, html } kind = page_kind::none;
    if (path == "/status") kind = page_kind::status;
    else if (path == "/metrics") kind = page_kind::metrics;
    else if (path == "/" || path == "/index.html") kind = page_kind::html;
    if (kind == page_kind::none)
      return text_response(req, http::status::not_found,
                           "not found: the admin endpoint serves /, /status and /metrics\n");
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      auto res = text_response(req, http::status::method_not_allowed, "only GET and HEAD: the endpoint is read-only\n");
      res.set(http::field::allow, "GET, HEAD");
      return res;
    }
    response res;
    switch (kind) {
      case page_kind::status:
        res = text_response(req, http::status::ok, status_json ? status_json() + "\n" : "{}\n", "application/json");
        break;
      case page_kind::metrics:
        res = text_response(req, http::status::ok, metrics(), core::prometheus_writer::content_type);
        break;
      case page_kind::html: {
        std::vector<page_section> extra;
        for (const auto& s : sections) extra.push_back(s());
        res = text_response(req, http::status::ok, page ? page(extra) : std::string("<!doctype html>\n"),
                            "text/html; charset=utf-8");
        // Everything the page needs is inline; nothing may load or run (a model path in the
        // YAML is escaped, and this makes sure a mistake there cannot become a script).
        res.set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
        break;
      }
      case page_kind::none: break;
    }
    if (req.method() == http::verb::head) {
      // The same headers as GET, Content-Length included, and no body.
      const auto length = res.body().size();
      res.body().clear();
      res.content_length(length);
    }
    return res;
  }

  response answer(const http::request<http::string_body>& req) const {
    try {
      return route(req);
    } catch (const std::exception& e) {
      // A collector or renderer bug must not take the daemon down, nor leave the client waiting.
      core::log_error(component, std::string(req.target()) + ": " + e.what());
      return text_response(req, http::status::internal_server_error,
                           "internal error; the daemon log has the details\n");
    }
  }
};

admin_server::admin_server(asio::any_io_executor ex, int port, admin_limits limits)
    : state_(std::make_shared<state>(ex, port, limits)) {}

admin_server::~admin_server() { stop(); }

void admin_server::set_status(std::function<std::string()> status_json) {
  state_->status_json = std::move(status_json);
}
void admin_server::set_page(page_renderer page) { state_->page = std::move(page); }
void admin_server::add_collector(metrics_collector collector) { state_->collectors.push_back(std::move(collector)); }
void admin_server::add_page_section(std::function<page_section()> section) {
  state_->sections.push_back(std::move(section));
}
void admin_server::set_peer_filter(std::function<bool(const asio::ip::address&)> allowed) {
  state_->peer_allowed = std::move(allowed);
}
const admin_stats& admin_server::stats() const noexcept { return state_->stats; }
std::string admin_server::render_metrics() const { return state_->metrics(); }

std::string admin_server::start() {
  auto& acc = state_->acceptor;
  const tcp::endpoint ep(asio::ip::address_v4::loopback(), static_cast<unsigned short>(state_->port));
  const std::string where = "127.0.0.1:" + std::to_string(state_->port);
  boost::system::error_code ec;
  acc.open(ep.protocol(), ec);
  // SO_REUSEADDR: a daemon restarted right after a stop may bind while old connections are in
  // TIME_WAIT. (It does not let two listeners share the port on Linux or macOS.)
  if (!ec) acc.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    acc.close();
    if (ec == asio::error::address_in_use)
      return where + " is already in use (another program, or another openclawd); change admin.port";
    return "cannot listen on " + where + ": " + ec.message();
  }
  asio::co_spawn(state_->ex, accept_loop(state_), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      core::log_error(component, std::string("accept loop failed: ") + ex.what());
    }
  });
  return {};
}

void admin_server::stop() {
  boost::system::error_code ec;
  state_->acceptor.close(ec);  // the accept loop ends with operation_aborted
}

asio::ip::tcp::endpoint admin_server::local_endpoint() const {
  boost::system::error_code ec;
  return state_->acceptor.local_endpoint(ec);
}

http::response<http::string_body> admin_server::respond(const http::request<http::string_body>& req) const {
  return state_->answer(req);
}

asio::awaitable<void> admin_server::accept_loop(std::shared_ptr<state> st) {
  asio::steady_timer pause(st->ex);
  for (;;) {
    auto [ec, socket] = co_await st->acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !st->acceptor.is_open()) co_return;  // stop()
    if (ec) {
      // Out of file descriptors, most likely: wait a little instead of spinning on the error.
      core::log_warn(component, "accept failed: " + ec.message());
      pause.expires_after(100ms);
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (st->stats.connections >= st->limits.max_connections) {
      ++st->stats.refused_connections;
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    ++st->stats.connections;
    asio::co_spawn(st->ex, serve(st, std::move(socket)), [st](std::exception_ptr e) {
      --st->stats.connections;
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        core::log_error(component, std::string("connection failed: ") + ex.what());
      }
    });
  }
}

asio::awaitable<void> admin_server::serve(std::shared_ptr<state> st, asio::ip::tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  boost::system::error_code ec;
  const auto peer = stream.socket().remote_endpoint(ec);
  if (ec) co_return;  // already gone
  auto finish = [&stream] {
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  };
  auto refuse = [&](const http::request<http::string_body>& req, std::string why) -> asio::awaitable<void> {
    ++st->stats.refused_peers;
    auto res = text_response(req, http::status::forbidden, std::move(why));
    res.keep_alive(false);
    stream.expires_after(st->limits.write_timeout);
    co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
    co_await linger_close(stream);
  };
  if (!st->peer_allowed(peer.address())) {
    core::log_warn(component, "refused a connection from " + peer.address().to_string() + ": not loopback");
    const http::request<http::string_body> none;  // HTTP/1.1 defaults for the answer
    co_await refuse(none, "forbidden: the admin endpoint answers only this machine\n");
    co_return;
  }

  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(st->limits.header_limit);
    parser.body_limit(st->limits.body_limit);
    // Also the keep-alive idle time: a client that sends nothing is dropped after it.
    stream.expires_after(st->limits.read_timeout);
    auto [rec, n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (rec == http::error::end_of_stream || rec == beast::error::timeout || rec == asio::error::connection_reset ||
        rec == asio::error::operation_aborted || rec == asio::error::eof) {
      break;  // the client hung up or went quiet: nothing to answer
    }
    if (rec) {
      // Malformed, or over a limit: say so once and close (the stream cannot be resynced).
      const http::request<http::string_body> none;
      const auto status = rec == http::error::header_limit ? http::status::request_header_fields_too_large
                          : rec == http::error::body_limit ? http::status::payload_too_large
                                                           : http::status::bad_request;
      auto res = text_response(none, status, "bad request: " + rec.message() + "\n");
      res.keep_alive(false);
      stream.expires_after(st->limits.write_timeout);
      co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
      co_await linger_close(stream);
      co_return;
    }
    const auto& req = parser.get();
    ++st->stats.requests;
    if (!admin_host_allowed(sv(req[http::field::host]))) {
      core::log_warn(component, "refused a request for Host \"" + std::string(req[http::field::host]) +
                                    "\": not a loopback name (DNS rebinding?)");
      co_await refuse(req, "forbidden: the Host header must be 127.0.0.1 or localhost\n");
      co_return;
    }
    auto res = st->answer(req);
    stream.expires_after(st->limits.write_timeout);
    auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
    if (wec || !res.keep_alive()) break;
  }
  finish();
}

}  // namespace openclawd::app
