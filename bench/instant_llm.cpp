#include "bench/instant_llm.hpp"

#include "net/asio.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>

namespace openclawd::bench {
namespace {
using tcp = asio::ip::tcp;
using nlohmann::json;

constexpr const char* loading_body = R"({"error":{"message":"Loading model","type":"unavailable_error","code":503}})";
constexpr const char* decision_text = R"({"action":"answer","query":"","brief":"Greet the user in one short line."})";
const char* const answer_pieces[] = {"Hello", ",", " world", "!"};

// A plausible token count for a text: llama's SentencePiece averages about 4 bytes per token
// on English prose.
std::size_t tokens_in(std::size_t bytes) { return std::max<std::size_t>(1, (bytes + 3) / 4); }

json timings(std::size_t prompt_tokens, int predicted) {
  json t;
  t["cache_n"] = 0;
  t["prompt_n"] = prompt_tokens;
  t["prompt_ms"] = 0.1;
  t["prompt_per_token_ms"] = 0.1 / static_cast<double>(prompt_tokens);
  t["prompt_per_second"] = static_cast<double>(prompt_tokens) * 10000.0;
  t["predicted_n"] = predicted;
  t["predicted_ms"] = 0.1;
  t["predicted_per_token_ms"] = 0.1 / predicted;
  t["predicted_per_second"] = predicted * 10000.0;
  return t;
}

json chunk(const json& delta, const json& finish_reason, const std::string& model) {
  json c;
  json choice;
  choice["finish_reason"] = finish_reason;
  choice["index"] = 0;
  choice["delta"] = delta;
  c["choices"] = json::array({choice});
  c["created"] = 1795485423;
  c["id"] = "chatcmpl-instant";
  c["model"] = model;
  c["system_fingerprint"] = "instant";
  c["object"] = "chat.completion.chunk";
  return c;
}

}  // namespace

struct instant_llm::impl {
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::thread thread;
  std::atomic<bool> loading{false};
  std::atomic<std::uint64_t> requests{0};
  std::string model;
  unsigned short port = 0;
  mutable std::mutex mutex;  // guards `recent`
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> recent;

  using response = http::response<http::string_body>;

  response make(http::status status, std::string body, const char* type = "application/json; charset=utf-8") {
    response res{status, 11};
    res.set(http::field::server, "llama.cpp");
    res.set(http::field::content_type, type);
    res.body() = std::move(body);
    return res;
  }

  response chat_completion(const http::request<http::string_body>& req) {
    // Not parsed: a long conversation's JSON would cost this server more than the gateway,
    // on the same cores. The client writes compact JSON (nlohmann's dump).
    const std::string& body = req.body();
    const std::size_t prompt = tokens_in(body.size());
    const bool stream = body.find(R"("stream":true)") != std::string::npos;
    if (!stream) {
      // A decision when a schema is asked for (the orchestrator); otherwise a summary.
      const bool schema = body.find(R"("response_format")") != std::string::npos;
      const std::string content = schema ? decision_text : "A short summary.";
      json out;
      json choice;
      choice["finish_reason"] = "stop";
      choice["index"] = 0;
      choice["message"] = {{"role", "assistant"}, {"content", content}};
      out["choices"] = json::array({choice});
      out["created"] = 1795485423;
      out["model"] = model;
      out["system_fingerprint"] = "instant";
      out["object"] = "chat.completion";
      out["usage"] = {{"completion_tokens", 5}, {"prompt_tokens", prompt}, {"total_tokens", prompt + 5},
                      {"prompt_tokens_details", {{"cached_tokens", 0}}}};
      out["id"] = "chatcmpl-instant";
      out["timings"] = timings(prompt, 5);
      return make(http::status::ok, out.dump());
    }
    // The events a tiny-hello stream sends: the role, one delta per token, the finish chunk
    // with timings, [DONE].
    std::string sse;
    auto event = [&](const json& j) { sse += "data: " + j.dump() + "\n\n"; };
    event(chunk({{"role", "assistant"}, {"content", nullptr}}, nullptr, model));
    for (const char* piece : answer_pieces) event(chunk({{"content", piece}}, nullptr, model));
    json last = chunk(json::object(), "stop", model);
    last["timings"] = timings(prompt, 5);
    event(last);
    sse += "data: [DONE]\n\n";
    auto res = make(http::status::ok, std::move(sse), "text/event-stream");
    res.chunked(true);
    return res;
  }

  response answer(const http::request<http::string_body>& req) {
    if (loading.load()) {
      auto res = make(http::status::service_unavailable, loading_body);
      res.keep_alive(false);
      return res;
    }
    const std::string_view target = req.target();
    const bool get = req.method() == http::verb::get;
    if (get && (target == "/health" || target == "/v1/health")) return make(http::status::ok, R"({"status":"ok"})");
    if (get && (target == "/v1/models" || target == "/models")) {
      json m;
      m["object"] = "list";
      m["data"] = json::array({{{"id", model}, {"object", "model"}, {"created", 1795485423}, {"owned_by", "llamacpp"}}});
      return make(http::status::ok, m.dump());
    }
    if (req.method() == http::verb::post && target == "/tokenize") {
      const json body = json::parse(req.body(), nullptr, false);
      std::size_t bytes = 0;
      if (body.is_object() && body.contains("content") && body["content"].is_string())
        bytes = body["content"].get_ref<const std::string&>().size();
      std::string out = R"({"tokens":[)";
      for (std::size_t i = 0, n = tokens_in(bytes); i < n; ++i) out += i == 0 ? "29871" : ",29871";
      out += "]}";
      return make(http::status::ok, std::move(out));
    }
    if (req.method() == http::verb::post && target == "/apply-template") {
      const json body = json::parse(req.body(), nullptr, false);
      std::string prompt;
      if (body.is_object() && body.contains("messages") && body["messages"].is_array()) {
        for (const auto& m : body["messages"]) {
          if (m.is_object() && m.contains("content") && m["content"].is_string())
            prompt += "<|im_start|>" + m.value("role", std::string("user")) + "\n" +
                      m["content"].get<std::string>() + "<|im_end|>\n";
        }
      }
      prompt += "<|im_start|>assistant\n";
      json out;
      out["prompt"] = prompt;
      return make(http::status::ok, out.dump());
    }
    if (req.method() == http::verb::post && target == "/v1/chat/completions") return chat_completion(req);
    return make(http::status::not_found, R"({"error":{"message":"File Not Found","type":"not_found_error","code":404}})");
  }

  asio::awaitable<void> session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;  // the client closed the connection (or sent garbage): nothing to answer
      const auto req = parser.release();
      {
        std::lock_guard lock(mutex);
        // What was asked, with the start of a /tokenize text (which text costs a round trip).
        std::string what = std::string(req.method_string()) + " " + std::string(req.target());
        if (req.target() == "/tokenize") what += " " + req.body().substr(0, 48);
        recent.emplace_back(std::chrono::steady_clock::now(), std::move(what));
        if (recent.size() > 64) recent.pop_front();
      }
      response res = answer(req);
      ++requests;
      res.keep_alive(req.keep_alive() && res.keep_alive());
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
      if (wec || !res.keep_alive()) {
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        co_return;
      }
    }
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;  // closed: the server is going away
      socket.set_option(tcp::no_delay(true));
      // session() reports every error as a value and never throws.
      asio::co_spawn(ioc, session(std::move(socket)), asio::detached);
    }
  }
};

instant_llm::instant_llm(std::string model_id) : impl_(std::make_unique<impl>()) {
  impl_->model = std::move(model_id);
  const tcp::endpoint ep(asio::ip::address_v4::loopback(), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen(asio::socket_base::max_listen_connections);
  impl_->port = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

instant_llm::~instant_llm() {
  asio::post(impl_->ioc, [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->ioc.stop();
  });
  impl_->thread.join();
}

unsigned short instant_llm::port() const { return impl_->port; }

std::string instant_llm::url() const { return "http://127.0.0.1:" + std::to_string(port()); }

void instant_llm::set_loading(bool loading) { impl_->loading = loading; }

std::uint64_t instant_llm::requests() const { return impl_->requests.load(); }

std::vector<std::pair<std::chrono::steady_clock::time_point, std::string>> instant_llm::recent() const {
  std::lock_guard lock(impl_->mutex);
  return {impl_->recent.begin(), impl_->recent.end()};
}

}  // namespace openclawd::bench
