// The OpenAI-compatible client against the REAL llama-server with tiny generated models:
// chat, streaming, kept-alive connections, json_schema, context overflow, tokenize, and
// the faults (refused, silent server, SIGKILL mid-stream, a stopped <unused50> stream).
#include "gateway/llm_client.hpp"
#include "tests/support/gateway_rig.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/run_coro.hpp"
#include "tests/support/llama_process.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <future>
#include <thread>

using namespace openclawd;
using namespace openclawd::gateway;
using test::llama_process;
using test::loopback;
using test::open_store;

namespace {

chat_request hello_request(int max_tokens = 32) {
  chat_request r;
  r.messages = {{"system", "You are terse."}, {"user", "Hi"}};
  r.max_tokens = max_tokens;
  return r;
}

}  // namespace

TEST_CASE("llm_client: chat answers with timings, and kept-alive connections are reused", "[llm][real]") {
  test::temp_dir dir;
  llama_process server(test::make_model(dir / "hello.gguf", "hello"), 1024);
  asio::io_context io;
  openai_client client(io.get_executor(), loopback(server.port()));
  for (int i = 0; i < 3; ++i) {
    auto r = test::run_one(io, client.chat(hello_request()));
    INFO((r ? std::string() : r.error().to_string()));
    REQUIRE(r.has_value());
    CHECK(r->content == "Hello, world!");
    CHECK(r->finish_reason == "stop");
    REQUIRE(r->timings.has_value());
    CHECK(r->timings->predicted_n >= 4);
    if (i > 0) CHECK(r->timings->cache_n > 0);  // the same prompt again: taken from the cache
  }
  CHECK(client.http_stats().connects == 1);
  CHECK(client.http_stats().requests == 3);
}

TEST_CASE("llm_client: streaming delivers the deltas in order and the final timings", "[llm][real]") {
  test::temp_dir dir;
  llama_process server(test::make_model(dir / "hello.gguf", "hello"), 1024);
  asio::io_context io;
  openai_client client(io.get_executor(), loopback(server.port()));
  std::vector<std::string> deltas;
  auto r = test::run_one(io, client.chat_stream(hello_request(), [&](std::string_view d) {
    deltas.emplace_back(d);
    return true;
  }));
  REQUIRE(r.has_value());
  CHECK(r->content == "Hello, world!");
  CHECK(deltas.size() >= 4);
  std::string joined;
  for (const auto& d : deltas) joined += d;
  CHECK(joined == "Hello, world!");
  CHECK(r->finish_reason == "stop");
  CHECK(r->timings.has_value());
  // llama-server closes a streamed answer's connection: the next request takes a fresh
  // one instead of failing on the dead one first.
  REQUIRE(test::run_one(io, client.chat(hello_request())).has_value());
  CHECK(client.http_stats().connects == 2);
  CHECK(client.http_stats().retries == 0);
}

TEST_CASE("llm_client: a json_schema answer is valid JSON even from a random model", "[llm][real]") {
  test::temp_dir dir;
  llama_process server(test::make_model(dir / "random.gguf", "random", 7), 2048);
  asio::io_context io;
  openai_client client(io.get_executor(), loopback(server.port()));
  chat_request req;
  req.messages = {{"system", "Decide."}, {"user", "What is the weather in Paris?"}};
  req.json_schema = R"({"type":"object","properties":{
      "action":{"type":"string","enum":["search","answer"]},
      "query":{"type":"string","maxLength":24},
      "brief":{"type":"string","maxLength":48}},
    "required":["action","query","brief"],"additionalProperties":false})";
  req.max_tokens = 400;
  for (int i = 0; i < 3; ++i) {
    auto r = test::run_one(io, client.chat(req));
    INFO((r ? r->content : r.error().to_string()));
    REQUIRE(r.has_value());
    const auto j = nlohmann::json::parse(r->content, nullptr, false);
    REQUIRE(j.is_object());
    CHECK((j["action"] == "search" || j["action"] == "answer"));
    CHECK(j["query"].get<std::string>().size() <= 24 * 4);  // characters, in UTF-8 bytes at most 4 each
  }
}

TEST_CASE("llm_client: a prompt beyond the context is context_exceeded with both counts", "[llm][real]") {
  test::temp_dir dir;
  llama_process server(test::make_model(dir / "random.gguf"), 256, {"-np", "1"});
  asio::io_context io;
  openai_client client(io.get_executor(), loopback(server.port()));
  chat_request req;
  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "word" + std::to_string(i) + " ";
  req.messages = {{"user", long_text}};
  for (const bool stream : {false, true}) {
    auto r = stream ? test::run_one(io, client.chat_stream(req, [](std::string_view) { return true; }))
                    : test::run_one(io, client.chat(req));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == llm_error_kind::context_exceeded);
    CHECK(r.error().status == 400);
    CHECK(r.error().n_ctx == 256);
    CHECK(r.error().n_prompt_tokens > 256);
  }
}

TEST_CASE("llm_client: count_tokens and apply_template come from the model itself", "[llm][real]") {
  test::temp_dir dir;
  llama_process server(test::make_model(dir / "hello.gguf", "hello"), 1024);
  asio::io_context io;
  openai_client client(io.get_executor(), loopback(server.port()));
  auto n = test::run_one(io, client.count_tokens("Hello, world!"));
  REQUIRE(n.has_value());
  CHECK(*n == 4);
  auto p = test::run_one(io, client.apply_template({{"system", "S"}, {"user", "U"}}));
  REQUIRE(p.has_value());
  CHECK_THAT(*p, Catch::Contains("S"));
  CHECK_THAT(*p, Catch::Contains("U"));
}

TEST_CASE("llm_client: stopping an endless <unused50> stream frees the slot", "[llm][real]") {
  test::temp_dir dir;
  llama_process server(test::make_model(dir / "u50.gguf", "unused50"), 4096, {"-np", "1"});
  asio::io_context io;
  openai_client client(io.get_executor(), loopback(server.port()));
  auto req = hello_request(3000);
  int deltas = 0;
  auto r = test::run_one(io, client.chat_stream(req, [&](std::string_view d) {
    CHECK(d == "<unused50>");
    return ++deltas < 20;
  }));
  REQUIRE(r.has_value());
  CHECK(r->finish_reason == "stopped");
  CHECK(deltas == 20);
  // With one slot, the next request is only served if closing the connection stopped the
  // endless generation.
  auto next = test::run_one(io, client.chat(hello_request(5)));
  REQUIRE(next.has_value());
  CHECK(next->finish_reason == "length");
}

TEST_CASE("llm_client: SIGKILL of the server mid-stream is a connection error", "[llm][real]") {
  test::temp_dir dir;
  llama_process server(test::make_model(dir / "u50.gguf", "unused50"), 4096);
  asio::io_context io;
  openai_client client(io.get_executor(), loopback(server.port()));
  int deltas = 0;
  auto r = test::run_one(io, client.chat_stream(hello_request(100000), [&](std::string_view) {
    if (++deltas == 10) server.kill_now();
    return true;
  }));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == llm_error_kind::connection);
  // Nothing listens now: the node is "not ready" (restarting), not broken.
  auto again = test::run_one(io, client.chat(hello_request()));
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().kind == llm_error_kind::not_ready);
}

TEST_CASE("llm_client: a server that never answers hits the first-byte deadline", "[llm]") {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
  asio::ip::tcp::socket held(io);  // accepted, read from, never answered
  acceptor.async_accept(held, [](const boost::system::error_code&) {});
  openai_client_options opts;
  opts.deadlines.first_byte = std::chrono::milliseconds(300);
  openai_client client(io.get_executor(), acceptor.local_endpoint(), opts);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = test::run_one(io, client.chat(hello_request()));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == llm_error_kind::timeout);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
}

TEST_CASE("llm_client: a chat request is valid JSON for any text, and says what was asked", "[llm]") {
  chat_request r;
  const std::string tricky = "quote \" backslash \\ newline \n tab \t bell \x07 nul " + std::string(1, '\0') +
                             " DEL \x7f é 日本 🦙 end";
  r.messages = {{"system", "be brief"}, {"user", tricky}, {"assistant", ""}};
  r.max_tokens = 77;
  r.temperature = 0.25;
  r.slot = 3;
  r.cache_prompt = false;
  r.stop = {"</s>", "\n\n"};
  r.json_schema = R"({"type":"object","properties":{"a":{"type":"string"}}})";
  const auto enc = nlohmann::json::parse(encode_chat_request(r, false));
  REQUIRE(enc["messages"].size() == 3);
  CHECK(enc["messages"][0] == nlohmann::json{{"role", "system"}, {"content", "be brief"}});
  CHECK(enc["messages"][1]["content"] == tricky);
  CHECK(enc["messages"][2]["content"] == "");
  CHECK(enc["max_tokens"] == 77);
  CHECK(enc["temperature"] == 0.25);
  CHECK(enc["id_slot"] == 3);
  CHECK(enc["cache_prompt"] == false);
  CHECK(enc["stream"] == false);
  CHECK_FALSE(enc.contains("return_progress"));
  CHECK_FALSE(enc.contains("logit_bias"));
  CHECK(enc["stop"] == nlohmann::json::array({"</s>", "\n\n"}));
  CHECK(enc["response_format"]["type"] == "json_schema");
  CHECK(enc["response_format"]["json_schema"]["schema"]["properties"]["a"]["type"] == "string");
  CHECK_FALSE(enc.contains("grammar"));
  chat_request g;
  g.messages = {{"user", "x"}};
  g.grammar = "root ::= \"\\\"yes\\\"\" | [^\"\\\\\\x00-\\x1F]\n";  // quotes and backslashes survive
  const auto genc = nlohmann::json::parse(encode_chat_request(g, false));
  CHECK(genc["grammar"] == g.grammar);
  CHECK_FALSE(genc.contains("response_format"));

  // Ill-formed UTF-8 (a lone continuation byte, a cut sequence, an overlong, a surrogate, a
  // code point above U+10FFFF) is replaced, never passed on or thrown about.
  chat_request bad;
  bad.messages = {{"user", "a" "\x80" "b" "\xE6\x97" "c" "\xC0\xAF" "d" "\xED\xA0\x80" "e" "\xF4\x90\x80\x80" "f" "\xE6\x97"}};
  const auto badenc = nlohmann::json::parse(encode_chat_request(bad, true));
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(badenc["messages"][0]["content"] == "a" + fffd + "b" + fffd + fffd + "c" + fffd + fffd + "d" + fffd + fffd +
                                               fffd + "e" + fffd + fffd + fffd + fffd + "f" + fffd + fffd);
  CHECK(badenc["return_progress"] == true);
}

TEST_CASE("llm_client: the error codec maps llama-server's recorded errors", "[llm]") {
  const auto ctx = decode_error(
      400,
      R"({"error":{"code":400,"message":"request (311 tokens) exceeds the available context size (256 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":311,"n_ctx":256}})");
  CHECK(ctx.kind == llm_error_kind::context_exceeded);
  CHECK(ctx.n_prompt_tokens == 311);
  CHECK(ctx.n_ctx == 256);
  CHECK(decode_error(503, R"({"error":{"message":"Loading model","type":"unavailable_error","code":503}})").kind ==
        llm_error_kind::not_ready);
  CHECK(decode_error(401, R"({"error":{"code":401,"message":"Invalid API Key","type":"authentication_error"}})")
            .kind == llm_error_kind::unauthorized);
  CHECK(decode_error(500, "not json").kind == llm_error_kind::model_fault);
  const auto enc = nlohmann::json::parse(encode_chat_request(
      [] {
        chat_request r;
        r.messages = {{"user", "x"}};
        r.slot = 1;
        r.banned_tokens = {309};
        return r;
      }(),
      true));
  CHECK(enc["id_slot"] == 1);
  CHECK(enc["stream"] == true);
  CHECK(enc["logit_bias"][0][0] == 309);
  CHECK(enc["logit_bias"][0][1] == false);
}
