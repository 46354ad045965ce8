#include "net/rpc_hello.hpp"

#include <array>
#include <cstdint>
#include <cstring>

namespace openclawd::net {
namespace {

// ggml-rpc's wire format (ggml/src/ggml-rpc/ggml-rpc.cpp): | cmd u8 | size u64 LE | payload |,
// answered by | size u64 LE | payload |. RPC_CMD_HELLO is fixed at 14 across versions.
// Protocol 8 sends 24 bytes of connection capabilities (zero: plain TCP) and answers with
// major, minor, patch, a padding byte and the worker's capabilities (28 bytes). Older
// workers (3.x) took an empty HELLO and answered 3 bytes; they refuse the 24-byte form by
// closing, so the size is not retried downwards: openclawd runs the worker it installs.
constexpr std::uint8_t cmd_hello = 14;
constexpr std::uint64_t caps_size = 24;
constexpr std::uint64_t max_reply = 4096;

void put_u64(std::uint8_t* out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::uint64_t get_u64(const std::uint8_t* in) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | in[i];
  return v;
}

}  // namespace

std::string rpc_version::text() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

asio::awaitable<result<rpc_version>> rpc_hello(asio::ip::tcp::endpoint endpoint, std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  beast::tcp_stream stream(ex);
  // One deadline for connect, write and read: the stream's timer runs across them.
  stream.expires_after(timeout);
  if (auto [ec] = co_await stream.async_connect(endpoint, asio::as_tuple(asio::use_awaitable)); ec) co_return ec;

  std::array<std::uint8_t, 1 + 8 + caps_size> request{};
  request[0] = cmd_hello;
  put_u64(request.data() + 1, caps_size);
  if (auto [ec, n] = co_await asio::async_write(stream, asio::buffer(request), asio::as_tuple(asio::use_awaitable)); ec)
    co_return ec;

  std::array<std::uint8_t, 8> size_bytes{};
  if (auto [ec, n] = co_await asio::async_read(stream, asio::buffer(size_bytes), asio::as_tuple(asio::use_awaitable)); ec)
    co_return ec;
  const std::uint64_t size = get_u64(size_bytes.data());
  if (size < 3 || size > max_reply) co_return make_error_code(errc::upstream_http_error);
  std::string reply(static_cast<std::size_t>(size), '\0');
  if (auto [ec, n] = co_await asio::async_read(stream, asio::buffer(reply), asio::as_tuple(asio::use_awaitable)); ec)
    co_return ec;

  // Leave at once: the worker serves the next client (the node) only after this one is gone.
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  co_return rpc_version{static_cast<unsigned char>(reply[0]), static_cast<unsigned char>(reply[1]),
                        static_cast<unsigned char>(reply[2])};
}

}  // namespace openclawd::net
