// One user message in, one answer out: store the message (durably, before any model is
// asked), keep the orchestrator's prompt inside its context (compacting in large steps),
// ask the orchestrator for a decision (JSON: answer, search or read, a query, a brief), run the
// search tool if asked, read the pages (links in the message, read while the orchestrator
// decides; the top results when it asks), and stream the subagent's answer under the
// degeneration guard, with its citations linked (gateway/citations.hpp).
// Owned by the daemon; runs on its io_context thread. The caller serializes messages of
// one chat (one at a time, in order); different chats may run concurrently.
#pragma once

#include "core/config.hpp"
#include "gateway/context_budget.hpp"
#include "gateway/conversation_shape.hpp"
#include "gateway/conversation_store.hpp"
#include "gateway/decision.hpp"
#include "gateway/degeneration_guard.hpp"
#include "gateway/kv_keeper.hpp"
#include "gateway/llm_client.hpp"
#include "tools/web_reader.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace openclawd::gateway {

// One model server as the pipeline sees it.
struct node_view {
  std::string name;       // "orchestrator" / "subagent", for logs and strikes
  llm_client* client = nullptr;
  int ctx = 0;            // context per slot (-c / -np)
  int slots = 1;          // -np: chats are pinned to a slot when > 1
  std::string model_key;  // identifies the model for cached token counts (e.g. its path)
};

// What the web-search tool gave, already rendered for a model as fenced, untrusted text.
struct search_outcome {
  bool available = false;
  int results = 0;
  std::string rendered;  // fenced and capped; empty when unavailable
  std::string reason;    // why it was unavailable ("blocked by DuckDuckGo; retry after 10 min")
  // The results' titles and URLs, in the order rendered: result i is cited as [i+1], and the
  // top ones are the pages read when the orchestrator asks to read.
  std::vector<std::pair<std::string, std::string>> links;
};
using search_function = std::function<asio::awaitable<search_outcome>(std::string query)>;

// Reads pages (tools::web_reader::read_all): one page_read per URL, in order, failures included.
using read_function = std::function<asio::awaitable<std::vector<tools::page_read>>(std::vector<std::string> urls)>;

// A node's output was degenerate: the app asks the supervisor to move it to its next
// fallback model and completes once the node is ready again (true) or not (false).
using strike_function = std::function<asio::awaitable<bool>(std::string node, std::string reason)>;

// Where the answer streams to. `restart` tells the channel to drop what it has shown:
// the answer is being produced again (after a node restart or a strike). `thinking` says, once
// per attempt, that a thinking model is reasoning before it answers (the reasoning itself is
// never shown or stored): a channel shows "thinking…" until the first delta.
struct answer_sink {
  std::function<void(std::string_view)> delta;
  std::function<void()> restart;
  std::function<void()> thinking;
};

struct pipeline_config {
  std::string orchestrator_prompt;  // fixed: no clock, no per-turn text (keeps the prompt cache)
  std::string subagent_prompt;
  std::string summary_prompt;
  int decision_max_tokens = decision_default_max_tokens;  // a hard cap: the decision is on the critical path
  int decision_brief_chars = 0;  // 0: no brief in the decision (the subagent answers from the conversation)
  int answer_max_tokens = 1024;
  int summary_max_tokens = 384;
  budget_config budget;
  degeneration_config guard;
  // How long to wait for a node that is (re)starting before telling the user.
  std::chrono::milliseconds not_ready_wait{std::chrono::seconds(120)};
  std::chrono::milliseconds not_ready_poll{std::chrono::milliseconds(250)};
  std::vector<int> banned_tokens;  // logit_bias: never sampled (e.g. known-bad special tokens)
  int strikes = 1;  // degenerate answers from one model before it is switched to its next fallback
  // Page reading (set_reader): the decision may say "read", and links in a message are read.
  bool reading = false;
  int read_results = 2;  // top search results read for a "read" decision
  int max_urls = 3;      // links read from one message

  // `reading`: the orchestrator's default prompt offers "read" (pages.enabled).
  static pipeline_config defaults(bool reading = false);
  // The defaults, with what the user's `pipeline:` section sets.
  static pipeline_config from(const core::pipeline_settings& s, const core::pages_config* pages = nullptr);
};

struct reply {
  std::string text;        // what the user gets (the answer, or one clear sentence on failure)
  bool ok = false;         // false: `text` explains what went wrong
  decision decided;
  bool searched = false;
  bool search_unavailable = false;
  std::vector<tools::page_read> pages;  // the pages asked for this message, read or not
  std::vector<int> cited;               // the source numbers the answer cites
  std::optional<llm_timings> decision_timings;
  std::optional<llm_timings> answer_timings;
  int orchestrator_prompt_tokens = 0;  // our count of the decision prompt (at most; bytes bound uncounted turns)
  int compactions = 0;
  int retries = 0;
  std::string degenerate;  // the guard's verdict on the subagent's answer, if it fired
  // The guard's verdict on the orchestrator's decision, or why it failed: the answer was then
  // written without a brief (and without a search).
  std::string orchestrator_problem;
  std::optional<llm_error_kind> failure;  // the last error from the subagent, when `ok` is false
};

// How one message is to be handled.
struct request_options {
  // The channel's id of the message ("telegram:815"). Handling the same origin again (after
  // a crash) neither stores the message twice nor asks the models again once an answer is stored.
  std::string origin;
  // `/search <query>`: search this, skipping the orchestrator's decision.
  std::optional<std::string> forced_query;
  // The turns may be stored with durability::deferred: the caller already holds the message
  // durably and syncs the store before anything leaves the machine (the Telegram channel's
  // inbox). Saves two fsyncs per message.
  bool deferred_sync = false;
};

// Counters for /metrics and the status page (the daemon's one thread reads them).
struct pipeline_stats {
  std::uint64_t requests = 0;  // messages handled (finished)
  std::uint64_t answered = 0;
  std::uint64_t failed = 0;    // the user got an apology instead of an answer
  std::uint64_t searches = 0;
  std::uint64_t searches_unavailable = 0;
  std::uint64_t reads = 0;         // "read" decisions
  std::uint64_t pages_read = 0;    // pages handed to the subagent
  std::uint64_t pages_failed = 0;  // pages that came back as a one-line note
  std::uint64_t cited_answers = 0; // answers that cited a source
  std::uint64_t compactions = 0;
  std::uint64_t degenerate = 0;      // answers or decisions aborted as degenerate
  std::uint64_t without_decision = 0;  // answered without the orchestrator's brief (it failed)
  std::uint64_t resumed = 0;   // answers served from the store for an origin seen before
  int in_flight = 0;           // messages being handled now
  std::optional<llm_timings> last_decision;
  std::optional<llm_timings> last_answer;
};

class pipeline {
 public:
  pipeline(conversation_store& store, node_view orchestrator, node_view subagent, search_function search,
           strike_function strike, pipeline_config config);

  asio::awaitable<reply> handle(std::string chat_id, std::string text, answer_sink sink, request_options options = {});
  const pipeline_stats& stats() const noexcept { return stats_; }
  const pipeline_config& config() const noexcept { return config_; }
  // A reload changed a node (its model, ctx or slots): later steps budget with `v`. The client
  // is the same object, retargeted in place, so a message under way carries on. Matched by name.
  void update_node(node_view v);
  // What the node's chat template accepts (gateway/template_probe.hpp), learned at ready;
  // requests are shaped for it from now on. Forgotten when the node's model changes.
  void set_template(const std::string& node, template_traits traits);
  // The orchestrator's slots and KV (gateway/kv_keeper.hpp): each chat gets its slot, restored
  // from its file when needed, and is warmed up once its answer is stored. Without one, chats
  // are pinned by a hash of their id when the node has several slots, and nothing is warmed.
  void set_kv_keeper(kv_keeper* orchestrator) { orchestrator_kv_ = orchestrator; }
  // The page reader; config().reading must be on for the orchestrator to be offered "read".
  void set_reader(read_function read) { read_ = std::move(read); }
  const template_traits& template_of(const std::string& node) const;
  // /reset: forget the conversation of one chat.
  result<void> reset(const std::string& chat_id) { return store_.reset(chat_id); }

 private:
  struct history {
    std::string summary;
    int summary_tokens = 0;
    std::int64_t covered_up_to = 0;
    std::vector<turn> turns;  // not covered by the summary, oldest first
    bool exact = true;        // every turn has its exact token count (else token_counts() bounds some)
    std::string also_model_key;  // whose cached counts the turns' also_tokens are (load())
  };
  // With an also_model_key each turn also carries that model's cached count (also_tokens).
  asio::awaitable<std::optional<history>> load(const std::string& chat, const node_view& node,
                                               std::string_view also_model_key = {});
  // Each turn's tokens: exact where counted before, else an upper bound from its bytes.
  static std::vector<int> token_counts(const history& h);
  // Asks the node for the turns without an exact count (and caches them in the store).
  asio::awaitable<void> count_exactly(const std::string& chat, history& h, const node_view& node);
  asio::awaitable<int> tokens_of(const node_view& node, const std::string& text);
  asio::awaitable<bool> compact(const std::string& chat, history& h, std::size_t fold, reply& out);
  // `seen`: the history the orchestrator was given (unless shortened), for answer() to reuse.
  asio::awaitable<decision> decide(const std::string& chat, reply& out, std::optional<history>& seen);
  // The brief and search results for the subagent, cut to `room` once counted over it.
  struct notes_budget {
    std::string text;
    int tokens = 0;      // exact, or token_bound() of the text
    bool exact = false;
    int room = 0;
  };
  asio::awaitable<void> count_notes(notes_budget& nb);
  // `seen`: decide()'s history, read from the store once per message instead of twice, with
  // the subagent's cached token counts beside the orchestrator's.
  // `pages`: read pages with their numbers, rendered into the notes within their budget.
  asio::awaitable<std::optional<std::string>> answer(const std::string& chat, std::string notes,
                                                     const std::vector<tools::numbered_page>& pages,
                                                     answer_sink& sink, reply& out, std::optional<history> seen);
  // The notes with the pages rendered into what is left of `room` tokens.
  asio::awaitable<void> add_pages(notes_budget& nb, const std::vector<tools::numbered_page>& pages);
  asio::awaitable<std::vector<tools::page_read>> read_links(std::vector<std::string> urls);
  asio::awaitable<bool> wait_until_ready(const node_view& node);
  std::optional<int> slot_for(const node_view& node, const std::string& chat) const;
  // The request's messages: `system`, the summary, turns from `first` on, `notes` with the
  // newest message, laid out for the node's template (gateway/conversation_shape.hpp).
  std::vector<chat_message> shape(const node_view& node, const std::string& system, const history& h,
                                  std::size_t first, std::string_view notes) const;

  conversation_store& store_;
  node_view orchestrator_, subagent_;
  search_function search_;
  read_function read_;
  strike_function strike_;
  pipeline_config config_;
  std::map<std::string, int> fixed_tokens_;  // token counts of the fixed prompts, per model key
  std::map<std::string, int> summary_prompt_tokens_;  // config_.summary_prompt's, per model key
  std::map<std::string, int> strikes_;       // degenerate answers per node since its last switch
  std::map<std::string, template_traits> templates_;  // by node name
  kv_keeper* orchestrator_kv_ = nullptr;
  std::map<std::string, bool> switching_;    // a strike's switch to a fallback is under way, by node
  // A chat's summary is re-read with every message but changes only at a compaction: its
  // token count per (model key, chat), checked against the text's hash and length, saves
  // both nodes a /tokenize of the whole summary per message. One small entry per chat and
  // model; a stale entry is recognized by the text, never used.
  struct summary_count {
    std::size_t hash = 0, length = 0;
    int tokens = 0;
  };
  std::map<std::pair<std::string, std::string>, summary_count> summary_tokens_;
  asio::awaitable<int> summary_tokens_of(const node_view& node, const std::string& chat, const std::string& summary);
  pipeline_stats stats_;
  asio::awaitable<reply> handle_once(std::string chat_id, std::string text, answer_sink& sink,
                                     const request_options& options);
  asio::awaitable<bool> strike(const node_view& node, const std::string& reason);
  // After an answer is stored: the orchestrator's slot evaluates what its next request for
  // this chat starts with (kv_keeper::warm), off the user's critical path.
  asio::awaitable<void> warm_up(std::string chat);
  // A strike whose switch nobody waits for (the orchestrator's: the answer goes on without it).
  asio::awaitable<void> strike_in_background(std::string node, std::string reason);
};

}  // namespace openclawd::gateway
