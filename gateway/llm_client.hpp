// The seam between the pipeline and a model server: llm_client is a small interface
// (tests inject fakes), openai_client speaks llama-server's OpenAI-compatible API over
// kept-alive loopback HTTP (net::http_client). JSON stays inside llm_client.cpp; callers
// see native types. One instance per node, used from the daemon's io_context thread.
#pragma once

#include "net/asio.hpp"
#include "net/http_client.hpp"

#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace openclawd::gateway {

struct chat_message {
  std::string role;  // system | user | assistant
  std::string content;
};

struct chat_request {
  std::vector<chat_message> messages;
  int max_tokens = 512;
  std::optional<double> temperature;
  std::string json_schema;        // non-empty: response_format {"type":"json_schema", schema} (valid JSON even from a bad model)
  std::string grammar;            // non-empty: a GBNF grammar the output must match (not with json_schema)
  std::optional<int> slot;        // id_slot: keeps one chat's prompt cache in one slot
  bool cache_prompt = true;
  std::vector<int> banned_tokens;  // sent as logit_bias [[id,false],…]: never sampled
  std::vector<std::string> stop;
  // chat_template_kwargs {"enable_thinking": …} when set: thinking templates (Qwen3, Gemma 4)
  // render the turn with or without room to think. Other templates ignore it.
  std::optional<bool> enable_thinking;
};

// llama-server's `timings`: how much of the prompt came from the cache.
struct llm_timings {
  int cache_n = 0;      // prompt tokens reused from the slot's cache
  int prompt_n = 0;     // prompt tokens evaluated now
  int predicted_n = 0;  // tokens generated
  double prompt_ms = 0, predicted_ms = 0;
};

struct chat_result {
  std::string content;
  // What a thinking model thought (`reasoning_content`, split off by llama-server's
  // --reasoning-format): never shown or stored as the answer.
  std::string reasoning;
  std::string finish_reason;  // stop | length | stopped (our handler ended the stream)
  std::optional<llm_timings> timings;
  int pieces = 0;  // streamed deltas that carried text (content or reasoning): about one per token
};

// What a stream tells its caller while it runs. Every handler may return false to end the
// stream (the connection is closed, which makes llama-server stop generating).
struct stream_handlers {
  std::function<bool(std::string_view)> content;    // each piece of the answer
  std::function<bool(std::string_view)> reasoning;  // each piece of reasoning_content
  // Every `watch_interval` while tokens are generated: how many tokens the server has generated
  // for this request so far (its slot's n_decoded, GET /slots). Control tokens (Gemma's
  // <unusedNN> in real exports) are generated without a single streamed byte; this count is the
  // only way to see them before max_tokens ends the request. Unset: no polling.
  std::function<bool(int generated)> generated;
  std::chrono::milliseconds watch_interval{200};
};

// A slot file written or read by llama-server (--slot-save-path, POST /slots/N?action=…).
struct slot_file_result {
  int tokens = 0;            // n_saved / n_restored
  std::uint64_t bytes = 0;   // n_written / n_read
  double ms = 0;
};

enum class llm_error_kind {
  not_ready,         // 503 "Loading model", connection refused: the node is (re)starting
  context_exceeded,  // 400 exceed_context_size_error: n_prompt_tokens > n_ctx
  model_fault,       // 500 or an SSE error event: the model produced something unusable
  bad_request,       // other 4xx
  unauthorized,      // 401: wrong or missing --api-key
  timeout,           // a deadline passed (connect, first byte, idle)
  connection,        // the connection broke mid-answer (e.g. the node was killed)
  protocol,          // an answer we cannot read
};

struct llm_error {
  llm_error_kind kind = llm_error_kind::protocol;
  std::string message;
  unsigned status = 0;
  int n_prompt_tokens = 0;  // context_exceeded only
  int n_ctx = 0;            // context_exceeded only
  std::string to_string() const;
};

template <class T>
using llm_result = boost::system::result<T, llm_error>;
[[noreturn]] void throw_exception_from_error(const llm_error& e, const boost::source_location& loc);

std::string_view to_string(llm_error_kind k) noexcept;

class llm_client {
 public:
  // Called with each piece of generated text; return false to stop generating.
  using delta_handler = std::function<bool(std::string_view)>;

  virtual ~llm_client() = default;
  virtual asio::awaitable<llm_result<chat_result>> chat(chat_request req) = 0;
  virtual asio::awaitable<llm_result<chat_result>> chat_stream(chat_request req, stream_handlers handlers) = 0;
  // The answer's pieces only.
  asio::awaitable<llm_result<chat_result>> chat_stream(chat_request req, delta_handler on_delta) {
    stream_handlers h;
    h.content = std::move(on_delta);
    return chat_stream(std::move(req), std::move(h));
  }
  // Exact token count of `text` for this node's model (POST /tokenize, no special tokens).
  virtual asio::awaitable<llm_result<int>> count_tokens(std::string text) = 0;
  // The prompt the model sees for `messages` (POST /apply-template), with `enable_thinking`
  // passed to the template when set.
  virtual asio::awaitable<llm_result<std::string>> apply_template(std::vector<chat_message> messages,
                                                                  std::optional<bool> enable_thinking) = 0;
  asio::awaitable<llm_result<std::string>> apply_template(std::vector<chat_message> messages) {
    return apply_template(std::move(messages), std::nullopt);
  }
  // Evaluates `prompt` (text as rendered by the template) into the prompt cache of `slot` (or
  // any) and generates nothing (POST /completion, n_predict 0): the next request that starts
  // with it evaluates only the rest. The timings say how much was evaluated now.
  virtual asio::awaitable<llm_result<llm_timings>> prefill(std::string prompt, std::optional<int> slot);
  // A slot's KV cache to and from a file under the node's --slot-save-path.
  virtual asio::awaitable<llm_result<slot_file_result>> save_slot(int slot, std::string filename);
  virtual asio::awaitable<llm_result<slot_file_result>> restore_slot(int slot, std::string filename);
  // One generated token for a two-token prompt in `slot` (or any), within `deadline`: proof
  // that the node still computes (its /health says 200 even when its backend or an RPC worker
  // hangs). The slot's cache is overwritten.
  virtual asio::awaitable<llm_result<llm_timings>> test_completion(std::optional<int> slot,
                                                                   std::chrono::milliseconds deadline);
  // Requests under way, and when the last one ended (nullopt: this client cannot tell).
  virtual std::optional<std::pair<int, std::chrono::steady_clock::time_point>> activity() const { return std::nullopt; }
};

struct openai_client_options {
  std::string api_key;  // sent as "Authorization: Bearer …" when non-empty; never logged
  net::http_deadlines deadlines;
};

struct stream_watch_state;

class openai_client final : public llm_client {
 public:
  openai_client(asio::any_io_executor ex, asio::ip::tcp::endpoint endpoint, openai_client_options options = {});
  openai_client(asio::any_io_executor ex, net::http_peer peer, openai_client_options options = {});

  asio::awaitable<llm_result<chat_result>> chat(chat_request req) override;
  using llm_client::apply_template;
  using llm_client::chat_stream;
  asio::awaitable<llm_result<chat_result>> chat_stream(chat_request req, stream_handlers handlers) override;
  asio::awaitable<llm_result<int>> count_tokens(std::string text) override;
  asio::awaitable<llm_result<std::string>> apply_template(std::vector<chat_message> messages,
                                                          std::optional<bool> enable_thinking) override;
  asio::awaitable<llm_result<llm_timings>> prefill(std::string prompt, std::optional<int> slot) override;
  asio::awaitable<llm_result<slot_file_result>> save_slot(int slot, std::string filename) override;
  asio::awaitable<llm_result<slot_file_result>> restore_slot(int slot, std::string filename) override;
  asio::awaitable<llm_result<llm_timings>> test_completion(std::optional<int> slot,
                                                           std::chrono::milliseconds deadline) override;
  std::optional<std::pair<int, std::chrono::steady_clock::time_point>> activity() const override {
    return std::pair{http_.stats().in_flight, http_.stats().last_done};
  }

  const net::http_client_stats& http_stats() const noexcept { return http_.stats(); }
  void close_idle() { http_.close_idle(); }
  // The node moved or changed its --api-key (a reload): new requests use these; requests
  // under way finish as they started.
  void retarget(net::http_peer peer, openai_client_options options) {
    http_.set_peer(std::move(peer));
    options_ = std::move(options);
  }

 private:
  net::http_request post(std::string target, std::string body) const;
  asio::awaitable<llm_result<slot_file_result>> slot_action(int slot, const char* action, std::string filename);
  // The tokens generated so far by the request whose prompt was `prompt_total` tokens (or the
  // one in `slot`), from GET /slots; nullopt when the node cannot tell.
  asio::awaitable<std::optional<int>> generated_so_far(std::optional<int> slot, int prompt_total);
  // Polls generated_so_far() while a stream runs and stops it when the handler says so.
  asio::awaitable<void> watch_stream(std::shared_ptr<stream_watch_state> w);

  net::http_client http_;
  openai_client_options options_;
};

// Pure codec functions, exposed for unit tests.
std::string encode_chat_request(const chat_request& req, bool stream);
llm_result<chat_result> decode_chat_response(unsigned status, std::string_view body);
// GET /slots: the tokens generated by the busy slot `slot`, or else by the busy slot whose
// prompt was `prompt_total` tokens (n_prompt_tokens_processed + n_prompt_tokens_cache; its
// n_prompt_tokens grows with the generated ones); the smallest count if several match (two
// requests with equally long prompts).
std::optional<int> decode_generated(std::string_view slots_body, std::optional<int> slot, int prompt_total);
llm_error decode_error(unsigned status, std::string_view body);

}  // namespace openclawd::gateway
