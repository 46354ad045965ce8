// The Telegram Bot API as the channel sees it: a client that calls one method over HTTPS
// (net::https_client: peer verification, SNI, host name check, deadlines on every step). The
// types it returns and the decoders for its answers are in updates.hpp, which has no Asio in
// it so that the fuzz build can compile it alone; included here so users need only this header.
//
// The token is part of every request path (`/bot<token>/<method>`). It lives only inside
// bot_api; nothing this header returns (errors, descriptions, URLs) contains it, and the
// HTTP client logs only the origin (scheme, host, port), never the path.
#pragma once

#include "gateway/telegram/updates.hpp"
#include "net/asio.hpp"
#include "net/https_client.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

namespace openclawd::gateway::telegram {

class bot_api {
 public:
  // `api_base`: "https://api.telegram.org" or a local Bot API server / test server.
  bot_api(net::https_client http, std::string api_base, std::string token);

  // Calls `method` with JSON parameters. `timeout` bounds the whole exchange (a long poll
  // passes its poll timeout plus a margin).
  asio::awaitable<api_result<nlohmann::json>> call(std::string method, nlohmann::json params,
                                                   std::chrono::milliseconds timeout);

  // The token with all but the bot id hidden ("123456:***"), for messages that must say
  // which bot without revealing it.
  std::string redacted_token() const;

 private:
  net::https_client http_;
  std::string base_;
  std::string token_;
};

}  // namespace openclawd::gateway::telegram
