#include "net/http_client.hpp"

#include <array>
#include <optional>

namespace openclawd::net {

std::string http_peer::authority() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

asio::awaitable<result<asio::ip::tcp::endpoint>> resolve_endpoint(std::string host, std::uint16_t port,
                                                                  std::chrono::milliseconds timeout) {
  boost::system::error_code literal_ec;
  const auto address = asio::ip::make_address(host, literal_ec);
  if (!literal_ec) co_return asio::ip::tcp::endpoint(address, port);  // no DNS, no resolver thread
  // The resolver runs getaddrinfo on a thread of its own and cannot stop it: race it against
  // a timer by hand, and let a late answer land in state nobody reads any more.
  struct state {
    explicit state(const asio::any_io_executor& e) : resolver(e), timer(e) {}
    asio::ip::tcp::resolver resolver;
    asio::steady_timer timer;
    std::optional<boost::system::error_code> ec;  // set once the resolver answered
    std::optional<asio::ip::tcp::endpoint> first;
  };
  auto st = std::make_shared<state>(co_await asio::this_coro::executor);
  st->timer.expires_after(timeout);
  st->resolver.async_resolve(host, std::to_string(port),
                             [st](boost::system::error_code ec, const asio::ip::tcp::resolver::results_type& r) {
                               st->ec = ec;
                               if (!ec && !r.empty()) st->first = r.begin()->endpoint();
                               st->timer.cancel();
                             });
  auto [wait_ec] = co_await st->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!st->ec) {
    st->resolver.cancel();
    if (wait_ec == asio::error::operation_aborted) co_return boost::system::error_code(asio::error::operation_aborted);
    co_return make_error_code(errc::timeout);
  }
  if (*st->ec) co_return *st->ec;
  if (!st->first) co_return boost::system::error_code(asio::error::host_not_found);
  co_return *st->first;
}

asio::awaitable<result<http_response>> http_get(asio::ip::tcp::endpoint endpoint, std::string target,
                                                http_get_options options) {
  auto ex = co_await asio::this_coro::executor;
  beast::tcp_stream stream(ex);

  // One deadline for the whole exchange: basic_stream's timer keeps running across
  // operations until it is reset, so connect + write + read share it.
  stream.expires_after(options.timeout);
  if (auto [ec] = co_await stream.async_connect(endpoint, asio::as_tuple(asio::use_awaitable)); ec) co_return ec;

  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, endpoint.address().to_string() + ":" + std::to_string(endpoint.port()));
  req.set(http::field::user_agent, "openclawd/" OPENCLAWD_VERSION);
  req.set(http::field::connection, "close");
  if (auto [ec, n] = co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable)); ec) co_return ec;

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(options.body_limit);
  if (auto [ec, n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable)); ec)
    co_return ec;

  // The peer may already have closed; a failed shutdown changes nothing for us.
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);

  auto res = parser.release();
  co_return http_response{res.result_int(), std::move(res.body())};
}

}  // namespace openclawd::net

namespace openclawd::net {
namespace {

// llama-server closes a kept-alive connection after 5 s idle (Keep-Alive: timeout=5):
// reuse only younger ones, so the retry below stays the exception.
constexpr auto reuse_window = std::chrono::seconds(4);
constexpr std::size_t error_body_limit = 64 * 1024;
// What a response read may take per recvmsg (see exchange()): a usual response (a streamed
// answer, a /tokenize) in one; more would cost memory per concurrent request (200 chats: 0.8 MiB).
constexpr std::size_t read_reserve = 4 * 1024;

// A kept-alive connection the peer closed meanwhile fails like this on first use.
bool is_stale_connection(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::connection_aborted;
}

}  // namespace

http_client::http_client(asio::any_io_executor ex, asio::ip::tcp::endpoint endpoint, std::size_t max_idle)
    : ex_(std::move(ex)), peer_(http_peer::of(endpoint)), max_idle_(max_idle) {}

http_client::http_client(asio::any_io_executor ex, http_peer peer, std::size_t max_idle)
    : ex_(std::move(ex)), peer_(std::move(peer)), max_idle_(max_idle) {}

void stream_stop::stop() {
  stopped_ = true;
  if (stream_ != nullptr) stream_->cancel();  // the pending read completes with operation_aborted
}

asio::awaitable<result<http_response>> http_client::request(http_request req, http_deadlines deadlines,
                                                            std::size_t body_limit) {
  co_return co_await exchange(req, deadlines, body_limit, nullptr, nullptr);
}

asio::awaitable<result<http_response>> http_client::stream(http_request req, http_deadlines deadlines,
                                                           data_handler on_data, stream_stop* stop) {
  co_return co_await exchange(req, deadlines, error_body_limit, &on_data, stop);
}

asio::awaitable<result<http_response>> http_client::exchange(const http_request& req, const http_deadlines& d,
                                                             std::size_t body_limit, const data_handler* on_data,
                                                             stream_stop* stop) {
  // Counted from here to whichever co_return: a guard, since there are many.
  struct in_flight_guard {
    http_client_stats& s;
    explicit in_flight_guard(http_client_stats& st) : s(st) { ++s.in_flight; }
    ~in_flight_guard() {
      --s.in_flight;
      s.last_done = std::chrono::steady_clock::now();
    }
    in_flight_guard(const in_flight_guard&) = delete;
    in_flight_guard& operator=(const in_flight_guard&) = delete;
  } counted(stats_);
  http::request<http::string_body> msg{req.method, req.target, 11};
  msg.set(http::field::host, peer_.authority());
  msg.set(http::field::user_agent, "openclawd/" OPENCLAWD_VERSION);
  if (!req.body.empty()) msg.set(http::field::content_type, "application/json");
  if (on_data != nullptr) msg.set(http::field::accept, "text/event-stream");
  for (const auto& [k, v] : req.headers) msg.set(k, v);
  msg.keep_alive(true);
  msg.body() = req.body;
  msg.prepare_payload();

  for (int attempt = 0;; ++attempt) {
    // A kept-alive connection if a fresh one is at hand, else a new one.
    std::optional<beast::tcp_stream> s;
    bool reused = false;
    while (!idle_.empty() && !s) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      if (std::chrono::steady_clock::now() - c.since < reuse_window && c.stream.socket().is_open()) {
        s.emplace(std::move(c.stream));
        reused = true;
      }
    }
    if (!s) {
      // Copied: set_peer() may run while this coroutine waits.
      auto endpoint = co_await resolve_endpoint(peer_.host, peer_.port, d.connect);
      if (!endpoint) co_return endpoint.error();
      s.emplace(ex_);
      s->expires_after(d.connect);
      auto [ec] = co_await s->async_connect(*endpoint, asio::as_tuple(asio::use_awaitable));
      if (ec) co_return ec;
      ++stats_.connects;
    }
    ++stats_.requests;
    // Only a reused connection that fails before the peer said anything is retried: the
    // request never reached llama-server (it closed the idle connection), so resending is safe.
    auto retry = [&](const beast::error_code& ec, bool got_some) {
      if (reused && attempt == 0 && !got_some && is_stale_connection(ec)) {
        ++stats_.retries;
        return true;
      }
      return false;
    };

    s->expires_after(d.first_byte);
    if (auto [ec, n] = co_await http::async_write(*s, msg, asio::as_tuple(asio::use_awaitable)); ec) {
      if (retry(ec, false)) continue;
      co_return ec;
    }
    // Beast reads at most what the buffer has room for, and a fresh buffer starts with 512
    // bytes: a 1.6 KB streamed answer took 4 recvmsg (and epoll round trips) instead of 1.
    beast::flat_buffer buf;
    buf.reserve(read_reserve);

    if (on_data == nullptr) {
      http::response_parser<http::string_body> p;
      p.body_limit(body_limit);
      if (auto [ec, n] = co_await http::async_read(*s, buf, p, asio::as_tuple(asio::use_awaitable)); ec) {
        if (retry(ec, p.got_some())) continue;
        co_return ec;
      }
      auto res = p.release();
      const bool keep = res.keep_alive();
      http_response out{res.result_int(), std::move(res.body())};
      if (keep) {
        s->expires_never();
        idle_.push_back({std::move(*s), std::chrono::steady_clock::now()});
        if (idle_.size() > max_idle_) idle_.pop_front();
      }
      co_return out;
    }

    http::response_parser<http::buffer_body> p;
    p.body_limit(boost::none);  // a stream is bounded by its consumer (max_tokens, degeneration guard)
    if (auto [ec, n] = co_await http::async_read_header(*s, buf, p, asio::as_tuple(asio::use_awaitable)); ec) {
      if (retry(ec, p.got_some())) continue;
      co_return ec;
    }
    const unsigned status = p.get().result_int();
    const bool ok = status / 100 == 2;
    std::string error_body;
    std::array<char, 16384> chunk{};
    // While the body flows, stop() may cancel the read; the stream is gone when this returns.
    struct attach {
      stream_stop* stop;
      attach(stream_stop* st, beast::tcp_stream& stream) : stop(st) {
        if (stop != nullptr) stop->stream_ = &stream;
      }
      ~attach() {
        if (stop != nullptr) stop->stream_ = nullptr;
      }
    } attached(stop, *s);
    while (!p.is_done() && !(stop != nullptr && stop->stopped())) {
      p.get().body().data = chunk.data();
      p.get().body().size = chunk.size();
      s->expires_after(d.idle);
      // read_some: hand over what has arrived. async_read would go on until the 16 KiB chunk
      // is full, so a stream's first ~60 tokens (and a silent stream's only event, the role
      // delta) would reach the handler only at the end.
      auto [ec, n] = co_await http::async_read_some(*s, buf, p, asio::as_tuple(asio::use_awaitable));
      if (ec == http::error::need_buffer) ec = {};  // our chunk is full: hand it over, read on
      if (ec && stop != nullptr && stop->stopped()) break;  // ended on purpose, not a failure
      if (ec) co_return ec;
      const std::size_t got = chunk.size() - p.get().body().size;
      if (got == 0) continue;
      if (ok) {
        if (!(*on_data)(std::string_view(chunk.data(), got))) break;
      } else if (error_body.size() < error_body_limit) {
        error_body.append(chunk.data(), std::min(got, error_body_limit - error_body.size()));
      }
    }
    // Not kept even when the answer allows it: llama-server closes the connection after
    // a streamed (chunked) answer without saying so, and reusing it would only cost a
    // failed attempt and a retry. Stopped early: closing here makes llama-server stop
    // generating for this request.
    co_return http_response{status, std::move(error_body)};
  }
}

}  // namespace openclawd::net
