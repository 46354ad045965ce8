// The Bot API's answers as plain data: the envelope decoder and the Update decoder, without
// the HTTPS client that fetches them (bot_api.hpp). Kept apart so that it can be compiled
// alone, with clang, by the libFuzzer build (fuzz/fuzz_telegram_updates.cpp), which must never
// compile Asio/Beast code. Everything here is pure: a body in, values out.
//
// Every body is untrusted input. The promise the decoders make is that malformed JSON, a
// wrong type in any field, or an unknown shape is an error value (or a default), never an
// exception or a crash: the polling loop calls them with no try/catch, and one bad update must
// not stop it from confirming the rest.
#pragma once

#include "core/error.hpp"

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
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
  int offset = 0;    // UTF-16 code units, clamped to [0, max_entity_units]
  int length = 0;    // the same
};

// The bound on entity offsets and lengths: far above Telegram's 4096-character messages, low
// enough that offset + length never overflows an int.
inline constexpr int max_entity_units = 1 << 20;

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

// Decodes one Update object (as JSON text or a parsed value). Unknown fields are ignored, and
// so is a known field of the wrong type; a malformed update (no integer update_id, a message
// without a chat id, nesting deeper than 64 levels) is an error, never a crash.
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
  std::optional<std::chrono::seconds> retry_after;  // 429: parameters.retry_after or Retry-After, within [0, 3600]
  std::optional<std::int64_t> migrate_to_chat_id;
  // The request reached the server and no answer came back (or only part of one): it may
  // have taken effect. A send that failed this way must not be repeated blindly.
  bool ambiguous = false;
  boost::system::error_code transport_error;

  // One line for logs, never empty: never contains the token.
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

}  // namespace openclawd::gateway::telegram
