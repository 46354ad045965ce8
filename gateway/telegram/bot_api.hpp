// The Telegram Bot API as the channel sees it: native types for the few objects it reads,
// a decoder for getUpdates bodies (pure, fuzzed), and a client that calls one method over
// HTTPS (net::https_client: peer verification, SNI, host name check, deadlines on every step).
//
// The token is part of every request path (`/bot<token>/<method>`). It lives only inside
// bot_api; nothing this header returns (errors, descriptions, URLs) contains it, and the
// HTTP client logs only the origin (scheme, host, port), never the path.
#pragma once

#include "core/error.hpp"
#include "net/asio.hpp"
#include "net/https_client.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace openclawd::gateway::telegram {

struct user {
  std::int64_t id = 0;
  bool is_bot = false;
  std::string first_name;
  std::string username;
};

struct message_entity {
  std::string type;  // bot_command, mention, text_mention, ...
  int offset = 0;    // UTF-16 code units
  int length = 0;
};

struct message {
  std::int64_t message_id = 0;
  std::int64_t chat_id = 0;
  std::string chat_type;  // private, group, supergroup, channel
  std::optional<user> from;
  std::int64_t date = 0;
  std::optional<std::string> text;  // absent for photos, stickers, ... (caption is not text)
  std::string kind;                 // "text", or what it carries instead: photo, sticker, document, ...
  std::vector<message_entity> entities;
  std::optional<std::int64_t> reply_to_from_id;  // the author of the message this one replies to
};

struct update {
  std::int64_t update_id = 0;
  std::string type;                // message, edited_message, callback_query, ... (the field present)
  std::optional<message> msg;      // for "message" and "edited_message"
  std::string raw;                 // the update's JSON, as stored in the inbox
};

// Decodes one Update object (as JSON text or a parsed value). Unknown fields are ignored;
// a malformed update is an error, never a crash.
result<update> decode_update(const nlohmann::json& j);
// The same, from the JSON text an inbox entry stores.
result<update> parse_update(std::string_view json_text);

// What an API call returned instead of a result.
struct api_error {
  enum class kind {
    transport,  // no HTTP answer: connect, TLS, DNS, dropped connection, deadline
    http,       // an HTTP answer that is not a Bot API envelope (a proxy's 502 page)
    api,        // {"ok":false,...}: error_code and description are set
    decode,     // ok, but the result is not what the method returns
  };
  kind what = kind::transport;
  int status = 0;       // HTTP status (api, http)
  int error_code = 0;   // the envelope's error_code (api)
  std::string description;
  std::optional<std::chrono::seconds> retry_after;  // 429: parameters.retry_after or Retry-After
  std::optional<std::int64_t> migrate_to_chat_id;
  // The request reached the server and no answer came back (or only part of one): it may
  // have taken effect. A send that failed this way must not be repeated blindly.
  bool ambiguous = false;
  boost::system::error_code transport_error;

  // One line for logs: never contains the token.
  std::string to_string() const;
  bool is(int code) const { return what == kind::api && error_code == code; }
  bool description_has(std::string_view s) const;
};

template <class T>
using api_result = boost::system::result<T, api_error>;

// Decodes a Bot API response: the envelope, then `result`.
api_result<nlohmann::json> decode_response(unsigned status, std::string_view body,
                                           std::optional<std::string_view> retry_after_header = {});
// A whole getUpdates body: the updates that decode, and how many did not (they are still
// confirmed, by their update_id when it could be read, so one bad update never wedges polling).
struct updates_batch {
  std::vector<update> updates;
  std::int64_t max_update_id = 0;  // of every element that had one, decodable or not
  int undecodable = 0;
};
result<updates_batch> decode_updates(const nlohmann::json& result);

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
