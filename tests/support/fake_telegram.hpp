// A fake Telegram Bot API server for tests: HTTP/1.1 (keep-alive) or HTTPS on 127.0.0.1:0,
// serving /bot<token>/<method> the way api.telegram.org does (envelopes, status codes, exact
// error strings, long polls held until an update or the timeout, offset confirmation, 409
// conflicts, HTML entity parsing and length limits). It is written from the protocol notes
// (shared/docs/telegram-ddg.md §A) and TDLib's behaviour, never from openclawd's own Telegram
// code, so that a bug there cannot hide behind the same bug here.
//
// It runs on its own thread and io_context; every public member may be called from any
// thread (one mutex guards the state; wait_for() sleeps on a condition variable that every
// change of state wakes). The daemon under test only needs base_url() as telegram.api_base.
#pragma once

#include "tests/support/test_certs.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace openclawd::test {

// One-shot faults, queued per method (FIFO) with fake_telegram::inject(). The request that
// meets a fault is recorded like any other; unless said otherwise the method is NOT executed
// (no message is sent, no offset confirmed, no poll held).
namespace fault {
struct too_many_requests {  // 429 "Too Many Requests: retry after N", Retry-After: N header
  int retry_after = 1;      // and parameters.retry_after = N
};
struct conflict {};           // 409 "Conflict: terminated by other getUpdates request; ..."
struct bad_gateway {};        // 502 with nginx's HTML page (not JSON), as a proxy in front gives
struct internal_error {};     // 500 {"ok":false,"error_code":500,"description":"Internal Server Error"}
struct drop_connection {};    // read the request, then close the socket without a byte of answer
struct drop_mid_response {};  // the method IS executed (e.g. the message is sent); the status
                              // line, headers and half of the body are written, then the socket
                              // is closed: the client cannot know whether it worked
struct hang {};               // never answer; the connection stays open until the fake is destroyed
struct reject_html {};        // 400 "can't parse entities" although the markup is valid. Consumed
                              // only by a request that has a parse_mode; requests without one
                              // pass and leave it queued (a plain-text retry then succeeds)
}  // namespace fault

using telegram_fault = std::variant<fault::too_many_requests, fault::conflict, fault::bad_gateway,
                                    fault::internal_error, fault::drop_connection, fault::drop_mid_response,
                                    fault::hang, fault::reject_html>;

struct fake_telegram_options {
  std::optional<pem_pair> tls;  // serve HTTPS with this certificate (e.g. test_ca::issue({}, {"127.0.0.1"}))
  std::string bot_username = "openclawd_test_bot";
  std::string bot_first_name = "openclawd test";
  std::int64_t first_update_id = 100000;  // update_id of the first pushed update
};

// Every HTTP request that reached the fake, whatever became of it.
struct recorded_call {
  std::string method;       // the API method in its documented spelling ("getUpdates"); as
                            // received when unknown; empty when the path was not /bot<token>/<m>
  std::string http_method;  // "GET", "POST"
  std::string target;       // the raw request target, token included
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;            // raw
  nlohmann::json params;       // query string and body merged: form values as strings, JSON as sent
  bool authorized = false;     // the token matched
  unsigned status = 0;         // the HTTP status answered; 0 while held, or when never answered
  std::chrono::steady_clock::time_point time;  // when the request had been read
};

// A sendMessage, editMessageText or sendMessageDraft the fake accepted.
struct message_record {
  std::int64_t chat_id = 0;
  std::int64_t message_id = 0;  // 0 for drafts
  std::int64_t draft_id = 0;    // drafts only
  std::string text;             // `text` as received (markup included)
  std::string visible_text;     // what a user sees: tags removed, entities decoded, trimmed
  std::string parse_mode;       // as received; empty when absent
  std::optional<std::int64_t> reply_to;  // reply_parameters.message_id or reply_to_message_id
  nlohmann::json entities = nlohmann::json::array();  // as the server would return them
  nlohmann::json params;        // every parameter of the call
  std::chrono::steady_clock::time_point time;
};

struct chat_action_record {
  std::int64_t chat_id = 0;
  std::string action;
  std::chrono::steady_clock::time_point time;
};

class fake_telegram {
 public:
  // Accepts requests for `token` only; any other token gets 401. Binds 127.0.0.1:0 at once.
  explicit fake_telegram(std::string token, fake_telegram_options options = {});
  ~fake_telegram();  // stops the thread; held polls and hung connections are closed
  fake_telegram(const fake_telegram&) = delete;
  fake_telegram& operator=(const fake_telegram&) = delete;

  // "http(s)://127.0.0.1:PORT": what a client configures as its API base.
  std::string base_url() const;
  // base_url() + "/bot<token>/<method>"
  std::string method_url(std::string_view method) const;
  unsigned short port() const;
  const std::string& token() const;
  std::int64_t bot_id() const;  // the number before ':' in the token, else 7000000001

  // ---- updates ----------------------------------------------------------------------------
  // Queues a message update: a realistic Message (message_id increasing per chat, from, chat,
  // date, text, and bot_command / mention entities as Telegram adds them). chat_type is
  // "private", "group" or "supergroup". Returns the update_id, or 0 when the bot's
  // allowed_updates filter drops it (the real server never stores such updates).
  std::int64_t push_message(std::int64_t user_id, std::int64_t chat_id, std::string text,
                            std::string chat_type = "private");
  // Queues an arbitrary update, e.g. {"edited_message":{...}} or {"message":{..."photo":[...]}};
  // update_id is assigned (any given one is replaced). Same return value as push_message.
  std::int64_t push_update(nlohmann::json update_without_id);
  // Queues recorded updates byte for byte as served by Telegram: `json_text` is a JSON array of
  // updates, or a whole getUpdates response ({"ok":true,"result":[...]}). Their update_ids are
  // kept (later pushed updates are numbered after them); updates below the confirmed offset are
  // dropped. Throws std::invalid_argument if the text is not such JSON.
  void push_raw_updates(std::string_view json_text);

  // ---- faults and modes -------------------------------------------------------------------
  void inject(std::string_view method, telegram_fault f);  // method case-insensitive
  std::size_t faults_left(std::string_view method) const;
  // A webhook URL is set (as by setWebhook) or removed: getUpdates then answers 409, and
  // setting one ends a held poll with 409 "Conflict: terminated by setWebhook request".
  void set_webhook_active(bool active);
  bool webhook_active() const;

  // ---- what the client did ----------------------------------------------------------------
  std::vector<message_record> sent(std::int64_t chat_id) const;  // sendMessage, in order
  std::vector<message_record> all_sent() const;                  // every chat, in order
  // Cheap forms for long runs (benchmarks, the soak): the number of messages all_sent() holds,
  // and its tail from index `first` on.
  std::size_t sent_count() const;
  std::vector<message_record> sent_since(std::size_t first) const;
  std::vector<message_record> edits(std::int64_t chat_id) const;
  std::vector<message_record> drafts(std::int64_t chat_id) const;
  std::vector<chat_action_record> actions(std::int64_t chat_id) const;
  std::vector<std::int64_t> deleted(std::int64_t chat_id) const;  // message ids
  // The visible text of a message now (after edits); nullopt if unknown or deleted.
  std::optional<std::string> message_text(std::int64_t chat_id, std::int64_t message_id) const;
  nlohmann::json commands() const;  // the last setMyCommands list, [] before any

  std::size_t calls(std::string_view method) const;  // requests for this method, case-insensitive
  std::vector<recorded_call> requests() const;

  // The highest offset a getUpdates confirmed (every update below it is forgotten); 0 before any.
  std::int64_t confirmed_offset() const;
  std::size_t pending_updates() const;  // queued and not yet confirmed
  // A getUpdates is being held right now. As on the real server, a held poll whose client has
  // gone away stays held until its timeout, an update, or the next getUpdates (which ends it).
  bool pending_poll() const;

  // Blocks the calling thread until `condition` holds, re-evaluating it after every change of
  // the fake's state; false if `deadline` passes first. The condition may call any member
  // (it runs without the fake's lock held). Never call it from the fake's own thread.
  bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds deadline) const;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace openclawd::test
