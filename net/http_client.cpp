#include "net/http_client.hpp"

namespace openclawd::net {

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
