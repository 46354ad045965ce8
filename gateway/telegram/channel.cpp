#include "gateway/telegram/channel.hpp"

#include "core/log.hpp"
#include "gateway/telegram/format.hpp"

#include <algorithm>

namespace openclawd::gateway::telegram {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using clock = std::chrono::steady_clock;
constexpr std::string_view tag = "telegram";

const char* const help_text =
    "I am a private assistant running on my owner's own computer: no cloud.\n\n"
    "Just write to me. Commands:\n"
    "/search <words> - look something up on the web first\n"
    "/reset - forget our conversation\n"
    "/status - how the models are doing\n"
    "/help - this text";

std::string chat_key(std::int64_t chat) { return "telegram:" + std::to_string(chat); }

std::size_t code_points(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

bool contains(const std::vector<std::int64_t>& v, std::int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

std::int64_t day_number() {
  return std::chrono::duration_cast<std::chrono::hours>(std::chrono::system_clock::now().time_since_epoch()).count() / 24;
}

std::chrono::milliseconds doubled(std::chrono::milliseconds d, std::chrono::milliseconds cap) {
  return std::min(d * 2, cap);
}

// The first whitespace-separated word, and the rest (trimmed).
std::pair<std::string, std::string> split_command(const std::string& text) {
  const auto end = text.find_first_of(" \t\n");
  std::string cmd = text.substr(0, end);
  std::string rest = end == std::string::npos ? std::string() : text.substr(end + 1);
  const auto first = rest.find_first_not_of(" \t\n");
  rest = first == std::string::npos ? std::string() : rest.substr(first);
  while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\n' || rest.back() == '\t')) rest.pop_back();
  return {cmd, rest};
}

}  // namespace

std::string html_to_text(std::string_view html) {
  std::string out;
  out.reserve(html.size());
  for (std::size_t i = 0; i < html.size();) {
    const char c = html[i];
    if (c == '<') {
      const auto close = html.find('>', i);
      if (close == std::string_view::npos) break;
      i = close + 1;
      continue;
    }
    if (c == '&') {
      const auto semi = html.find(';', i);
      if (semi != std::string_view::npos && semi - i <= 10) {
        const auto ent = html.substr(i + 1, semi - i - 1);
        std::string decoded;
        if (ent == "lt") decoded = "<";
        else if (ent == "gt") decoded = ">";
        else if (ent == "amp") decoded = "&";
        else if (ent == "quot") decoded = "\"";
        else if (ent.size() > 1 && ent[0] == '#') {
          unsigned long cp = 0;
          try {
            cp = ent[1] == 'x' || ent[1] == 'X' ? std::stoul(std::string(ent.substr(2)), nullptr, 16)
                                                : std::stoul(std::string(ent.substr(1)), nullptr, 10);
          } catch (...) {
            cp = 0xFFFD;
          }
          if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
          if (cp < 0x80) decoded += static_cast<char>(cp);
          else if (cp < 0x800) {
            decoded += static_cast<char>(0xC0 | (cp >> 6));
            decoded += static_cast<char>(0x80 | (cp & 0x3F));
          } else if (cp < 0x10000) {
            decoded += static_cast<char>(0xE0 | (cp >> 12));
            decoded += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            decoded += static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            decoded += static_cast<char>(0xF0 | (cp >> 18));
            decoded += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            decoded += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            decoded += static_cast<char>(0x80 | (cp & 0x3F));
          }
        }
        if (!decoded.empty()) {
          out += decoded;
          i = semi + 1;
          continue;
        }
      }
    }
    out += c;
    ++i;
  }
  return out;
}

channel_settings channel_settings::from(const core::telegram_config& c) {
  channel_settings s;
  s.allowed_users = c.allowed_users;
  s.allowed_groups = c.allowed_groups;
  s.strangers = c.strangers;
  s.poll_timeout = c.poll_timeout;
  s.watchdog = c.watchdog;
  s.streaming = c.streaming;
  s.edit_interval = c.edit_interval;
  s.typing_interval = c.typing_interval;
  s.typing_delay = c.typing_delay;
  s.max_input_chars = c.max_input_chars;
  return s;
}

channel::channel(asio::any_io_executor ex, bot_api api, conversation_store& store, channel_settings settings,
                 channel_hooks hooks)
    : ex_(std::move(ex)),
      api_(std::move(api)),
      store_(store),
      settings_(std::move(settings)),
      hooks_(std::move(hooks)),
      identity_wait_(ex_, asio::steady_timer::time_point::max()),
      first_poll_(ex_) {
  if (auto s = log_syncer::open(store_.log_path())) {
    syncer_ = std::move(*s);
  } else {
    core::log_warn(tag, "cannot open the store's write-ahead log (" + s.error().message() +
                            "); stored updates are synced on the event loop's thread");
  }
}

channel::~channel() = default;

void channel::start() {
  stats_.last_poll_completed = clock::now();
  asio::co_spawn(ex_, run(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      core::log_error(tag, std::string("the channel stopped: ") + ex.what());
    }
  });
}

asio::awaitable<void> channel::stop() {
  if (stopping_) co_return;
  stopping_ = true;
  if (poll_wait_) poll_wait_->cancel();
  identity_wait_.cancel();
  first_poll_.cancel();
  // Confirm what is stored, so that Telegram does not deliver it again (it would be ignored
  // as a duplicate anyway). Short: shutdown must not wait on the network.
  if (offset_ > 0) {
    json params;
    params["offset"] = offset_;
    params["limit"] = 1;
    params["timeout"] = 0;
    (void)co_await api_.call("getUpdates", std::move(params), 2s);
  }
}

asio::awaitable<void> channel::polling(std::chrono::milliseconds at_most) {
  if (polled_ || stopping_) co_return;
  first_poll_.expires_after(at_most);
  co_await first_poll_.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> channel::pause(std::chrono::milliseconds d) {
  asio::steady_timer t(ex_);
  t.expires_after(d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> channel::run() {
  // Unfinished business from before a restart first: those updates are already confirmed
  // to Telegram and exist only in the inbox.
  if (auto old = store_.inbox_summary_of(inbox_channel); old && old->max_id > 0) offset_ = old->max_id + 1;
  (void)store_.inbox_prune(inbox_channel, std::chrono::hours(24 * 7));
  (void)store_.forget_strangers_before(inbox_channel, day_number());  // refused on an earlier day: due again
  if (auto open = store_.inbox_open(inbox_channel)) {
    if (!open->empty())
      core::log_info(tag, "resuming " + std::to_string(open->size()) + " unfinished update(s) from before the restart");
    for (auto& item : *open) enqueue(std::move(item));
  } else {
    core::log_error(tag, "cannot read the inbox: " + store_.last_error());
  }
  // One call before the first getUpdates, not three: getMe (the bot's name, which group
  // messages mention) and setMyCommands run alongside polling, and messages wait for getMe
  // before they are processed. Over the internet each call is a round trip to Telegram.
  asio::co_spawn(ex_, identify(), asio::detached);
  if (!co_await allow_polling()) co_return;
  co_await poll_loop();
}

asio::awaitable<void> channel::identify() {
  // getMe proves the token and gives the username that group messages mention.
  auto delay = settings_.retry_initial;
  for (;;) {
    if (stopping_) co_return;
    auto me = co_await api_.call("getMe", json::object(), 30s);
    if (me) {
      bot_id_ = me->value("id", std::int64_t{0});
      username_ = me->value("username", std::string());
      break;
    }
    const auto& e = me.error();
    if (e.is(401) || e.is(404)) {
      core::log_error(tag, "Telegram refuses the bot token (" + e.to_string() +
                               "); check telegram.token_file. Retrying in 5 minutes.");
      co_await pause(5min);
    } else {
      core::log_warn(tag, "cannot reach the Bot API yet (" + e.to_string() + "); retrying");
      const std::chrono::milliseconds wait = e.retry_after ? std::chrono::milliseconds(*e.retry_after) : delay;
      co_await pause(wait);
      delay = doubled(delay, settings_.retry_max);
    }
  }
  identified_ = true;
  identity_wait_.cancel();
  core::log_info(tag, "connected as @" + username_ + " (bot " + api_.redacted_token() + ")");
  json commands = json::array();
  for (const auto& [c, d] : {std::pair{"start", "Say hello"}, {"help", "What I can do"},
                             {"search", "Look something up on the web first"}, {"reset", "Forget our conversation"},
                             {"status", "How the models are doing"}}) {
    json one;
    one["command"] = c;
    one["description"] = d;
    commands.push_back(std::move(one));
  }
  json params;
  params["commands"] = std::move(commands);
  if (auto r = co_await api_.call("setMyCommands", std::move(params), 30s); !r)
    core::log_warn(tag, "setMyCommands failed (" + r.error().to_string() + "); the command menu may be stale");
}

asio::awaitable<bool> channel::allow_polling() {
  // deleteWebhook makes getUpdates possible (a webhook blocks it with 409). Its failures are
  // logged only once getMe has answered: before that, identify() says what is wrong.
  auto delay = settings_.retry_initial;
  for (;;) {
    if (stopping_) co_return false;
    json params;
    params["drop_pending_updates"] = false;
    auto hook = co_await api_.call("deleteWebhook", std::move(params), 30s);
    if (hook) co_return true;
    const auto& e = hook.error();
    if (identified_) core::log_warn(tag, "deleteWebhook failed (" + e.to_string() + "); retrying");
    std::chrono::milliseconds wait = e.retry_after ? std::chrono::milliseconds(*e.retry_after) : delay;
    if (e.is(401) || e.is(404)) wait = 5min;
    co_await pause(wait);
    delay = doubled(delay, settings_.retry_max);
  }
}

asio::awaitable<bool> channel::identified() {
  while (!identified_ && !stopping_) co_await identity_wait_.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return identified_ && !stopping_;
}

asio::awaitable<void> channel::poll_loop() {
  auto delay = settings_.retry_initial;
  const auto http_deadline = settings_.poll_timeout + 10s;
  while (!stopping_) {
    json params;
    if (offset_ > 0) params["offset"] = offset_;
    params["timeout"] = std::chrono::duration_cast<std::chrono::seconds>(settings_.poll_timeout).count();
    params["allowed_updates"] = json::array({"message"});

    // The request runs on its own; this loop waits for it or for the watchdog, whichever
    // comes first. An abandoned request ends at its own deadline and its answer is dropped
    // (its updates come again: their offset was not confirmed).
    struct slot {
      explicit slot(const asio::any_io_executor& ex) : done(ex) {}
      std::optional<api_result<json>> result;
      asio::steady_timer done;
    };
    auto s = std::make_shared<slot>(ex_);
    s->done.expires_at(stats_.last_poll_completed + settings_.watchdog);
    poll_wait_ = std::shared_ptr<asio::steady_timer>(s, &s->done);
    asio::co_spawn(
        ex_,
        [this, s, params = std::move(params), http_deadline]() mutable -> asio::awaitable<void> {
          if (!polled_) {  // wakes polling(), which resumes once this request is on its way
            polled_ = true;
            first_poll_.cancel();
          }
          s->result = co_await api_.call("getUpdates", std::move(params), http_deadline);
          s->done.cancel();
        },
        asio::detached);
    co_await s->done.async_wait(asio::as_tuple(asio::use_awaitable));
    poll_wait_.reset();
    if (stopping_) break;
    if (!s->result) {
      ++stats_.watchdog_restarts;
      const auto since = std::chrono::duration_cast<std::chrono::seconds>(clock::now() - stats_.last_poll_completed);
      core::log_warn(tag, "no getUpdates has completed for " + std::to_string(since.count()) +
                              " s; abandoning the stuck poll and polling again on a new connection");
      stats_.last_poll_completed = clock::now();  // one restart per watchdog period, not a spin
      continue;
    }
    auto& r = *s->result;
    if (!r) {
      ++stats_.poll_errors;
      const auto& e = r.error();
      std::chrono::milliseconds wait = delay;
      if (e.is(409) && e.description_has("webhook")) {
        core::log_warn(tag, "a webhook is set for this bot (409); deleting it and polling again");
        (void)co_await api_.call("deleteWebhook", json::object(), 30s);
      } else if (e.is(409)) {
        core::log_error(tag, "409 Conflict: another program is polling this bot's updates (" + e.description +
                                 "). Only one may; stop the other one. Retrying in " +
                                 std::to_string(wait.count() / 1000.0).substr(0, 4) + " s");
      } else if (e.is(401) || e.is(404)) {
        core::log_error(tag, "Telegram refuses the bot token (" + e.to_string() + "); retrying in 5 minutes");
        wait = 5min;
      } else if (e.retry_after) {
        ++stats_.rate_limited;
        wait = std::chrono::milliseconds(*e.retry_after);
        core::log_warn(tag, "getUpdates: " + e.to_string() + "; waiting as told");
      } else {
        core::log_warn(tag, "getUpdates failed (" + e.to_string() + "); retrying in " +
                                std::to_string(wait.count()) + " ms");
      }
      delay = doubled(delay, settings_.retry_max);
      co_await pause(wait);
      continue;
    }
    delay = settings_.retry_initial;
    stats_.last_poll_completed = clock::now();
    ++stats_.polls_completed;
    auto batch = decode_updates(*r);
    if (!batch) {
      core::log_warn(tag, "getUpdates answered something that is not a list of updates; polling again");
      continue;
    }
    if (batch->undecodable > 0)
      core::log_warn(tag, std::to_string(batch->undecodable) + " update(s) could not be read and are skipped");
    if (batch->updates.empty() && batch->max_update_id == 0) continue;
    std::vector<inbox_entry> entries;
    for (const auto& u : batch->updates) {
      inbox_entry e;
      e.id = u.update_id;
      e.chat_id = u.msg ? chat_key(u.msg->chat_id) : std::string();
      e.payload = u.raw;
      entries.push_back(std::move(e));
    }
    // Stored, and on disk before the next getUpdates confirms them to Telegram. The fsync runs
    // on the syncer's thread: the messages are answered meanwhile (a reply is only sent after
    // a synced write of its own, which carries the batch to disk too).
    auto added = store_.inbox_add(inbox_channel, entries, syncer_ ? durability::deferred : durability::now);
    if (!added) {
      // Not confirmed either way. After an I/O error the store looked again and answered kept
      // (success) or not kept (this); store_uncertain: it could not look, see unsettled_.
      if (added.error() == errc::store_uncertain)
        for (const auto& e : entries) unsettled_.insert(e.id);
      core::log_error(tag, "cannot store updates (" + store_.last_error() +
                               "); not confirming them, Telegram will deliver them again");
      co_await pause(delay);
      delay = doubled(delay, settings_.retry_max);
      continue;
    }
    stats_.updates_received += added->size();
    for (auto& e : entries) {
      const bool is_new = std::find(added->begin(), added->end(), e.id) != added->end();
      // Not new, but stored by a write whose outcome was unknown, and not taken since: its one answer is now.
      const bool unsettled = unsettled_.erase(e.id) > 0 && !taken_.contains(e.id);
      if (!is_new && !unsettled) continue;  // seen before
      if (unsettled && !is_new) core::log_info(tag, "update " + std::to_string(e.id) + " was stored after all; answering it");
      taken_.insert(e.id);
      inbox_item item;
      static_cast<inbox_entry&>(item) = std::move(e);
      enqueue(std::move(item));
    }
    if (syncer_ && !entries.empty()) {
      auto synced = co_await syncer_->sync();
      if (!synced) {
        core::log_error(tag, "cannot sync stored updates to disk (" + synced.error().message() +
                                 "); not confirming them, Telegram will deliver them again");
        co_await pause(delay);
        delay = doubled(delay, settings_.retry_max);
        continue;
      }
    }
    offset_ = std::max(offset_, batch->max_update_id + 1);
    // Confirmed: Telegram never sends these again.
    taken_.erase(taken_.begin(), taken_.lower_bound(offset_));
    unsettled_.erase(unsettled_.begin(), unsettled_.lower_bound(offset_));
  }
}

void channel::enqueue(inbox_item item) {
  auto u = parse_update(item.payload);
  if (!u || !u->msg) {  // nothing to answer (an update type we did not ask for)
    finish(item.id);
    return;
  }
  const std::int64_t chat = u->msg->chat_id;
  auto& l = lanes_[chat];
  l.queue.push_back(std::move(item));
  ++stats_.queued;
  if (!l.running) {
    l.running = true;
    asio::co_spawn(ex_, work(chat), [this, chat](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        core::log_error(tag, "chat " + std::to_string(chat) + ": " + ex.what());
      }
      lanes_[chat].running = false;
    });
  }
}

asio::awaitable<void> channel::work(std::int64_t chat) {
  for (;;) {
    auto& l = lanes_[chat];
    if (l.queue.empty() || stopping_) {
      l.running = false;
      if (l.queue.empty()) lanes_.erase(chat);
      co_return;
    }
    inbox_item item = l.queue.front();
    co_await process(item);
    auto& after = lanes_[chat];  // the map may have changed while we waited
    after.queue.pop_front();
    --stats_.queued;
  }
}

void channel::finish(std::int64_t id, int parts_sent) {
  if (auto r = store_.inbox_done(inbox_channel, id, parts_sent); !r)
    core::log_warn(tag, "cannot mark update " + std::to_string(id) + " done: " + store_.last_error());
}

bool channel::addressed(const message& m, std::string& text) const {
  if (m.reply_to_from_id && *m.reply_to_from_id == bot_id_ && bot_id_ != 0) return true;
  if (username_.empty()) return false;
  const std::string mention = "@" + username_;
  auto at = text.find(mention);
  if (at == std::string::npos) return false;
  // "/cmd@bot" stays a command; a plain "@bot" mention is removed from the question.
  if (at > 0 && text[0] == '/' && text.find_first_of(" \n") > at) {
    text.erase(at, mention.size());
  } else {
    text.erase(at, mention.size());
    while (!text.empty() && (text.front() == ' ' || text.front() == ',' || text.front() == ':')) text.erase(0, 1);
  }
  return true;
}

asio::awaitable<void> channel::process(inbox_item item) {
  // Mentions and "/cmd@bot" need the bot's name; stopping leaves the item for the next start.
  if (!co_await identified()) co_return;
  auto u = parse_update(item.payload);
  if (!u || !u->msg) {
    finish(item.id);
    co_return;
  }
  const message& m = *u->msg;
  if (item.state == inbox_state::replying) {  // the reply was decided before a restart
    co_await send_reply(std::move(item));
    co_return;
  }
  if (u->type != "message" || (m.from && m.from->is_bot)) {
    finish(item.id);
    co_return;
  }
  const std::int64_t from = m.from ? m.from->id : 0;
  std::string text = m.text.value_or("");
  if (m.chat_type == "private") {
    if (!contains(settings_.allowed_users, from)) {
      co_await refuse_stranger(m);
      finish(item.id);
      co_return;
    }
  } else if (m.chat_type == "group" || m.chat_type == "supergroup") {
    // A listed group is the permission; the bot speaks there only when spoken to.
    if (!contains(settings_.allowed_groups, m.chat_id)) {
      core::log_info(tag, "ignoring a message in group " + std::to_string(m.chat_id) +
                              " (not in telegram.allowed_groups)");
      finish(item.id);
      co_return;
    }
    if (!addressed(m, text)) {
      finish(item.id);
      co_return;
    }
  } else {
    finish(item.id);
    co_return;
  }

  // A fixed reply (commands, refusals of unusable input) or an answer from the models.
  // (Built into a local first: GCC 12 mishandles temporaries in a co_await expression.)
  std::string canned;
  std::optional<std::string> forced_query;
  if (!m.text) {
    canned = "I can only read text messages for now (this one was a " + m.kind + ").";
  } else if (code_points(text) > static_cast<std::size_t>(settings_.max_input_chars)) {
    canned = "That message is too long for me: " + std::to_string(code_points(text)) +
             " characters, and I read at most " + std::to_string(settings_.max_input_chars) +
             ". Please send a shorter one, or split it.";
  } else if (!text.empty() && text[0] == '/') {
    auto [cmd, rest] = split_command(text);
    if (const auto at = cmd.find('@'); at != std::string::npos) {
      if (cmd.substr(at + 1) != username_) {  // a command for another bot in the group
        finish(item.id);
        co_return;
      }
      cmd.erase(at);
    }
    if (cmd == "/start" || cmd == "/help") {
      canned = help_text;
    } else if (cmd == "/reset") {
      const bool ok = hooks_.reset && hooks_.reset(chat_key(m.chat_id));
      canned = ok ? "Done: I have forgotten our conversation." : "Sorry, I could not reset our conversation.";
    } else if (cmd == "/status") {
      canned = hooks_.status_text ? hooks_.status_text() : std::string("No status available.");
    } else if (cmd == "/search") {
      if (rest.empty()) canned = "Usage: /search <what to look up>";
      else forced_query = rest;
    } else {
      canned = "I do not know " + cmd + ". /help lists what I understand.";
    }
  }
  if (!canned.empty()) {
    co_await reply_with(item, m, std::move(canned));
    co_return;
  }
  co_await answer(item, m, std::move(text), std::move(forced_query));
}

asio::awaitable<void> channel::refuse_stranger(const message& m) {
  const std::int64_t from = m.from ? m.from->id : 0;
  core::log_info(tag, "message from user " + std::to_string(from) + " refused: not in telegram.allowed_users");
  if (settings_.strangers != core::stranger_policy::refuse_daily) co_return;
  const auto today = day_number();
  // Remembered in the store, so that a restart (or a crash loop) does not refuse again the same
  // day. If the store fails, this run's memory decides: at most one refusal a day per run.
  bool due = false;
  if (auto r = store_.stranger_refusal_due(inbox_channel, from, today)) {
    due = *r;
  } else {
    core::log_warn(tag, "cannot record the refusal of user " + std::to_string(from) + ": " + store_.last_error());
    const auto it = refused_on_day_.find(from);
    due = it == refused_on_day_.end() || it->second != today;
  }
  refused_on_day_[from] = today;
  if (!due) co_return;
  ++stats_.strangers_refused;
  std::string refusal = "This is a private assistant; it answers only the people its owner has listed. "
                        "(Your Telegram user id is " + std::to_string(from) + ".)";
  (void)co_await deliver(m.chat_id, std::move(refusal), std::nullopt, std::nullopt);
}

asio::awaitable<void> channel::answer(const inbox_item& item, const message& m, std::string text,
                                      std::optional<std::string> forced_query) {
  const std::int64_t chat = m.chat_id;
  const bool is_private = m.chat_type == "private";
  const bool use_draft = settings_.streaming == "auto" && is_private && drafts_ok_;
  const bool use_edit = settings_.streaming == "edit" || (settings_.streaming == "auto" && !use_draft);

  // While the models work: "typing…" (it fades after 5 s) and a throttled preview. Typing
  // starts after typing_delay: a reply that is ready sooner needs no Bot API call for it.
  struct live_state {
    explicit live_state(const asio::any_io_executor& ex) : settled(ex) {}
    bool done = false;
    std::string shown;           // the answer so far (Markdown)
    bool thinking = false;       // `shown` is the "thinking…" placeholder, replaced by the first delta
    bool dirty = false;
    bool updating = false;
    asio::steady_timer settled;  // cancelled when an update in flight has finished
    std::optional<std::int64_t> preview_id;
    clock::time_point next_update{};
  };
  auto live = std::make_shared<live_state>(ex_);
  asio::co_spawn(
      ex_,
      [this, live, chat]() -> asio::awaitable<void> {
        if (settings_.typing_delay.count() > 0) co_await pause(settings_.typing_delay);
        while (!live->done && !stopping_) {
          json params;
          params["chat_id"] = chat;
          params["action"] = "typing";
          (void)co_await api_.call("sendChatAction", std::move(params), 10s);
          co_await pause(settings_.typing_interval);
        }
      },
      asio::detached);
  const std::int64_t draft_id = std::max<std::int64_t>(1, item.id % 2'000'000'000);
  auto update_preview = [this, live, chat, draft_id, use_draft]() -> asio::awaitable<void> {
    while (live->dirty && !live->done) {
      const auto now = clock::now();
      if (now < live->next_update) co_await pause(std::chrono::duration_cast<std::chrono::milliseconds>(live->next_update - now));
      if (live->done) break;
      live->dirty = false;
      live->next_update = clock::now() + settings_.edit_interval;
      const auto parts = split_html(markdown_to_html(live->shown + " …"), 4096);
      if (parts.empty()) continue;
      json params;
      params["chat_id"] = chat;
      params["text"] = parts.front();
      params["parse_mode"] = "HTML";
      api_result<json> r = api_error{};
      if (use_draft) {
        params["draft_id"] = draft_id;
        r = co_await api_.call("sendMessageDraft", std::move(params), 10s);
        if (!r && (r.error().is(400) || r.error().is(404)) && !r.error().description_has("parse")) {
          core::log_info(tag, "sendMessageDraft is not available (" + r.error().to_string() +
                                  "); streaming with edited previews instead");
          drafts_ok_ = false;
          live->done = true;  // this reply finishes without a preview
        }
      } else if (!live->preview_id) {
        params["link_preview_options"] = json{{"is_disabled", true}};
        r = co_await api_.call("sendMessage", std::move(params), 10s);
        if (r && r->contains("message_id")) live->preview_id = (*r)["message_id"].get<std::int64_t>();
      } else {
        params["message_id"] = *live->preview_id;
        params["link_preview_options"] = json{{"is_disabled", true}};
        r = co_await api_.call("editMessageText", std::move(params), 10s);
      }
      if (!r && r.error().retry_after) {
        ++stats_.rate_limited;
        live->next_update = clock::now() + std::chrono::milliseconds(*r.error().retry_after);
      }
    }
    live->updating = false;
    live->settled.cancel();
  };
  answer_sink sink;
  if (use_draft || use_edit) {
    auto show = [this, live, update_preview] {
      live->dirty = true;
      if (!live->updating && !live->done) {
        live->updating = true;
        // The callable form: co_spawn keeps the lambda (and its captures) alive in the
        // coroutine's frame; calling it here would leave the frame pointing into `sink`.
        asio::co_spawn(ex_, update_preview, asio::detached);
      }
    };
    sink.delta = [live, show](std::string_view d) {
      if (live->thinking) live->shown.clear();
      live->thinking = false;
      live->shown += d;
      show();
    };
    sink.restart = [live] {
      live->shown.clear();
      live->thinking = false;
      live->dirty = false;
    };
    // A thinking model reasons first: the preview says so instead of staying blank.
    sink.thinking = [live, show] {
      if (!live->shown.empty()) return;
      live->shown = "_thinking…_";
      live->thinking = true;
      show();
    };
  }
  request_options opts;
  opts.origin = "telegram:" + std::to_string(item.id);
  opts.forced_query = std::move(forced_query);
  // The update is already in the inbox (synced), and send_reply() syncs before each part goes
  // out: the turns need no fsync of their own.
  opts.deferred_sync = true;
  reply r;
  r.text = "No assistant is configured.";
  std::string key = chat_key(chat);
  if (hooks_.handle) r = co_await hooks_.handle(std::move(key), std::move(text), std::move(sink), std::move(opts));
  live->done = true;
  // Wait for an edit in flight, so the final text is not overwritten by a late preview.
  // Woken the moment it finishes (a 20 ms polling step here once cost every streamed reply
  // ~20 ms); at most 2 s.
  if (live->updating) {
    live->settled.expires_after(2s);
    co_await live->settled.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (r.text.empty()) r.text = "(no answer)";
  const auto preview = live->preview_id;
  co_await reply_with(item, m, std::move(r.text), preview);
}

asio::awaitable<void> channel::reply_with(const inbox_item& item, const message& m, std::string markdown,
                                          std::optional<std::int64_t> preview_id) {
  json planned;
  planned["chat"] = m.chat_id;
  planned["reply_to"] = m.message_id;
  planned["parts"] = split_html(markdown_to_html(markdown), 4096);
  if (preview_id) planned["edit"] = *preview_id;
  const std::string stored = planned.dump();
  if (auto r = store_.inbox_set_reply(inbox_channel, item.id, stored); !r)
    core::log_warn(tag, "cannot store the reply to update " + std::to_string(item.id) + ": " + store_.last_error());
  inbox_item next = item;
  next.state = inbox_state::replying;
  next.reply = stored;
  co_await send_reply(std::move(next), true);
}

asio::awaitable<void> channel::send_reply(inbox_item item, bool first_marked) {
  json planned = json::parse(item.reply, nullptr, false);
  if (planned.is_discarded() || !planned.contains("parts") || !planned["parts"].is_array()) {
    core::log_error(tag, "update " + std::to_string(item.id) + ": the stored reply is unreadable; dropping it");
    finish(item.id);
    co_return;
  }
  const std::int64_t chat = planned.value("chat", std::int64_t{0});
  const std::int64_t reply_to = planned.value("reply_to", std::int64_t{0});
  std::optional<std::int64_t> edit;
  if (planned.contains("edit") && planned["edit"].is_number_integer()) edit = planned["edit"].get<std::int64_t>();
  const auto& parts = planned["parts"];
  const int n = static_cast<int>(parts.size());
  int sent = item.parts_sent;
  for (int i = item.parts_sent; i < n; ++i) {
    if (i == item.uncertain_part) {
      // Its send was cut off (here or before a restart): it may have arrived. Never twice.
      ++stats_.parts_uncertain;
      core::log_warn(tag, "update " + std::to_string(item.id) + ": part " + std::to_string(i + 1) + " of " +
                              std::to_string(n) + " may or may not have arrived; not sending it again");
      sent = i + 1;
      if (sent < n) (void)store_.inbox_parts_sent(inbox_channel, item.id, sent);
      continue;
    }
    // In flight: see above. This mark is synced (durability::now), and with it everything
    // stored before it: the turns and the reply are on disk before any of it is sent. The
    // first part's mark was made with the reply itself (inbox_set_reply), in one transaction.
    if (!(first_marked && i == 0)) (void)store_.inbox_part_uncertain(inbox_channel, item.id, i);
    const auto outcome = co_await deliver(chat, parts[static_cast<std::size_t>(i)].get<std::string>(),
                                          i == 0 ? edit : std::nullopt,
                                          i == 0 && reply_to != 0 ? std::optional(reply_to) : std::nullopt);
    if (outcome == delivery::ambiguous) {
      ++stats_.parts_uncertain;
      core::log_warn(tag, "update " + std::to_string(item.id) + ": part " + std::to_string(i + 1) +
                              " was sent but not confirmed; not sending it again");
    }
    if (outcome == delivery::failed) {
      ++stats_.send_failures;
      break;
    }
    ++stats_.parts_sent;
    sent = i + 1;
    // The last part's progress is recorded with "done", in one transaction.
    if (sent < n) (void)store_.inbox_parts_sent(inbox_channel, item.id, sent);
  }
  ++stats_.messages_handled;
  finish(item.id, sent);
}

asio::awaitable<channel::delivery> channel::deliver(std::int64_t chat, std::string html,
                                                    std::optional<std::int64_t> edit_id,
                                                    std::optional<std::int64_t> reply_to) {
  bool plain = false;
  auto delay = settings_.retry_initial;
  for (int attempt = 0; attempt < settings_.send_attempts;) {
    json params;
    params["chat_id"] = chat;
    params["text"] = plain ? html_to_text(html) : html;
    if (!plain) params["parse_mode"] = "HTML";
    params["link_preview_options"] = json{{"is_disabled", true}};
    if (reply_to && !edit_id) params["reply_parameters"] = json{{"message_id", *reply_to}, {"allow_sending_without_reply", true}};
    if (edit_id) params["message_id"] = *edit_id;
    std::string method = edit_id ? "editMessageText" : "sendMessage";
    auto r = co_await api_.call(std::move(method), std::move(params), 30s);
    if (r) co_return delivery::sent;
    const auto& e = r.error();
    if (e.what == api_error::kind::transport && e.ambiguous) co_return delivery::ambiguous;
    if (e.is(400) && e.description_has("message is not modified")) co_return delivery::sent;
    if (e.is(400) && e.description_has("can't parse entities") && !plain) {
      ++stats_.plain_fallbacks;
      core::log_warn(tag, "Telegram rejected the HTML of a reply (" + e.description + "); sending it as plain text");
      plain = true;
      continue;
    }
    if (edit_id && e.what == api_error::kind::api && e.error_code == 400) {
      edit_id.reset();  // the preview is gone or cannot be edited: send the text as a new message
      continue;
    }
    if (e.retry_after) {
      ++stats_.rate_limited;
      ++attempt;
      const auto wait = std::chrono::milliseconds(*e.retry_after) + 100ms;
      co_await pause(wait);
      continue;
    }
    if (e.what == api_error::kind::api && e.error_code >= 400 && e.error_code < 500) {
      core::log_warn(tag, "cannot send to chat " + std::to_string(chat) + ": " + e.to_string());
      co_return delivery::failed;
    }
    // Not delivered (no connection, or the server failed before taking it): try again.
    ++attempt;
    core::log_warn(tag, "sending to chat " + std::to_string(chat) + " failed (" + e.to_string() + "); retrying");
    co_await pause(delay);
    delay = doubled(delay, settings_.retry_max);
  }
  core::log_error(tag, "giving up sending to chat " + std::to_string(chat) + " after " +
                           std::to_string(settings_.send_attempts) + " attempts");
  co_return delivery::failed;
}

}  // namespace openclawd::gateway::telegram
