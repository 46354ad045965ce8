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
constexpr std::uint8_t cmd_get_device_memory = 11;  // | device u32 | -> | free u64 | total u64 |
constexpr std::uint8_t cmd_device_count = 15;       // || -> | count u32 |
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


// One command and its answer (at least `min_reply` bytes) on an open connection.
asio::awaitable<result<std::string>> exchange(beast::tcp_stream& stream, std::uint8_t cmd, std::string payload,
                                              std::uint64_t min_reply) {
  std::string request(1 + 8, '\0');
  request[0] = static_cast<char>(cmd);
  put_u64(reinterpret_cast<std::uint8_t*>(request.data()) + 1, payload.size());
  request += payload;
  if (auto [ec, n] = co_await asio::async_write(stream, asio::buffer(request), asio::as_tuple(asio::use_awaitable)); ec)
    co_return ec;
  std::array<std::uint8_t, 8> size_bytes{};
  if (auto [ec, n] = co_await asio::async_read(stream, asio::buffer(size_bytes), asio::as_tuple(asio::use_awaitable)); ec)
    co_return ec;
  const std::uint64_t size = get_u64(size_bytes.data());
  if (size < min_reply || size > max_reply) co_return make_error_code(errc::upstream_http_error);
  std::string reply(static_cast<std::size_t>(size), '\0');
  if (auto [ec, n] = co_await asio::async_read(stream, asio::buffer(reply), asio::as_tuple(asio::use_awaitable)); ec)
    co_return ec;
  co_return reply;
}

// Connects and says HELLO; the stream's timer (set by the caller) bounds everything after.
asio::awaitable<result<rpc_version>> connect_and_hello(beast::tcp_stream& stream, asio::ip::tcp::endpoint endpoint) {
  if (auto [ec] = co_await stream.async_connect(endpoint, asio::as_tuple(asio::use_awaitable)); ec) co_return ec;
  auto reply = co_await exchange(stream, cmd_hello, std::string(caps_size, '\0'), 3);
  if (!reply) co_return reply.error();
  const auto& r = *reply;
  co_return rpc_version{static_cast<unsigned char>(r[0]), static_cast<unsigned char>(r[1]),
                        static_cast<unsigned char>(r[2])};
}

void leave(beast::tcp_stream& stream) {
  // At once: the worker serves the next client (the node) only after this one is gone.
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

}  // namespace

std::string rpc_version::text() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

asio::awaitable<result<rpc_version>> rpc_hello(asio::ip::tcp::endpoint endpoint, std::chrono::milliseconds timeout) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  // One deadline for connect, write and read: the stream's timer runs across them.
  stream.expires_after(timeout);
  auto v = co_await connect_and_hello(stream, endpoint);
  leave(stream);
  co_return v;
}

asio::awaitable<result<rpc_worker_info>> rpc_worker_query(asio::ip::tcp::endpoint endpoint,
                                                          std::chrono::milliseconds timeout) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(timeout);
  auto v = co_await connect_and_hello(stream, endpoint);
  if (!v) co_return v.error();
  rpc_worker_info info;
  info.version = *v;
  auto count = co_await exchange(stream, cmd_device_count, {}, 4);
  if (!count) co_return count.error();
  const auto* c = reinterpret_cast<const std::uint8_t*>(count->data());
  const std::uint32_t devices = c[0] | (c[1] << 8) | (c[2] << 16) | (static_cast<std::uint32_t>(c[3]) << 24);
  for (std::uint32_t d = 0; d < devices && d < 64; ++d) {
    std::string req(4, '\0');
    for (int i = 0; i < 4; ++i) req[static_cast<std::size_t>(i)] = static_cast<char>(d >> (8 * i));
    auto mem = co_await exchange(stream, cmd_get_device_memory, req, 16);
    if (!mem) co_return mem.error();
    const auto* m = reinterpret_cast<const std::uint8_t*>(mem->data());
    info.devices.push_back({get_u64(m), get_u64(m + 8)});
  }
  leave(stream);
  co_return info;
}

}  // namespace openclawd::net
