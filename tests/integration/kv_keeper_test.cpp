// The orchestrator's KV kept per chat (gateway/kv_keeper.hpp) on the real llama-server with the
// Gemma 3 real-vocabulary model: a message costs the orchestrator only its own tokens after a
// warm-up, after another chat used the slot, after a node restart and after a daemon restart.
// Checked on the node's own counts (timings.prompt_n / cache_n), never on times.
#include "gateway/kv_keeper.hpp"
#include "gateway/pipeline.hpp"
#include "gateway/template_probe.hpp"
#include "tests/support/gateway_rig.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/llama_process.hpp"
#include "tests/support/run_coro.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <memory>

using namespace openclawd;
using namespace openclawd::gateway;
using test::llama_process;
using test::loopback;
using test::open_store;

namespace {

std::string message(const std::string& chat, int turn) {
  std::string m = "Chat " + chat + ", message " + std::to_string(turn) + ": tell me about";
  static const char* topics[] = {"harbors", "bicycles", "sourdough", "the cello", "Lisbon", "KV caches"};
  for (int i = 0; i < 20; ++i) m += std::string(" ") + topics[(turn + i) % 6];
  return m + ".";
}

// The orchestrator (Gemma 3 vocabulary and template, slot files on, no host prompt cache so that
// only the keeper can explain a reuse) and a story subagent whose answers are ~100 tokens: what
// the orchestrator would otherwise read again with the next message.
struct kv_rig {
  test::temp_dir dir;
  std::filesystem::path kv_dir = dir / "kv";
  asio::io_context io;
  conversation_store store{open_store(dir / "conversations.db")};
  std::unique_ptr<llama_process> orch, sub;
  int orch_port = 0;
  std::unique_ptr<openai_client> oc, sc;
  std::unique_ptr<kv_keeper> kv;
  std::unique_ptr<pipeline> p;
  template_traits orch_traits;
  int slots;
  std::uint64_t max_bytes;
  std::string fingerprint = "test-fingerprint";

  std::string orchestrator_kind = "hello";

  explicit kv_rig(int s = 1, std::uint64_t cap = 0, std::string kind = "hello")
      : slots(s), max_bytes(cap), orchestrator_kind(std::move(kind)) {
    std::filesystem::create_directories(kv_dir);
    start_orchestrator();
    sub = std::make_unique<llama_process>(test::real_vocab_model("gemma3", "story"), 4096,
                                          std::vector<std::string>{"-np", "1", "--cache-ram", "0"});
    oc = std::make_unique<openai_client>(io.get_executor(), loopback(orch_port));
    sc = std::make_unique<openai_client>(io.get_executor(), loopback(sub->port()));
    auto t = test::run_one(io, probe_template(*oc));
    REQUIRE(t.has_value());
    orch_traits = *t;
    make_pipeline();
  }

  void start_orchestrator() {
    orch = std::make_unique<llama_process>(
        test::real_vocab_model("gemma3", orchestrator_kind), 4096 * slots,
        std::vector<std::string>{"-np", std::to_string(slots), "--cache-ram", "0", "--slot-save-path", kv_dir.string()},
        orch_port);
    orch_port = orch->port();
  }

  // A new pipeline and keeper over the same store and folder: what a daemon restart leaves.
  void make_pipeline() {
    p.reset();
    kv.reset();
    auto cfg = pipeline_config::defaults();
    cfg.answer_max_tokens = 100;
    p = std::make_unique<pipeline>(store, node_view{"orchestrator", oc.get(), 4096, slots, "o"},
                                   node_view{"subagent", sc.get(), 4096, 1, "s"}, nullptr, nullptr, cfg);
    p->set_template("orchestrator", orch_traits);
    kv = std::make_unique<kv_keeper>(*oc, "orchestrator", slots, kv_files{true, kv_dir, fingerprint, max_bytes});
    p->set_kv_keeper(kv.get());
  }

  // Answered, and the warm-up that follows it (in the background) done.
  reply send(const std::string& chat, const std::string& text) {
    const auto done = [&] { return kv ? kv->stats().warmups + kv->stats().warmup_failures : 0; };
    const auto before = done();
    auto r = test::run_one(io, p->handle(chat, text, {}), test::deadline_long);
    INFO(chat << ": " << r.text);
    REQUIRE(r.ok);
    REQUIRE(r.decision_timings.has_value());
    const auto deadline = std::chrono::steady_clock::now() + test::deadline_long;
    while (kv && p && done() == before && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(std::chrono::milliseconds(20));
    }
    if (kv) REQUIRE(done() > before);
    return r;
  }
};

// What a message costs at best: its own text and the template's markers around it (Gemma:
// "<end_of_turn>\n<start_of_turn>user\n", the message, "<end_of_turn>\n<start_of_turn>model\n").
constexpr int own_slack = 16;
constexpr int message_tokens = 40;  // message(): about 35 tokens with the Gemma vocabulary

}  // namespace

TEST_CASE("kv keeper: after a warm-up the next message costs only its own tokens", "[kv][real]") {
  kv_rig rig;
  for (int t = 1; t <= 3; ++t) rig.send("A", message("A", t));
  CHECK(rig.kv->stats().warmups == 3);
  CHECK(rig.kv->stats().saves == 3);
  const auto r = rig.send("A", message("A", 4));
  INFO("prompt_n " << r.decision_timings->prompt_n << ", cache_n " << r.decision_timings->cache_n);
  CHECK(r.decision_timings->prompt_n <= message_tokens + own_slack);  // not the ~100-token answer again
  CHECK(r.decision_timings->cache_n > 300);

  // Without the keeper the previous answer is read on the critical path (the "before").
  rig.p->set_kv_keeper(nullptr);
  rig.kv.reset();
  rig.send("A", message("A", 5));
  const auto before = rig.send("A", message("A", 6));
  CHECK(before.decision_timings->prompt_n > 80);
}

TEST_CASE("kv keeper: back to a chat after others used the only slot, it is restored from its file", "[kv][real]") {
  kv_rig rig;
  for (int t = 1; t <= 3; ++t) rig.send("A", message("A", t));
  rig.send("B", message("B", 1));
  rig.send("C", message("C", 1));
  const auto restores = rig.kv->stats().restores;
  const auto r = rig.send("A", message("A", 4));
  CHECK(rig.kv->stats().restores == restores + 1);
  INFO("prompt_n " << r.decision_timings->prompt_n << ", cache_n " << r.decision_timings->cache_n);
  CHECK(r.decision_timings->prompt_n <= message_tokens + own_slack);
  CHECK(r.decision_timings->cache_n > 300);
}

TEST_CASE("kv keeper: after a node restart and after a daemon restart, the chat comes back from its file",
          "[kv][real]") {
  kv_rig rig;
  for (int t = 1; t <= 3; ++t) rig.send("A", message("A", t));

  // The node restarts: its slots hold nothing.
  rig.orch.reset();
  rig.start_orchestrator();
  rig.kv->node_restarted();
  auto r = rig.send("A", message("A", 4));
  INFO("after a node restart: prompt_n " << r.decision_timings->prompt_n);
  CHECK(r.decision_timings->prompt_n <= message_tokens + own_slack);

  // The daemon restarts too: a new keeper finds the file through its manifest.
  rig.orch.reset();
  rig.start_orchestrator();
  rig.make_pipeline();
  r = rig.send("A", message("A", 5));
  INFO("after a daemon restart: prompt_n " << r.decision_timings->prompt_n);
  CHECK(rig.kv->stats().restores == 1);
  CHECK(r.decision_timings->prompt_n <= message_tokens + own_slack);
}

TEST_CASE("kv keeper: on the sliding-window architecture too, warm-ups and restores leave only the message",
          "[kv][real]") {
  // Gemma 3's sliding-window layers can reuse a prompt only from checkpoints: a warm-up that
  // diverged from the next request near its end would force a full re-evaluation. It stops
  // exactly where the next message starts.
  kv_rig rig(1, 0, "hello-gemma3");
  for (int t = 1; t <= 3; ++t) rig.send("A", message("A", t));
  auto r = rig.send("A", message("A", 4));
  INFO("follow-up: prompt_n " << r.decision_timings->prompt_n);
  CHECK(r.decision_timings->prompt_n <= message_tokens + own_slack);
  rig.send("B", message("B", 1));
  r = rig.send("A", message("A", 5));
  INFO("after B: prompt_n " << r.decision_timings->prompt_n);
  CHECK(rig.kv->stats().restores >= 1);
  CHECK(r.decision_timings->prompt_n <= message_tokens + own_slack);
}

TEST_CASE("kv keeper: a corrupt file means evaluate, files of another fingerprint are deleted", "[kv][real]") {
  kv_rig rig;
  for (int t = 1; t <= 2; ++t) rig.send("A", message("A", t));
  rig.send("B", message("B", 1));
  // A's file, damaged on disk.
  std::filesystem::path file;
  for (const auto& e : std::filesystem::directory_iterator(rig.kv_dir))
    if (e.path().extension() == ".bin") file = e.path();
  REQUIRE(!file.empty());
  for (const auto& e : std::filesystem::directory_iterator(rig.kv_dir)) {
    if (e.path().extension() != ".bin") continue;
    std::ofstream(e.path(), std::ios::binary | std::ios::trunc) << "not a slot file";
  }
  const auto r = rig.send("A", message("A", 3));
  CHECK(rig.kv->stats().restore_failures >= 1);
  CHECK(r.decision_timings->prompt_n > 100);  // read again: answered all the same

  // Another model (or ctx, or cache type): the old files are of no use and go.
  rig.fingerprint = "another-model";
  rig.make_pipeline();
  std::size_t bins = 0;
  for (const auto& e : std::filesystem::directory_iterator(rig.kv_dir)) bins += e.path().extension() == ".bin";
  CHECK(bins == 0);
}

TEST_CASE("kv keeper: the folder's cap evicts the least recently used chat's file", "[kv][real]") {
  kv_rig probe_size;  // one chat's file size first
  probe_size.send("A", message("A", 1));
  const auto one = probe_size.kv->stats().file_bytes;
  REQUIRE(one > 0);

  kv_rig rig(1, one * 2 + one / 2);  // room for two files
  rig.send("A", message("A", 1));
  rig.send("B", message("B", 1));
  rig.send("C", message("C", 1));
  CHECK(rig.kv->stats().evictions >= 1);
  CHECK(rig.kv->stats().files == 2);
  CHECK(rig.kv->stats().file_bytes <= one * 2 + one / 2);
  // A's file, the least recently used, was the one to go: A is read again.
  const auto restores = rig.kv->stats().restores;
  const auto a = rig.send("A", message("A", 2));
  CHECK(rig.kv->stats().restores == restores);
  CHECK(a.decision_timings->prompt_n > 100);
}

TEST_CASE("kv keeper: with two slots, chats keep their own slot and the least recently used is taken",
          "[kv][real]") {
  kv_rig rig(2);
  rig.send("A", message("A", 1));
  rig.send("B", message("B", 1));
  // Both fit: no restore needed when they alternate.
  for (int t = 2; t <= 3; ++t) {
    const auto a = rig.send("A", message("A", t));
    CHECK(a.decision_timings->prompt_n <= message_tokens + own_slack);
    const auto b = rig.send("B", message("B", t));
    CHECK(b.decision_timings->prompt_n <= message_tokens + own_slack);
  }
  CHECK(rig.kv->stats().restores == 0);
  // A third chat takes the least recently used slot (A's); A then comes back from its file.
  rig.send("C", message("C", 1));
  const auto a = rig.send("A", message("A", 4));
  CHECK(rig.kv->stats().restores == 1);
  CHECK(a.decision_timings->prompt_n <= message_tokens + own_slack);
}

TEST_CASE("kv keeper: a server without /completion gets one warm-up attempt, not one per message", "[kv]") {
  // Another OpenAI-compatible server behind a url: node: llm_client's own prefill says "not
  // supported" (501), as such a server's 404 does.
  struct no_prefill final : llm_client {
    asio::awaitable<llm_result<chat_result>> chat(chat_request) override { co_return chat_result{}; }
    using llm_client::apply_template;
    using llm_client::chat_stream;
    asio::awaitable<llm_result<chat_result>> chat_stream(chat_request, stream_handlers) override {
      co_return chat_result{};
    }
    asio::awaitable<llm_result<int>> count_tokens(std::string) override { co_return 1; }
    asio::awaitable<llm_result<std::string>> apply_template(std::vector<chat_message>, std::optional<bool>) override {
      co_return std::string();
    }
  } client;
  asio::io_context io;
  kv_keeper kv(client, "orchestrator", 1, kv_files{});
  CHECK(kv.warm_ups_supported());
  auto held = test::run_one(io, kv.acquire("A"));
  test::run_one(io, [&]() -> asio::awaitable<bool> {
    co_await kv.warm("A", held, "prefix");
    co_return true;
  }());
  CHECK_FALSE(kv.warm_ups_supported());
  CHECK(kv.stats().warmup_failures == 1);
  kv.node_restarted();  // perhaps another server now
  CHECK(kv.warm_ups_supported());
}
