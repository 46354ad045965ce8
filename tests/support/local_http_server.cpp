#include "tests/support/local_http_server.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace openclawd::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

struct local_http_server::impl {
  // Declared before ioc so that it outlives the TLS streams in coroutine frames, which die
  // with the io_context.
  std::optional<asio::ssl::context> tls;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  local_http_server* owner = nullptr;
  bool silent = false;
  bool keep_alive = false;

  canned_response answer(const recorded_request& r) {
    handler h;
    {
      std::lock_guard lock(owner->mutex_);
      owner->requests_.push_back(r);
      h = owner->handler_;
    }
    return h ? h(r) : canned_response{404, {}, "no handler", false, false};
  }

  // Holds a connection open, doing nothing, until the server stops.
  asio::awaitable<void> idle_forever() {
    asio::steady_timer t(ioc, asio::steady_timer::time_point::max());
    (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }

  // The hostile answers of canned_response: an endless chunked body, or headers and silence.
  template <class Stream>
  asio::awaitable<void> misbehave(Stream& stream, const canned_response& c) {
    std::string head = "HTTP/1.1 " + std::to_string(c.status) + " OK\r\n";
    for (const auto& [k, v] : c.headers) head += k + ": " + v + "\r\n";
    head += c.endless ? "Transfer-Encoding: chunked\r\n\r\n" : "Content-Length: 1073741824\r\n\r\n";
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(head), asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    if (!c.endless) {
      co_await idle_forever();
      co_return;
    }
    std::ostringstream size;
    size << std::hex << c.body.size();
    const std::string chunk = size.str() + "\r\n" + c.body + "\r\n";
    for (;;) {  // until the client closes (an error) or the server stops
      auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(chunk), asio::as_tuple(asio::use_awaitable));
      if (wec) co_return;
    }
  }

  struct served {
    bool written = false;  // an answer went out
    bool again = false;    // and the connection may carry another request (keep-alive)
  };

  template <class Stream>
  asio::awaitable<served> serve_one(Stream& stream, beast::flat_buffer& buffer, const std::string& sni) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return served{};
    const auto& req = parser.get();
    recorded_request r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    for (const auto& f : req.base()) r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    r.body = req.body();
    r.sni = sni;
    r.received = std::chrono::steady_clock::now();
    const int now_active = ++owner->active_;
    for (int m = owner->max_concurrent_.load(); now_active > m && !owner->max_concurrent_.compare_exchange_weak(m, now_active);) {
    }
    canned_response c = answer(r);
    if (c.never_answer) {
      co_await idle_forever();
      --owner->active_;
      co_return served{};
    }
    if (c.endless || c.stall_after_headers) {
      co_await misbehave(stream, c);
      --owner->active_;
      co_return served{};
    }
    http::response<http::string_body> res{static_cast<http::status>(c.status), 11};
    for (const auto& [k, v] : c.headers) res.set(k, v);
    const bool again = keep_alive && req.keep_alive() && !c.close_after;
    res.keep_alive(keep_alive && req.keep_alive());
    res.body() = std::move(c.body);
    if (c.chunked) {
      res.chunked(true);
    } else {
      res.prepare_payload();
    }
    --owner->active_;
    auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
    if (c.close_after) {  // no close_notify either: the client sees FIN, as after a reset
      beast::error_code ignored;
      beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
      ++owner->closed_after_answer_;
    }
    served out;
    out.written = !wec && !c.close_after;
    out.again = !wec && again;
    co_return out;
  }

  // Requests on one connection, in order; true when the last answer was written.
  template <class Stream>
  asio::awaitable<bool> serve(Stream& stream, const std::string& sni) {
    beast::flat_buffer buffer;
    for (;;) {
      const served s = co_await serve_one(stream, buffer, sni);
      if (!s.again) co_return s.written;
    }
  }

  asio::awaitable<void> session(tcp::socket socket) {
    ++owner->connections_;
    if (silent) {
      co_await idle_forever();
      co_return;
    }
    if (!tls) {
      beast::tcp_stream stream(std::move(socket));
      co_await serve(stream, "");
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
    if (hec) co_return;  // e.g. the client refused our certificate: nothing was sent
    beast::get_lowest_layer(stream).expires_never();
    const char* name = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
    if (co_await serve(stream, name != nullptr ? name : "")) {
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
      (void)co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
    }
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(ioc, session(std::move(socket)), asio::detached);
    }
  }
};

std::optional<std::string> recorded_request::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return std::nullopt;
}

local_http_server::local_http_server(handler h, server_options options)
    : impl_(std::make_unique<impl>()), handler_(std::move(h)) {
  impl_->owner = this;
  impl_->silent = options.silent;
  impl_->keep_alive = options.keep_alive;
  if (options.tls_cert_pem && options.tls_key_pem) {
    tls_ = true;
    impl_->tls.emplace(asio::ssl::context::tls_server);
    impl_->tls->use_certificate_chain(asio::buffer(*options.tls_cert_pem));
    impl_->tls->use_private_key(asio::buffer(*options.tls_key_pem), asio::ssl::context::pem);
  }
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached);
  thread_ = std::thread([this] { impl_->ioc.run(); });
}

local_http_server::~local_http_server() {
  impl_->ioc.stop();
  thread_.join();
}

std::string local_http_server::url(std::string_view path) const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

void local_http_server::set_handler(handler h) {
  std::lock_guard lock(mutex_);
  handler_ = std::move(h);
}

std::vector<recorded_request> local_http_server::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t local_http_server::request_count() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

local_http_server::handler always(canned_response r) {
  return [r](const recorded_request&) { return r; };
}

std::string read_fixture(const std::string& relative) {
  const std::string path = std::string(OPENCLAWD_TEST_FIXTURES) + "/" + relative;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read fixture " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace openclawd::test
