#include "gateway/llm_client.hpp"

#include "core/sse.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace openclawd::gateway {
namespace {
using nlohmann::json;

llm_error make_error(llm_error_kind k, std::string message, unsigned status = 0) {
  llm_error e;
  e.kind = k;
  e.message = std::move(message);
  e.status = status;
  return e;
}

// Transport failures, from net::http_client's error codes.
llm_error from_transport(const boost::system::error_code& ec) {
  if (ec == asio::error::connection_refused) return make_error(llm_error_kind::not_ready, "connection refused");
  if (ec == beast::error::timeout) return make_error(llm_error_kind::timeout, "deadline passed");
  if (ec == asio::error::eof || ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
    return make_error(llm_error_kind::connection, "connection lost: " + ec.message());
  return make_error(llm_error_kind::connection, ec.message());
}

std::optional<llm_timings> decode_timings(const json& j) {
  if (!j.is_object()) return std::nullopt;
  llm_timings t;
  t.cache_n = j.value("cache_n", 0);
  t.prompt_n = j.value("prompt_n", 0);
  t.predicted_n = j.value("predicted_n", 0);
  t.prompt_ms = j.value("prompt_ms", 0.0);
  t.predicted_ms = j.value("predicted_ms", 0.0);
  return t;
}

}  // namespace

std::string_view to_string(llm_error_kind k) noexcept {
  switch (k) {
    case llm_error_kind::not_ready: return "not_ready";
    case llm_error_kind::context_exceeded: return "context_exceeded";
    case llm_error_kind::model_fault: return "model_fault";
    case llm_error_kind::bad_request: return "bad_request";
    case llm_error_kind::unauthorized: return "unauthorized";
    case llm_error_kind::timeout: return "timeout";
    case llm_error_kind::connection: return "connection";
    case llm_error_kind::protocol: return "protocol";
  }
  return "unknown";
}

std::string llm_error::to_string() const {
  std::string s(gateway::to_string(kind));
  if (status != 0) s += " (HTTP " + std::to_string(status) + ")";
  if (!message.empty()) s += ": " + message;
  return s;
}

void throw_exception_from_error(const llm_error& e, const boost::source_location&) {
  throw std::runtime_error(e.to_string());
}

namespace {

// Appends `s` as a JSON string literal. Each byte that does not begin a well-formed UTF-8
// sequence becomes U+FFFD, so the request is valid JSON whatever the text (a json tree's
// dump() throws there instead).
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20) {
            out += "\\u00";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0xF]);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // A well-formed multi-byte sequence (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    }
    bool ok = n != 0 && i + n <= s.size();
    for (std::size_t k = 1; ok && k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    }
    if (ok) {
      out.append(s.data() + i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  out.push_back('"');
}

}  // namespace

std::string encode_chat_request(const chat_request& req, bool stream) {
  // Written directly: the messages are the whole history, and a json tree of it (a map per
  // message, every text copied twice) was a tenth of the daemon's CPU time per message.
  std::size_t size = 256 + req.json_schema.size() + req.grammar.size() * 2;
  for (const auto& m : req.messages) size += m.role.size() + m.content.size() + 32;
  std::string out;
  out.reserve(size + size / 16);  // escapes
  out += "{\"messages\":[";
  for (std::size_t i = 0; i < req.messages.size(); ++i) {
    out += i == 0 ? "{\"role\":" : ",{\"role\":";
    append_json_string(out, req.messages[i].role);
    out += ",\"content\":";
    append_json_string(out, req.messages[i].content);
    out += '}';
  }
  out += "],\"max_tokens\":" + std::to_string(req.max_tokens);
  out += stream ? ",\"stream\":true" : ",\"stream\":false";
  out += req.cache_prompt ? ",\"cache_prompt\":true" : ",\"cache_prompt\":false";
  if (req.temperature) out += ",\"temperature\":" + json(*req.temperature).dump();
  if (req.slot) out += ",\"id_slot\":" + std::to_string(*req.slot);
  if (!req.stop.empty()) {
    out += ",\"stop\":[";
    for (std::size_t i = 0; i < req.stop.size(); ++i) {
      if (i > 0) out += ',';
      append_json_string(out, req.stop[i]);
    }
    out += ']';
  }
  if (!req.banned_tokens.empty()) {
    out += ",\"logit_bias\":[";
    for (std::size_t i = 0; i < req.banned_tokens.size(); ++i) {
      out += i == 0 ? "[" : ",[";
      out += std::to_string(req.banned_tokens[i]) + ",false]";
    }
    out += ']';
  }
  if (req.enable_thinking)
    out += std::string(",\"chat_template_kwargs\":{\"enable_thinking\":") + (*req.enable_thinking ? "true" : "false") + "}";
  if (!req.json_schema.empty()) {
    // Checked and normalized once per request: a schema that is not JSON is a programming error.
    out += ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"decision\",\"schema\":";
    out += json::parse(req.json_schema).dump();
    out += "}}";
  }
  if (!req.grammar.empty()) {
    out += ",\"grammar\":";
    append_json_string(out, req.grammar);
  }
  if (stream) {
    // Prompt-processing progress events keep the idle deadline honest while a CPU model
    // reads a long prompt, instead of a blind first-byte limit.
    out += ",\"return_progress\":true";
  }
  out += '}';
  return out;
}

llm_error decode_error(unsigned status, std::string_view body) {
  const json j = json::parse(body, nullptr, false);
  std::string message, type;
  llm_error e;
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const auto& err = j["error"];
    message = err.value("message", "");
    type = err.value("type", "");
    e.n_prompt_tokens = err.value("n_prompt_tokens", 0);
    e.n_ctx = err.value("n_ctx", 0);
  } else {
    message = std::string(body.substr(0, 200));
  }
  e.status = status;
  e.message = message;
  if (type == "exceed_context_size_error") e.kind = llm_error_kind::context_exceeded;
  else if (status == 503) e.kind = llm_error_kind::not_ready;
  else if (status == 401) e.kind = llm_error_kind::unauthorized;
  else if (status >= 500) e.kind = llm_error_kind::model_fault;
  else if (status >= 400) e.kind = llm_error_kind::bad_request;
  else e.kind = llm_error_kind::protocol;
  return e;
}

llm_result<chat_result> decode_chat_response(unsigned status, std::string_view body) {
  if (status != 200) return decode_error(status, body);
  const json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("choices") || !j["choices"].is_array() || j["choices"].empty())
    return make_error(llm_error_kind::protocol, "no choices in the answer", status);
  const auto& c = j["choices"][0];
  chat_result r;
  if (c.contains("message") && c["message"].is_object()) {
    const auto& m = c["message"];
    if (m.contains("content") && m["content"].is_string()) r.content = m["content"].get<std::string>();
    if (m.contains("reasoning_content") && m["reasoning_content"].is_string())
      r.reasoning = m["reasoning_content"].get<std::string>();
  }
  if (c.contains("finish_reason") && c["finish_reason"].is_string()) r.finish_reason = c["finish_reason"];
  if (j.contains("timings")) r.timings = decode_timings(j["timings"]);
  return r;
}

openai_client::openai_client(asio::any_io_executor ex, asio::ip::tcp::endpoint endpoint,
                             openai_client_options options)
    : http_(std::move(ex), std::move(endpoint)), options_(std::move(options)) {}

openai_client::openai_client(asio::any_io_executor ex, net::http_peer peer, openai_client_options options)
    : http_(std::move(ex), std::move(peer)), options_(std::move(options)) {}

net::http_request openai_client::post(std::string target, std::string body) const {
  net::http_request r;
  r.method = http::verb::post;
  r.target = std::move(target);
  r.body = std::move(body);
  if (!options_.api_key.empty()) r.headers.emplace_back("Authorization", "Bearer " + options_.api_key);
  return r;
}

asio::awaitable<llm_result<chat_result>> openai_client::chat(chat_request req) {
  auto r = co_await http_.request(post("/v1/chat/completions", encode_chat_request(req, false)), options_.deadlines);
  if (!r) co_return from_transport(r.error());
  co_return decode_chat_response(r->status, r->body);
}

std::optional<int> decode_generated(std::string_view slots_body, std::optional<int> slot, int prompt_total) {
  const json j = json::parse(slots_body, nullptr, false);
  if (!j.is_array()) return std::nullopt;
  // value() throws when a key holds another type: an answer we cannot read tells us nothing.
  try {
  std::optional<int> best;
  for (const auto& s : j) {
    if (!s.is_object() || !s.value("is_processing", false)) continue;
    const auto& next = s.contains("next_token") && s["next_token"].is_array() && !s["next_token"].empty()
                           ? s["next_token"][0]
                           : json();
    if (!next.is_object()) continue;
    const int decoded = next.value("n_decoded", -1);
    if (decoded < 0) continue;
    // The slot's prompt as it was read: the tokens evaluated plus those taken from its cache.
    const bool ours = slot ? s.value("id", -1) == *slot
                           : prompt_total > 0 && s.value("n_prompt_tokens_processed", -1) +
                                                         s.value("n_prompt_tokens_cache", 0) ==
                                                     prompt_total;
    if (ours && (!best || decoded < *best)) best = decoded;
  }
  return best;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

asio::awaitable<std::optional<int>> openai_client::generated_so_far(std::optional<int> slot, int prompt_total) {
  net::http_request get;
  get.target = "/slots";
  if (!options_.api_key.empty()) get.headers.emplace_back("Authorization", "Bearer " + options_.api_key);
  // Short deadlines: a slow answer only means this tick sees nothing.
  net::http_deadlines d;
  d.connect = std::chrono::seconds(2);
  d.first_byte = std::chrono::seconds(2);
  d.idle = std::chrono::seconds(2);
  auto r = co_await http_.request(std::move(get), d, 1024 * 1024);
  if (!r || r->status != 200) co_return std::nullopt;
  co_return decode_generated(r->body, slot, prompt_total);
}

// What chat_stream shares with its watch. The pointers are into chat_stream's frame: used only
// while `done` is false (chat_stream sets it before it returns, and the watch checks it after
// every wait). The watch may outlive the stream by one /slots request; it holds this state.
struct stream_watch_state {
  explicit stream_watch_state(const asio::any_io_executor& ex) : timer(ex) {}
  net::stream_stop stop;
  bool done = false;
  bool stopped = false;
  asio::steady_timer timer;
  const bool* generating = nullptr;
  const int* prompt_total = nullptr;
  const std::function<bool(int)>* on_generated = nullptr;
  std::chrono::milliseconds interval{200};
  std::optional<int> slot;
};

asio::awaitable<void> openai_client::watch_stream(std::shared_ptr<stream_watch_state> w) {
  // Never throws: it waits on a timer and asks /slots, both with error codes as values.
  while (!w->done) {
    w->timer.expires_after(w->interval);
    co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (w->done) co_return;
    if (!*w->generating) continue;
    const auto n = co_await generated_so_far(w->slot, *w->prompt_total);
    if (w->done) co_return;  // the stream ended meanwhile: its frame is gone
    if (n && !(*w->on_generated)(*n)) {
      w->stopped = true;
      w->stop.stop();
      co_return;
    }
  }
}

asio::awaitable<llm_result<chat_result>> openai_client::chat_stream(chat_request req, stream_handlers handlers) {
  core::sse_parser parser;
  chat_result out;
  std::optional<llm_error> failure;
  bool done = false, stopped = false;
  bool generating = false;  // the first token came (the role delta is sent with it)
  int prompt_total = 0;     // from the prompt_progress events: identifies our slot in /slots

  auto on_data = [&](std::string_view bytes) {
    for (const auto& ev : parser.feed(bytes)) {
      if (core::is_done(ev)) {
        // Read on to the end of the body (it ends right after [DONE]) so that the
        // connection stays reusable.
        done = true;
        continue;
      }
      const json j = json::parse(ev.data, nullptr, false);
      if (!j.is_object()) continue;  // a ping or a line we do not know: not an answer
      if (j.contains("error")) {
        // llama-server reports faults found mid-generation (e.g. invalid UTF-8) as an
        // event after a 200, with no [DONE] afterwards.
        failure = decode_error(500, ev.data);
        failure->kind = llm_error_kind::model_fault;
        return false;
      }
      if (j.contains("timings")) out.timings = decode_timings(j["timings"]);
      if (j.contains("prompt_progress") && j["prompt_progress"].is_object()) {
        prompt_total = j["prompt_progress"].value("total", prompt_total);
        continue;  // progress events carry an empty role delta: not the first token yet
      }
      if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty()) continue;
      generating = true;
      const auto& c = j["choices"][0];
      if (c.contains("finish_reason") && c["finish_reason"].is_string()) out.finish_reason = c["finish_reason"];
      if (!c.contains("delta") || !c["delta"].is_object()) continue;
      const auto& delta = c["delta"];
      auto piece_of = [&](const char* key) -> const std::string* {
        if (!delta.contains(key) || !delta[key].is_string()) return nullptr;
        const auto& p = delta[key].get_ref<const std::string&>();
        return p.empty() ? nullptr : &p;
      };
      if (const auto* piece = piece_of("reasoning_content")) {
        out.reasoning += *piece;
        ++out.pieces;
        if (handlers.reasoning && !handlers.reasoning(*piece)) {
          stopped = true;
          return false;
        }
      }
      if (const auto* piece = piece_of("content")) {
        out.content += *piece;
        ++out.pieces;
        if (handlers.content && !handlers.content(*piece)) {
          stopped = true;
          return false;
        }
      }
    }
    if (parser.failed()) {
      failure = make_error(llm_error_kind::protocol, "an SSE event exceeded the size limit");
      return false;
    }
    return true;
  };

  // While the stream runs, a watch asks the node how far the request has got and stops the
  // stream when the handler says so (watch_stream).
  std::shared_ptr<stream_watch_state> watch;
  if (handlers.generated) {
    watch = std::make_shared<stream_watch_state>(co_await asio::this_coro::executor);
    watch->generating = &generating;
    watch->prompt_total = &prompt_total;
    watch->on_generated = &handlers.generated;
    watch->interval = handlers.watch_interval;
    watch->slot = req.slot;
    // The coroutine itself, not a lambda around it: GCC 12 freed a spawned lambda's captures
    // twice (gateway/pipeline.cpp).
    asio::co_spawn(co_await asio::this_coro::executor, watch_stream(watch), asio::detached);
  }
  auto r = co_await http_.stream(post("/v1/chat/completions", encode_chat_request(req, true)), options_.deadlines,
                                 on_data, watch ? &watch->stop : nullptr);
  if (watch) {
    watch->done = true;
    watch->timer.cancel();
    if (watch->stopped) stopped = true;
  }
  if (!r) co_return from_transport(r.error());
  if (r->status != 200) co_return decode_error(r->status, r->body);
  if (failure) co_return *failure;
  if (stopped) {
    out.finish_reason = "stopped";
    co_return out;
  }
  if (!done && out.finish_reason.empty())
    co_return make_error(llm_error_kind::connection, "the stream ended before the answer was complete");
  co_return out;
}

asio::awaitable<llm_result<int>> openai_client::count_tokens(std::string text) {
  const json body{{"content", std::move(text)}, {"add_special", false}};
  auto r = co_await http_.request(post("/tokenize", body.dump()), options_.deadlines);
  if (!r) co_return from_transport(r.error());
  if (r->status != 200) co_return decode_error(r->status, r->body);
  const json j = json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("tokens") || !j["tokens"].is_array())
    co_return make_error(llm_error_kind::protocol, "no tokens in the /tokenize answer", r->status);
  co_return static_cast<int>(j["tokens"].size());
}

asio::awaitable<llm_result<std::string>> openai_client::apply_template(std::vector<chat_message> messages,
                                                                       std::optional<bool> enable_thinking) {
  json msgs = json::array();
  for (const auto& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
  // Built outside the co_await: GCC 12 miscompiles braced initializers inside one.
  json doc{{"messages", std::move(msgs)}};
  if (enable_thinking) doc["chat_template_kwargs"] = json{{"enable_thinking", *enable_thinking}};
  const std::string body = doc.dump();
  auto r = co_await http_.request(post("/apply-template", body), options_.deadlines);
  if (!r) co_return from_transport(r.error());
  if (r->status != 200) co_return decode_error(r->status, r->body);
  const json j = json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("prompt") || !j["prompt"].is_string())
    co_return make_error(llm_error_kind::protocol, "no prompt in the /apply-template answer", r->status);
  co_return j["prompt"].get<std::string>();
}

// What a fake or a server without these endpoints answers: not supported, the caller evaluates.
asio::awaitable<llm_result<llm_timings>> llm_client::prefill(std::string, std::optional<int>) {
  co_return make_error(llm_error_kind::bad_request, "prefill is not supported", 501);
}
asio::awaitable<llm_result<slot_file_result>> llm_client::save_slot(int, std::string) {
  co_return make_error(llm_error_kind::bad_request, "slot files are not supported", 501);
}
asio::awaitable<llm_result<slot_file_result>> llm_client::restore_slot(int, std::string) {
  co_return make_error(llm_error_kind::bad_request, "slot files are not supported", 501);
}
asio::awaitable<llm_result<llm_timings>> llm_client::test_completion(std::optional<int>, std::chrono::milliseconds) {
  co_return make_error(llm_error_kind::bad_request, "test completions are not supported", 501);
}

asio::awaitable<llm_result<llm_timings>> openai_client::prefill(std::string prompt, std::optional<int> slot) {
  // Streamed with progress events, so that the idle deadline holds while a CPU model reads a
  // long prompt, and the request is never a non-streaming one in flight (llama-server does not
  // exit on SIGTERM until those end).
  json body{{"prompt", std::move(prompt)}, {"n_predict", 0},   {"cache_prompt", true},
            {"stream", true},              {"return_progress", true}};
  if (slot) body["id_slot"] = *slot;
  const std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace);
  core::sse_parser parser;
  std::optional<llm_timings> timings;
  std::optional<llm_error> failure;
  auto on_data = [&](std::string_view bytes) {
    for (const auto& ev : parser.feed(bytes)) {
      if (core::is_done(ev)) continue;
      const json j = json::parse(ev.data, nullptr, false);
      if (!j.is_object()) continue;
      if (j.contains("error")) {
        failure = decode_error(500, ev.data);
        return false;
      }
      if (j.contains("timings")) timings = decode_timings(j["timings"]);
    }
    return !parser.failed();
  };
  auto r = co_await http_.stream(post("/completion", text), options_.deadlines, on_data);
  if (!r) co_return from_transport(r.error());
  if (r->status != 200) co_return decode_error(r->status, r->body);
  if (failure) co_return *failure;
  if (!timings) co_return make_error(llm_error_kind::protocol, "no timings in the /completion answer");
  co_return *timings;
}

asio::awaitable<llm_result<llm_timings>> openai_client::test_completion(std::optional<int> slot,
                                                                       std::chrono::milliseconds deadline) {
  // Not streamed: one token comes in one answer, and the deadline is on its headers (a
  // wedged backend sends nothing at all). No prompt cache: the point is to compute.
  json body{{"prompt", "Hi"}, {"n_predict", 1}, {"cache_prompt", false}, {"temperature", 0}};
  if (slot) body["id_slot"] = *slot;
  net::http_deadlines d;
  d.connect = std::min(deadline, options_.deadlines.connect);
  d.first_byte = deadline;
  d.idle = deadline;
  auto r = co_await http_.request(post("/completion", body.dump()), d);
  if (!r) co_return from_transport(r.error());
  if (r->status != 200) co_return decode_error(r->status, r->body);
  const json j = json::parse(r->body, nullptr, false);
  const auto t = j.is_object() && j.contains("timings") ? decode_timings(j["timings"]) : std::nullopt;
  if (!t) co_return make_error(llm_error_kind::protocol, "no timings in the /completion answer");
  co_return *t;
}

asio::awaitable<llm_result<slot_file_result>> openai_client::slot_action(int slot, const char* action,
                                                                          std::string filename) {
  const std::string body = json{{"filename", std::move(filename)}}.dump();
  auto r = co_await http_.request(post("/slots/" + std::to_string(slot) + "?action=" + action, body),
                                  options_.deadlines);
  if (!r) co_return from_transport(r.error());
  if (r->status != 200) co_return decode_error(r->status, r->body);
  const json j = json::parse(r->body, nullptr, false);
  if (!j.is_object()) co_return make_error(llm_error_kind::protocol, "unreadable /slots answer", r->status);
  slot_file_result out;
  try {
    out.tokens = j.value(std::string(action) == "save" ? "n_saved" : "n_restored", 0);
    out.bytes = j.value(std::string(action) == "save" ? "n_written" : "n_read", std::uint64_t{0});
    if (j.contains("timings") && j["timings"].is_object())
      out.ms = j["timings"].value(std::string(action) == "save" ? "save_ms" : "restore_ms", 0.0);
  } catch (const json::exception&) {
    co_return make_error(llm_error_kind::protocol, "unreadable /slots answer", r->status);
  }
  co_return out;
}

asio::awaitable<llm_result<slot_file_result>> openai_client::save_slot(int slot, std::string filename) {
  co_return co_await slot_action(slot, "save", std::move(filename));
}

asio::awaitable<llm_result<slot_file_result>> openai_client::restore_slot(int slot, std::string filename) {
  co_return co_await slot_action(slot, "restore", std::move(filename));
}

}  // namespace openclawd::gateway
