// Internal to net/: the deadline helpers the remote clients share (https_client, page_fetch).
// Each step of a request gets its own limit cut to what is left of the whole; DNS, which no
// stream timer covers, is raced against a timer. Coroutines: the io_context's thread only.
#pragma once

#include "core/error.hpp"
#include "net/asio.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace openclawd::net::detail {

using steady = std::chrono::steady_clock;

// The time a step may take: its own limit, cut to what is left of the total.
std::chrono::milliseconds step_budget(std::chrono::milliseconds step, steady::time_point end);

// Beast reports its stream timer as beast::error::timeout; callers see one code for every
// deadline (openclawd::errc::timeout), whichever step it hit.
boost::system::error_code normalize_timeout(boost::system::error_code ec);

// The addresses of `host` (an IP literal is returned as it is, without DNS), within `timeout`.
// Errors: openclawd::errc::timeout, net_errc::no_address, the resolver's codes, and
// operation_aborted when the caller's coroutine is cancelled.
asio::awaitable<result<std::vector<asio::ip::tcp::endpoint>>> resolve_with_deadline(const std::string& host,
                                                                                   std::uint16_t port,
                                                                                   std::chrono::milliseconds timeout);

}  // namespace openclawd::net::detail
