// The whole daemon: `openclawd chat` → local socket → pipeline → both real llama-server
// nodes → answer, and the story's broken-export failure handled through the real
// supervisor. Search is off: nothing leaves the machine.
#include "tests/support/harness.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace openclawd::test;

namespace {

void hello_nodes(daemon_setup& d) {
  d.orchestrator_model = make_model(d.dir / "orchestrator-hello.gguf", "hello").string();
  d.subagent_model = make_model(d.dir / "subagent-hello.gguf", "hello").string();
  d.top_extra = "search:\n  enabled: false\n";
}

}  // namespace

TEST_CASE("chat: a message through the daemon is answered, kept, and /reset clears it", "[chat][e2e]") {
  daemon_setup d;
  hello_nodes(d);
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto r = run_openclawd({"chat", "--config", d.config.string(), "--message", "Hi there"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "Hello, world!\n");
  CHECK(std::filesystem::exists(d.state_dir() / "conversations.db"));
  const auto second = run_openclawd({"chat", "--config", d.config.string(), "--chat", "other", "--message", "Hey"});
  CHECK(second.out == "Hello, world!\n");
  const auto reset = run_openclawd({"chat", "--config", d.config.string(), "--reset"});
  CHECK(reset.exit_code == 0);
  CHECK_THAT(reset.out, Catch::Contains("conversation cleared"));
  // What each node's chat template accepts was asked at ready (the tiny models' ChatML).
  const auto j = d.status();
  CHECK(j["nodes"]["orchestrator"]["template"]["summary"] == "system role, lenient roles");
  const auto text = run_openclawd({"status", "--config", d.config.string()});
  CHECK_THAT(text.out, Catch::Contains("subagent: template: system role, lenient roles"));
}

TEST_CASE("chat: an <unused50> subagent is switched to its fallback export and the message is answered",
          "[chat][e2e]") {
  daemon_setup d;
  hello_nodes(d);
  const auto good = d.subagent_model;
  d.subagent_model = make_model(d.dir / "concierge-broken.gguf", "unused50").string();
  d.subagent_extra = "    fallbacks: [" + good + "]\n";
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto r = run_openclawd({"chat", "--config", d.config.string(), "--message", "Hello?"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  // The broken export's output never reached the screen: held back until the guard caught it.
  CHECK(r.out == "Hello, world!\n");
  const auto j = d.status();
  const auto& sub = j["nodes"]["subagent"];
  CHECK(sub["state"] == "ready");
  CHECK(sub["model"] == good);
  CHECK(sub["model_index"] == 1);
  CHECK_THAT(sub["switched"]["reason"].get<std::string>(), Catch::Contains("<unused50>"));
  const auto text = run_openclawd({"status", "--config", d.config.string()});
  CHECK_THAT(text.out, Catch::Contains("subagent: switched from " + d.subagent_model));
}

TEST_CASE("chat: nodes started with --api-key get it on every request", "[chat][e2e]") {
  daemon_setup d;
  hello_nodes(d);
  d.orchestrator_extra = "    extra_args: [--api-key, orchestrator-secret]\n";
  d.subagent_extra = "    extra_args: [--api-key, subagent-secret]\n";  // llama-server rejects --flag=value
  d.write_config();
  const auto started = d.start();
  INFO(started.out << started.err);
  REQUIRE(started.exit_code == 0);
  const auto r = run_openclawd({"chat", "--config", d.config.string(), "--message", "Hi"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "Hello, world!\n");
  // ... and never in a log line.
  std::ifstream log(d.state_dir() / "logs" / "daemon.log");
  const std::string text{std::istreambuf_iterator<char>(log), {}};
  CHECK(text.find("subagent-secret") == std::string::npos);
}

TEST_CASE("chat: without a running daemon it says so (exit 3)", "[chat][e2e]") {
  daemon_setup d;
  hello_nodes(d);
  d.write_config();
  const auto r = run_openclawd({"chat", "--config", d.config.string(), "--message", "Hi"});
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Catch::Contains("is it running?"));
}

TEST_CASE("chat: Gemma 3 and Qwen3 models (real tokenizers and templates) through the daemon", "[chat][e2e][families]") {
  for (const std::string family : {"gemma3", "qwen3"}) {
    DYNAMIC_SECTION(family) {
      daemon_setup d;
      d.orchestrator_model = real_vocab_model(family, "hello").string();
      d.subagent_model = real_vocab_model(family, family == "qwen3" ? "think" : "hello").string();
      d.orchestrator_ctx = d.subagent_ctx = 2048;
      d.top_extra = "search:\n  enabled: false\npipeline:\n  decision_max_tokens: 24\n";
      d.write_config();
      const auto started = d.start();
      INFO(started.out << started.err);
      REQUIRE(started.exit_code == 0);
      for (int i = 0; i < 3; ++i) {
        const auto r = run_openclawd({"chat", "--config", d.config.string(), "--message", "Hi there"});
        INFO(r.err);
        CHECK(r.exit_code == 0);
        CHECK(r.out == "Hello, world!\n");  // no thoughts, nothing else
      }
      const auto text = run_openclawd({"status", "--config", d.config.string()});
      CHECK_THAT(text.out, Catch::Contains(family == "gemma3" ? "subagent: template: system role, strict alternation"
                                                              : "subagent: template: system role, lenient roles, thinking"));
    }
  }
}

TEST_CASE("chat: a model whose chat template refuses a plain exchange fails the start, naming node and model",
          "[chat][e2e]") {
  // llama-server starts with it (its load-time check renders one message); every conversation
  // would then fail. The daemon learns it when the node is ready and refuses to go on.
  daemon_setup d;
  hello_nodes(d);
  const auto template_file = d.dir / "one-turn-only.jinja";
  std::ofstream(template_file)
      << "{% if messages|length > 2 %}{{ raise_exception('this export takes one message only') }}{% endif %}"
         "{% for m in messages %}{{ '<turn>' + m['role'] + '\\n' + m['content'] + '</turn>\\n' }}{% endfor %}"
         "{% if add_generation_prompt %}{{ '<turn>model\\n' }}{% endif %}";
  d.subagent_extra = "    extra_args: [--chat-template-file, " + template_file.string() + "]\n";
  d.write_config();
  const auto started = d.start();
  INFO(started.out << started.err);
  CHECK(started.exit_code == 1);
  const auto said = started.out + started.err;
  CHECK_THAT(said, Catch::Contains("subagent"));
  CHECK_THAT(said, Catch::Contains("subagent-hello.gguf"));
  CHECK_THAT(said, Catch::Contains("refuses a plain user/assistant/user exchange"));
  CHECK_THAT(said, Catch::Contains("this export takes one message only"));
  // Nothing is left running.
  for (const auto pid : d.recorded_pids()) CHECK_FALSE(process_alive(pid));
}
