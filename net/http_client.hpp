// A small HTTP/1.1 client for loopback peers (llama-server's /health today; the
// LLM client builds on it later). One request per connection, one deadline that
// covers connect, write and read: nothing here can hang. Coroutine-based; call it
// from the io_context's thread. Errors are values: asio/beast error codes pass
// through (connection_refused, beast::error::timeout, ...).
#pragma once

#include "core/error.hpp"
#include "net/asio.hpp"

#include <chrono>
#include <string>

namespace openclawd::net {

struct http_response {
  unsigned status = 0;
  std::string body;
};

struct http_get_options {
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};  // whole exchange
  std::size_t body_limit = 1024 * 1024;                         // larger answers are an error
};

// GET http://<endpoint><target>. Sends `Connection: close`.
asio::awaitable<result<http_response>> http_get(asio::ip::tcp::endpoint endpoint, std::string target,
                                                http_get_options options = {});

}  // namespace openclawd::net
