// The streamed download. One template over the stream type serves plain TCP (loopback) and
// TLS; every step sets the Beast stream timer first (expires_after), and DNS is raced against
// a timer (resolve_endpoint), because no socket timer covers getaddrinfo.
#include "net/http_download.hpp"

#include <boost/asio/ssl/error.hpp>

#include "net/http_client.hpp"
#include "net/net_error.hpp"
#include "net/tls.hpp"
#include "net/url.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace openclawd::net {
namespace {

using tcp = asio::ip::tcp;

constexpr std::size_t error_body_limit = 64 * 1024;
// Large reads: at loopback speed a download is bound by system calls and the sink's work
// per call (hashing, writing), not by the network.
constexpr std::size_t chunk_size = 1024 * 1024;

boost::system::error_code normalize(boost::system::error_code ec) {
  if (ec == beast::error::timeout) return make_error_code(errc::timeout);
  return ec;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

template <class Stream>
asio::awaitable<result<download_response>> exchange(Stream& stream, const url& u, const download_request& req,
                                                    const download_timeouts& t, const download_sink& sink) {
  auto& lowest = beast::get_lowest_layer(stream);
  http::request<http::empty_body> msg{req.method, u.target, 11};
  msg.set(http::field::user_agent, "openclawd/" OPENCLAWD_VERSION);
  msg.set(http::field::accept_encoding, "identity");  // a model file is not worth compressing, nor decoding
  for (const auto& [name, value] : req.headers) msg.set(name, value);
  msg.set(http::field::host, u.authority());
  msg.set(http::field::connection, "close");
  lowest.expires_after(t.headers);
  if (auto [ec, n] = co_await http::async_write(stream, msg, asio::as_tuple(asio::use_awaitable)); ec)
    co_return normalize(ec);

  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> p;
  p.body_limit(boost::none);  // bounded by the caller: it knows the file's size
  p.header_limit(64 * 1024);
  if (req.method == http::verb::head) p.skip(true);
  if (auto [ec, n] = co_await http::async_read_header(stream, buf, p, asio::as_tuple(asio::use_awaitable)); ec)
    co_return normalize(ec);

  download_response out;
  out.status = p.get().result_int();
  for (const auto& field : p.get().base()) out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  const bool ok = out.status / 100 == 2;
  if (req.on_headers)
    if (auto ec = req.on_headers(out)) co_return ec;
  std::vector<char> chunk(chunk_size);
  if (ok && !p.is_done() && p.content_length() && !p.chunked()) {
    // A body of known length (a model file): read it straight from the socket into the chunk.
    // Through the parser, every byte would be copied once more and each read capped at 64 KiB
    // (Beast's read size); this way one recv fills up to 1 MiB.
    std::uint64_t remaining = *p.content_length();
    if (buf.size() > 0) {  // what came with the headers
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), remaining));
      const auto* first = static_cast<const char*>(buf.data().data());
      if (auto sink_ec = sink(std::string_view(first, n))) co_return sink_ec;
      out.body_bytes += n;
      remaining -= n;
      buf.consume(n);
    }
    while (remaining > 0) {
      lowest.expires_after(t.idle);
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), remaining));
      auto [ec, n] = co_await stream.async_read_some(asio::buffer(chunk.data(), want), asio::as_tuple(asio::use_awaitable));
      if (n > 0) {
        if (auto sink_ec = sink(std::string_view(chunk.data(), n))) co_return sink_ec;
        out.body_bytes += n;
        remaining -= n;
      }
      if (remaining == 0) break;
      // The peer closed before the end: what came is valid, the rest is missing.
      if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
        co_return make_error_code(http::error::partial_message);
      if (ec) co_return normalize(ec);
    }
    co_return out;
  }
  while (!p.is_done()) {
    p.get().body().data = chunk.data();
    p.get().body().size = chunk.size();
    lowest.expires_after(t.idle);
    auto [ec, n] = co_await http::async_read_some(stream, buf, p, asio::as_tuple(asio::use_awaitable));
    if (ec == http::error::need_buffer) ec = {};  // the chunk is full: hand it over, read on
    const std::size_t got = chunk.size() - p.get().body().size;
    if (got > 0) {
      if (ok) {
        if (auto sink_ec = sink(std::string_view(chunk.data(), got))) co_return sink_ec;
        out.body_bytes += got;
      } else if (out.body.size() < error_body_limit) {
        out.body.append(chunk.data(), std::min(got, error_body_limit - out.body.size()));
      }
    }
    // The peer closed before the end: what came is valid, the rest is missing.
    if (ec == http::error::end_of_stream) co_return make_error_code(http::error::partial_message);
    if (ec) co_return normalize(ec);
  }
  co_return out;
}

}  // namespace

std::optional<std::string_view> download_response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return std::string_view(v);
  return std::nullopt;
}

asio::awaitable<result<download_response>> http_download(std::shared_ptr<asio::ssl::context> tls,
                                                         download_request req, download_timeouts timeouts,
                                                         download_sink sink) {
  auto u = parse_url(req.url);
  if (!u) co_return u.error();
  if (!u->is_https() && !is_loopback_host(u->host)) co_return make_error_code(net_errc::insecure_scheme);
  for (const auto& [name, value] : req.headers) {
    if (name.empty() || name.find_first_of("\r\n") != std::string::npos || value.find_first_of("\r\n") != std::string::npos)
      co_return make_error_code(net_errc::bad_header);
  }
  auto ep = co_await resolve_endpoint(u->host, u->port, timeouts.connect);
  if (!ep) co_return ep.error();
  auto ex = co_await asio::this_coro::executor;
  if (!u->is_https()) {
    // "localhost" is a name: make sure it did not resolve off the machine.
    if (!ep->address().is_loopback()) co_return make_error_code(net_errc::not_loopback);
    beast::tcp_stream stream(ex);
    stream.expires_after(timeouts.connect);
    if (auto [ec] = co_await stream.async_connect(*ep, asio::as_tuple(asio::use_awaitable)); ec) co_return normalize(ec);
    auto res = co_await exchange(stream, *u, req, timeouts, sink);
    beast::error_code ignored;  // the peer may have closed first; nothing to do about it
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return res;
  }
  if (!tls) co_return make_error_code(net_errc::tls_setup_failed);
  tls_stream stream(ex, *tls);
  if (auto ec = prepare_tls_stream(stream, u->host)) co_return ec;
  auto& lowest = beast::get_lowest_layer(stream);
  lowest.expires_after(timeouts.connect);
  if (auto [ec] = co_await lowest.async_connect(*ep, asio::as_tuple(asio::use_awaitable)); ec) co_return normalize(ec);
  lowest.expires_after(timeouts.connect);
  if (auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable)); ec)
    co_return normalize(ec);
  auto res = co_await exchange(stream, *u, req, timeouts, sink);
  if (res) {
    // A bounded close_notify; a peer that answers with a bare TCP close (stream_truncated)
    // changes nothing, the whole response is in hand.
    lowest.expires_after(std::chrono::seconds(1));
    (void)co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
  }
  co_return res;
}

}  // namespace openclawd::net
