// The first message of llama.cpp's RPC protocol (ggml-rpc): HELLO, answered with the worker's
// protocol version. It proves a worker is up and speaks RPC, which a TCP connect does not: the
// kernel accepts connections for a stopped process too. A worker serves one client at a time,
// so while a node is connected, a HELLO waits in its queue: ask only before the node starts.
#pragma once

#include "core/error.hpp"
#include "net/asio.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace openclawd::net {

struct rpc_version {
  int major = 0, minor = 0, patch = 0;
  std::string text() const;  // "8.0.0"
};

struct rpc_device_memory {
  std::uint64_t free = 0, total = 0;
};

// What a worker offers: its protocol version and each device's memory (doctor's question).
struct rpc_worker_info {
  rpc_version version;
  std::vector<rpc_device_memory> devices;
};

// Connects to `endpoint`, sends HELLO and reads the answer, all within `timeout`. Errors:
// connection codes as asio gives them, beast::error::timeout at the deadline,
// errc::upstream_http_error for an answer that is not an RPC HELLO reply.
asio::awaitable<result<rpc_version>> rpc_hello(asio::ip::tcp::endpoint endpoint, std::chrono::milliseconds timeout);

// HELLO, then DEVICE_COUNT and GET_DEVICE_MEMORY for each device, on one connection within
// `timeout`. For a worker no node uses yet (it serves one client at a time).
asio::awaitable<result<rpc_worker_info>> rpc_worker_query(asio::ip::tcp::endpoint endpoint,
                                                          std::chrono::milliseconds timeout);

}  // namespace openclawd::net
