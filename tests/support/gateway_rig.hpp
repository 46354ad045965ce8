// Small pieces the gateway's integration tests share: where a llama-server a test started
// listens, and a conversation store in a test's folder. Header-only: the test programs that
// use it link the gateway already.
#pragma once

#include "gateway/conversation_store.hpp"
#include "net/asio.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

namespace openclawd::test {

inline asio::ip::tcp::endpoint loopback(int port) {
  return {asio::ip::address_v4::loopback(), static_cast<unsigned short>(port)};
}

inline gateway::conversation_store open_store(const std::filesystem::path& p) {
  auto s = gateway::conversation_store::open(p);
  if (!s) FAIL("cannot open the conversation store at " << p.string());
  return std::move(*s);
}

}  // namespace openclawd::test
