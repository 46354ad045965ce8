// The Telegram channel: long polling, the allowlist, one message at a time per chat, and
// replies that are neither lost nor doubled.
//
//   getUpdates ──► inbox (SQLite, fsynced) ──► offset moves past ──► per-chat lane ──► handler
//                                                                        │
//                     sendMessage part 1..n ◄── reply stored ◄───────────┘
//
// - Every update is stored before the next getUpdates confirms it to Telegram, so a crash at
//   any point loses nothing: on start, the open inbox entries are resumed.
// - Processing is keyed by update_id: the pipeline is asked with origin "telegram:<id>" (it
//   stores the message once and answers from the store if it already answered), the reply is
//   stored before the first part is sent, and each part is marked before and after its send.
//   A part whose send was ambiguous (the request went out, no answer came back, or the daemon
//   died in between) is never sent again.
// - Liveness is a getUpdates that *completed*: a watchdog abandons a poll that has not
//   finished within `watchdog` of the last completed one and starts a new connection.
// - Chats are independent lanes (one message at a time each, in order); all lanes share the
//   models, which serve requests in arrival order, so a chatty user cannot starve others.
// Lives on the daemon's io_context thread.
#pragma once

#include "core/config.hpp"
#include "gateway/conversation_store.hpp"
#include "gateway/log_syncer.hpp"
#include "gateway/pipeline.hpp"
#include "gateway/telegram/bot_api.hpp"

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace openclawd::gateway::telegram {

struct channel_settings {
  std::vector<std::int64_t> allowed_users;
  std::vector<std::int64_t> allowed_groups;
  core::stranger_policy strangers = core::stranger_policy::refuse_daily;
  std::chrono::milliseconds poll_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds watchdog{std::chrono::seconds(120)};
  std::string streaming = "auto";  // auto | edit | off
  std::chrono::milliseconds edit_interval{std::chrono::seconds(1)};
  std::chrono::milliseconds typing_interval{std::chrono::seconds(4)};
  std::chrono::milliseconds typing_delay{std::chrono::milliseconds(500)};  // 0: at once
  int max_input_chars = 8000;
  // Retry spacing after a failed poll or send (doubling); tests make them short.
  std::chrono::milliseconds retry_initial{std::chrono::seconds(1)};
  std::chrono::milliseconds retry_max{std::chrono::seconds(30)};
  int send_attempts = 8;  // per part, for failures that certainly did not deliver it

  static channel_settings from(const core::telegram_config& c);
};

struct channel_stats {
  std::uint64_t polls_completed = 0;
  std::uint64_t poll_errors = 0;
  std::uint64_t watchdog_restarts = 0;
  std::uint64_t updates_received = 0;  // new updates stored
  std::uint64_t messages_handled = 0;  // replies finished (answers, refusals, command replies)
  std::uint64_t strangers_refused = 0;
  std::uint64_t parts_sent = 0;
  std::uint64_t parts_uncertain = 0;
  std::uint64_t send_failures = 0;  // parts given up on
  std::uint64_t plain_fallbacks = 0;
  std::uint64_t rate_limited = 0;  // 429 answers
  std::size_t queued = 0;          // messages waiting or being handled
  std::chrono::steady_clock::time_point last_poll_completed{};
};

// How a chat message is answered (the daemon binds pipeline::handle).
using message_handler =
    std::function<asio::awaitable<reply>(std::string chat, std::string text, answer_sink sink, request_options options)>;

struct channel_hooks {
  message_handler handle;
  std::function<result<void>(const std::string& chat)> reset;  // /reset
  std::function<std::string()> status_text;                     // /status
};

class channel {
 public:
  channel(asio::any_io_executor ex, bot_api api, conversation_store& store, channel_settings settings,
          channel_hooks hooks);
  ~channel();
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  // Resumes unfinished updates and starts polling.
  void start();
  // Completes once the first getUpdates has gone out, or after `at_most`. The daemon spawns
  // the model servers after it: their start takes the CPU for a moment.
  asio::awaitable<void> polling(std::chrono::milliseconds at_most);
  // Stops polling, confirms the last stored update to Telegram (bounded) and returns.
  // Messages still being answered are abandoned here; they are stored and resume next start.
  asio::awaitable<void> stop();

  const channel_stats& stats() const noexcept { return stats_; }
  const std::string& bot_username() const noexcept { return username_; }

  static constexpr std::string_view inbox_channel = "telegram";

 private:
  struct lane {
    std::deque<inbox_item> queue;
    bool running = false;
  };
  enum class delivery { sent, ambiguous, failed };

  asio::awaitable<void> run();
  asio::awaitable<void> identify();       // getMe until it answers, then setMyCommands
  asio::awaitable<bool> allow_polling();  // deleteWebhook until it answers
  asio::awaitable<bool> identified();     // waits for identify(); false when stopping
  asio::awaitable<void> poll_loop();
  asio::awaitable<void> pause(std::chrono::milliseconds d);
  void enqueue(inbox_item item);
  asio::awaitable<void> work(std::int64_t chat);
  asio::awaitable<void> process(inbox_item item);
  asio::awaitable<void> answer(const inbox_item& item, const message& m, std::string text,
                               std::optional<std::string> forced_query);
  asio::awaitable<void> reply_with(const inbox_item& item, const message& m, std::string markdown,
                                   std::optional<std::int64_t> preview_id = std::nullopt);
  // first_marked: inbox_set_reply() already marked part 0 as in flight.
  asio::awaitable<void> send_reply(inbox_item item, bool first_marked = false);
  asio::awaitable<delivery> deliver(std::int64_t chat, std::string html, std::optional<std::int64_t> edit_id,
                                    std::optional<std::int64_t> reply_to);
  asio::awaitable<void> refuse_stranger(const message& m);
  bool addressed(const message& m, std::string& text) const;
  void finish(std::int64_t id, int parts_sent = 0);

  asio::any_io_executor ex_;
  bot_api api_;
  conversation_store& store_;
  std::unique_ptr<log_syncer> syncer_;  // syncs stored updates off this thread (null: at commit)
  channel_settings settings_;
  channel_hooks hooks_;
  channel_stats stats_;
  std::string username_;
  std::int64_t bot_id_ = 0;
  bool identified_ = false;            // getMe has answered: bot_id_ and username_ are known
  asio::steady_timer identity_wait_;   // never expires; cancelled when identified (or stopping)
  bool polled_ = false;                // the first getUpdates has been sent
  asio::steady_timer first_poll_;      // polling() waits on it; cancelled by the first getUpdates
  std::int64_t offset_ = 0;  // the next update_id wanted (0: whatever Telegram has)
  bool stopping_ = false;
  bool drafts_ok_ = true;  // cleared when sendMessageDraft is refused (an older Bot API server)
  std::map<std::int64_t, lane> lanes_;
  // After an inbox write that the store could not settle (errc::store_uncertain): the batch's
  // ids. The write may have been kept, and then the same updates, delivered again, are no longer
  // new to the store: they are answered from here unless this run took them already.
  std::set<std::int64_t> unsettled_;
  std::set<std::int64_t> taken_;  // ids taken from polls and not confirmed yet (offset_ moves past)
  // Stranger id → day of the last refusal: the fallback when the store cannot say (it keeps
  // this across restarts: conversation_store::stranger_refusal_due).
  std::map<std::int64_t, std::int64_t> refused_on_day_;
  std::shared_ptr<asio::steady_timer> poll_wait_;        // wakes poll_loop: a poll ended, or stop()
};

// The visible text of Telegram HTML (tags dropped, entities decoded): the plain-text resend.
std::string html_to_text(std::string_view html);

}  // namespace openclawd::gateway::telegram
