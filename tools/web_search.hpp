// The DuckDuckGo web-search tool: POSTs a query to the html endpoint over HTTPS, parses the
// page (tools/ddg_parser.hpp) and answers with native results, or says plainly that search
// is blocked or unavailable so the pipeline can go on without it. It is polite (one request
// at a time, min_interval apart, a stable User-Agent, capped queries and pages, a TTL cache)
// and backs off when blocked (tools/circuit_breaker.hpp). Owned by the gateway (or the
// `search` command); all methods run on one io_context thread, no locks.
#pragma once

#include "core/config.hpp"
#include "net/https_client.hpp"
#include "tools/circuit_breaker.hpp"
#include "tools/ddg_parser.hpp"
#include "tools/result_cache.hpp"
#include "tools/tool.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace openclawd::tools {

enum class search_status {
  ok,           // results, possibly none
  blocked,      // DuckDuckGo refused us (202/403/429, the bot challenge), or we are pausing after that
  unavailable,  // no answer this time: network error, timeout, busy, disabled, empty query
};
std::string_view to_string(search_status status);

struct search_outcome {
  search_status status = search_status::ok;
  std::string query;                   // as sent (whitespace collapsed, capped)
  std::vector<search_result> results;  // at most search.max_results
  std::string reason;                  // blocked/unavailable: one sentence for logs, users and models
  bool from_cache = false;
  std::chrono::milliseconds retry_after{0};  // blocked: time left in the pause
};

// What happened so far; for tests, `status` displays and the logs.
struct search_stats {
  std::uint64_t requests = 0;      // requests sent to the endpoint
  std::uint64_t cache_hits = 0;
  std::uint64_t blocks = 0;        // answers that opened the circuit
  std::uint64_t paused = 0;        // queries refused without a request because of a pause
  std::uint64_t failures = 0;      // network errors, timeouts, unusable answers
  std::uint64_t refused_busy = 0;  // queries that waited longer than max_wait for their turn
};

class web_search final : public tool {
 public:
  // Builds the HTTPS client (system roots + tls.extra_ca_pem). Fails only when the TLS
  // trust store cannot be set up.
  static result<std::unique_ptr<web_search>> create(asio::any_io_executor ex, core::search_config config,
                                                    const net::tls_options& tls = {});
  web_search(asio::any_io_executor ex, core::search_config config, net::https_client client);
  ~web_search() override;
  web_search(const web_search&) = delete;
  web_search& operator=(const web_search&) = delete;

  // One query. Never throws for network or site trouble: the outcome says what happened.
  // A cache hit answers at once, even while paused. Otherwise the query waits for its turn
  // (at most max_wait), then one request goes out, min_interval after the previous one.
  asio::awaitable<search_outcome> search(std::string query);

  // tool: arguments {"query": "..."}; the content is render_results_for_model(...).
  std::string_view name() const override { return "web_search"; }
  std::string_view description() const override;
  std::string_view parameters_schema() const override;
  asio::awaitable<tool_output> invoke(std::string arguments_json) override;

  const search_stats& stats() const { return stats_; }
  const core::search_config& config() const { return config_; }
  // Time left in the pause after a block; zero when queries may go out.
  std::chrono::milliseconds paused_for() const;

 private:
  struct turn_queue;
  class turn;
  asio::awaitable<std::optional<turn>> wait_for_turn(std::chrono::steady_clock::time_point give_up_at);
  asio::awaitable<search_outcome> fetch(search_outcome out, const std::string& key);
  search_outcome paused_outcome(search_outcome out) const;
  net::https_request build_request(const std::string& query) const;

  asio::any_io_executor ex_;
  core::search_config config_;
  net::https_client client_;
  circuit_breaker breaker_;
  result_cache<std::vector<search_result>> cache_;
  search_stats stats_;
  std::string last_block_reason_;
  // One request at a time, in arrival order. Shared with the turns and waiters that live
  // in coroutine frames, which may be destroyed after this object at shutdown.
  std::shared_ptr<turn_queue> turns_;
  std::chrono::steady_clock::time_point last_request_start_{};
};

// The query as it is sent: valid UTF-8, whitespace collapsed and trimmed, a leading '!' of
// any word dropped (DuckDuckGo would treat "!w" as a redirect "bang"), cut to max_bytes on
// a word (or at least a character) boundary.
std::string prepare_query(std::string_view raw, std::size_t max_bytes);
// The cache key part of a prepared query: ASCII letters lowered.
std::string normalize_query(std::string_view prepared);

// The outcome as text for a model. ok: a note that the block is untrusted data, then the
// results inside a nonce fence (tools/untrusted_text.hpp), each field neutralized and
// capped, the whole at most max_chars code points (results that do not fit are counted,
// not shown). Otherwise one plain sentence: search is unavailable, why, and to answer
// without it. `nonce` empty: a random one.
std::string render_results_for_model(const search_outcome& outcome, std::size_t max_chars,
                                     std::string_view nonce = {});

}  // namespace openclawd::tools
