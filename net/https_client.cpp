// The remote HTTP(S) client. Every step runs under a deadline: Beast stream timers for
// connect, handshake, write and read (expires_after before each), and a steady_timer raced
// against the resolver (net/step_deadline.hpp), because DNS runs outside the socket and no
// stream timer covers it.
#include "net/https_client.hpp"

#include "core/log.hpp"
#include "net/net_error.hpp"
#include "net/step_deadline.hpp"
#include "net/url.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <deque>
#include <map>

#include <sys/socket.h>

namespace openclawd::net {
namespace {

using clock = std::chrono::steady_clock;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;
using detail::step_budget;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool header_ok(std::string_view s) {
  return s.find_first_of("\r\n") == std::string_view::npos && s.find('\0') == std::string_view::npos;
}

// One request and its response on a connected stream. `reusable` (when not null) asks for
// keep-alive and is set when the connection may carry another request: the server agreed and
// the response ended by its length, not by the server closing.
template <class Stream>
asio::awaitable<result<https_response>> exchange(Stream& stream, const url& u, const https_request& req,
                                                 const https_options& opt, clock::time_point end,
                                                 bool* reusable = nullptr) {
  http::request<http::string_body> msg{req.method, u.target, 11};
  msg.set(http::field::user_agent, "openclawd/" OPENCLAWD_VERSION);
  // Compressed bodies are not decoded here: ask for none.
  msg.set(http::field::accept_encoding, "identity");
  for (const auto& [name, value] : req.headers) msg.set(name, value);
  msg.set(http::field::host, u.authority());
  if (reusable == nullptr) msg.set(http::field::connection, "close");  // HTTP/1.1 keeps it alive otherwise
  msg.body() = req.body;
  msg.prepare_payload();

  auto& socket_layer = beast::get_lowest_layer(stream);
  socket_layer.expires_after(step_budget(opt.timeouts.write, end));
  if (auto [ec, n] = co_await http::async_write(stream, msg, asio::as_tuple(asio::use_awaitable)); ec) {
    co_return detail::normalize_timeout(ec);
  }
  if (opt.request_written != nullptr) *opt.request_written = true;

  beast::flat_buffer buffer;
  buffer.reserve(4 * 1024);  // a usual Bot API response in one read (a fresh buffer reads 512 bytes)
  http::response_parser<http::string_body> parser;
  parser.body_limit(opt.body_limit);
  parser.header_limit(opt.header_limit);
  if (req.method == http::verb::head) parser.skip(true);
  socket_layer.expires_after(step_budget(opt.timeouts.read, end));
  if (auto [ec, n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable)); ec) {
    co_return detail::normalize_timeout(ec);
  }

  if (reusable != nullptr) *reusable = parser.keep_alive() && !parser.need_eof();
  auto res = parser.release();
  https_response out;
  out.status = res.result_int();
  for (const auto& field : res.base()) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = std::move(res.body());
  co_return out;
}

// A kept connection is fit for another request only if the server has neither closed it nor
// sent anything since the last response (a close_notify, an error page): peek without waiting.
bool quiet_and_open(tcp::socket& s) {
  if (!s.is_open()) return false;
  char byte;
  const auto n = ::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

template <class Stream>
struct idle_connection {
  std::unique_ptr<Stream> stream;
  clock::time_point since;
};

template <class Stream>
using idle_list = std::map<std::string, std::deque<idle_connection<Stream>>>;  // by origin, newest last

}  // namespace

struct https_client::pool {
  keep_alive_options options;
  idle_list<beast::tcp_stream> plain;
  idle_list<tls_stream> tls;

  // The newest usable idle connection to `origin`; stale ones on the way are closed.
  template <class Stream>
  std::unique_ptr<Stream> take(idle_list<Stream>& list, const std::string& origin) {
    const auto it = list.find(origin);
    if (it == list.end()) return nullptr;
    auto& q = it->second;
    std::unique_ptr<Stream> found;
    while (!q.empty() && !found) {
      idle_connection<Stream> c = std::move(q.back());
      q.pop_back();
      if (clock::now() - c.since <= options.max_idle && quiet_and_open(beast::get_lowest_layer(*c.stream).socket()))
        found = std::move(c.stream);
    }
    // Whatever is older than the newest is older still: drop what has expired.
    std::erase_if(q, [&](const auto& c) { return clock::now() - c.since > options.max_idle; });
    if (q.empty()) list.erase(it);
    return found;
  }

  // The request on a kept connection to `origin`, if there is one (nullopt: there is none).
  template <class Stream>
  asio::awaitable<std::optional<result<https_response>>> send_on_kept(idle_list<Stream>& list,
                                                                      const std::string& origin, const url& u,
                                                                      const https_request& req,
                                                                      const https_options& opt,
                                                                      clock::time_point end,
                                                                      https_client_stats& stats) {
    auto kept = take(list, origin);
    if (!kept) co_return std::nullopt;
    ++stats.connections_reused;
    bool reusable = false;
    auto res = co_await exchange(*kept, u, req, opt, end, &reusable);
    if (res && reusable) give_back(list, origin, std::move(kept));
    co_return res;
  }

  template <class Stream>
  void give_back(idle_list<Stream>& list, const std::string& origin, std::unique_ptr<Stream> stream) {
    if (options.max_idle_per_origin == 0) return;
    beast::get_lowest_layer(*stream).expires_never();
    auto& q = list[origin];
    q.push_back({std::move(stream), clock::now()});
    while (q.size() > options.max_idle_per_origin) q.pop_front();
  }
};

std::optional<std::string_view> https_response::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

result<https_client> https_client::create(const tls_options& options, std::optional<keep_alive_options> keep_alive) {
  auto ctx = make_client_tls_context(options, false);
  if (!ctx) return ctx.error();
  https_client c(std::move(*ctx));
  c.tls_->roots_loaded = false;
  if (keep_alive) {
    c.pool_ = std::make_shared<pool>();
    c.pool_->options = *keep_alive;
  }
  return c;
}

https_client_stats https_client::stats() const { return *stats_; }

void https_client::close_idle() const {
  if (!pool_) return;
  pool_->plain.clear();
  pool_->tls.clear();
}

asio::awaitable<result<https_response>> https_client::request(https_request req, https_options opt) const {
  const auto end = clock::now() + opt.timeouts.total;
  auto u = parse_url(req.url);
  if (!u) co_return u.error();
  if (!u->is_https() && !is_loopback_host(u->host)) co_return make_error_code(net_errc::insecure_scheme);
  for (const auto& [name, value] : req.headers) {
    if (name.empty() || !header_ok(name) || !header_ok(value)) co_return make_error_code(net_errc::bad_header);
  }
  const std::string origin = u->origin();
  const std::string what = std::string(http::to_string(req.method)) + " " + origin;

  // A kept connection: no lookup, no connect, no handshake.
  if (pool_) {
    std::optional<result<https_response>> kept;
    if (u->is_https()) kept = co_await pool_->send_on_kept(pool_->tls, origin, *u, req, opt, end, *stats_);
    else kept = co_await pool_->send_on_kept(pool_->plain, origin, *u, req, opt, end, *stats_);
    if (kept) {
      if (!*kept) core::log_debug("net", what + " (kept connection): " + kept->error().message());
      co_return std::move(*kept);
    }
  }

  auto endpoints = co_await detail::resolve_with_deadline(u->host, u->port, step_budget(opt.timeouts.resolve, end));
  if (!endpoints) {
    core::log_debug("net", what + ": resolve failed: " + endpoints.error().message());
    co_return endpoints.error();
  }
  auto ex = co_await asio::this_coro::executor;

  if (!u->is_https()) {
    // "localhost" is a name: make sure it did not resolve off the machine.
    std::erase_if(*endpoints, [](const tcp::endpoint& e) { return !e.address().is_loopback(); });
    if (endpoints->empty()) co_return make_error_code(net_errc::not_loopback);
    auto stream = std::make_unique<beast::tcp_stream>(ex);
    stream->expires_after(step_budget(opt.timeouts.connect, end));
    if (auto [ec, ep] = co_await stream->async_connect(*endpoints, asio::as_tuple(asio::use_awaitable)); ec) {
      core::log_debug("net", what + ": connect failed: " + ec.message());
      co_return detail::normalize_timeout(ec);
    }
    ++stats_->connections_opened;
    bool reusable = false;
    auto res = co_await exchange(*stream, *u, req, opt, end, pool_ ? &reusable : nullptr);
    if (res && reusable) {
      pool_->give_back(pool_->plain, origin, std::move(stream));
      co_return res;
    }
    beast::error_code ignored;  // the peer may have closed first; nothing to do about it
    stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    if (!res) core::log_debug("net", what + ": " + res.error().message());
    co_return res;
  }

  if (!tls_->roots_loaded) {
    if (auto ec = load_system_roots(*tls_->ctx)) co_return ec;
    tls_->roots_loaded = true;
  }
  auto owned = std::make_unique<tls_stream>(ex, *tls_->ctx);
  tls_stream& stream = *owned;
  if (auto ec = prepare_tls_stream(stream, u->host)) co_return ec;
  auto& tcp_layer = beast::get_lowest_layer(stream);
  tcp_layer.expires_after(step_budget(opt.timeouts.connect, end));
  if (auto [ec, ep] = co_await tcp_layer.async_connect(*endpoints, asio::as_tuple(asio::use_awaitable)); ec) {
    core::log_debug("net", what + ": connect failed: " + ec.message());
    co_return detail::normalize_timeout(ec);
  }
  tcp_layer.expires_after(step_budget(opt.timeouts.handshake, end));
  if (auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
      ec) {
    core::log_debug("net", what + ": TLS handshake failed: " + ec.message());
    co_return detail::normalize_timeout(ec);
  }
  ++stats_->connections_opened;
  bool reusable = false;
  auto res = co_await exchange(stream, *u, req, opt, end, pool_ ? &reusable : nullptr);
  if (!res) {
    core::log_debug("net", what + ": " + res.error().message());
    co_return res;
  }
  if (reusable) {
    pool_->give_back(pool_->tls, origin, std::move(owned));
    co_return res;
  }
  // A polite close_notify, bounded: the whole response is already in hand, so a peer that
  // never answers it (or answers with a bare TCP close: stream_truncated) changes nothing.
  tcp_layer.expires_after(std::min(step_budget(opt.timeouts.read, end), milliseconds(1000)));
  (void)co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
  co_return res;
}

}  // namespace openclawd::net
