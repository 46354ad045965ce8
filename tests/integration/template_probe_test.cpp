// What each real family's chat template accepts, asked of the real llama-server through
// /apply-template (gateway/template_probe.hpp). The templates are the families' own, from the
// tokenizer packages scripts/setup.sh fetches (test::real_vocab_template, docs/testing.md), put on
// a tiny model with --chat-template-file: rendering is the server's, only the weights are fake.
#include "gateway/template_probe.hpp"
#include "tests/support/gateway_rig.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/llama_process.hpp"
#include "tests/support/run_coro.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace openclawd;
using namespace openclawd::gateway;
using test::llama_process;
using test::loopback;
using test::open_store;

namespace {

// A template of our own: `rule` (Jinja that may raise), then a plain turn-by-turn rendering.
std::filesystem::path own_template(const test::temp_dir& dir, const std::string& name, const std::string& rule) {
  const auto out = dir / (name + ".jinja");
  std::ofstream(out) << rule
                     << "{% for m in messages %}{{ '<turn>' + m['role'] + '\\n' + m['content'] + '</turn>\\n' }}"
                        "{% endfor %}{% if add_generation_prompt %}{{ '<turn>model\\n' }}{% endif %}";
  return out;
}

template_traits probe(const std::filesystem::path& template_file) {
  test::temp_dir dir;
  const auto model = test::make_model(dir / "m.gguf", "hello");
  std::vector<std::string> extra;
  if (!template_file.empty()) extra = {"--chat-template-file", template_file.string()};
  llama_process server(model, 512, extra);
  asio::io_context io;
  openai_client client(io.get_executor(), loopback(server.port()));
  auto t = test::run_one(io, probe_template(client));
  INFO((t ? std::string() : t.error().to_string()));
  REQUIRE(t.has_value());
  CHECK(t->probed);
  return *t;
}

}  // namespace

TEST_CASE("template probe: ChatML (the tiny models' own) is lenient, with a system role", "[probe][real]") {
  const auto t = probe({});
  CHECK(t.usable());
  CHECK(t.system_role);
  CHECK_FALSE(t.system_moves);
  CHECK_FALSE(t.strict_alternation);
  CHECK_FALSE(t.thinking);
}

TEST_CASE("template probe: Gemma 3 folds the system text into the first turn and alternates strictly",
          "[probe][real]") {
  const auto t = probe(test::real_vocab_template("gemma3"));
  CHECK(t.usable());
  CHECK(t.system_role);
  CHECK_FALSE(t.system_moves);
  CHECK(t.strict_alternation);
  CHECK_FALSE(t.thinking);
  CHECK(t.summary() == "system role, strict alternation");
}

TEST_CASE("template probe: Mistral Nemo renders the system text late and alternates strictly", "[probe][real]") {
  const auto t = probe(test::real_vocab_template("mistral_nemo"));
  CHECK(t.usable());
  CHECK(t.system_role);
  CHECK(t.system_moves);
  CHECK(t.strict_alternation);
}

TEST_CASE("template probe: Qwen3 is a lenient thinking template", "[probe][real]") {
  const auto t = probe(test::real_vocab_template("qwen3"));
  CHECK(t.usable());
  CHECK(t.system_role);
  CHECK_FALSE(t.strict_alternation);
  CHECK(t.thinking);
}

TEST_CASE("template probe: Llama 3.1 is lenient", "[probe][real]") {
  const auto t = probe(test::real_vocab_template("llama3_1"));
  CHECK(t.usable());
  CHECK(t.system_role);
  CHECK_FALSE(t.strict_alternation);
  CHECK_FALSE(t.thinking);
}

TEST_CASE("template probe: a template without a system role (Gemma 2's rule) is served through llama-server's "
          "own fold", "[probe][real]") {
  test::temp_dir dir;
  // Gemma 2's rule, in a template of our own: any system message raises. llama-server sees that
  // when it loads the template and folds a system message into the first user turn itself, so
  // the probe finds the system text rendered; the shaper folds it the same way where the server
  // would not (conversation_shape_test).
  const auto t = probe(own_template(
      dir, "no-system",
      "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"));
  CHECK(t.usable());
  CHECK(t.system_role);
  CHECK_FALSE(t.system_moves);
}

TEST_CASE("template probe: a template that refuses a plain exchange is reported, not guessed around",
          "[probe][real]") {
  test::temp_dir dir;
  // llama-server refuses to start with a template that raises on everything; this one passes
  // its load-time check (one message) and raises on a conversation.
  const auto t = probe(own_template(
      dir, "one-turn-only",
      "{% if messages|length > 2 %}{{ raise_exception('this export takes one message only') }}{% endif %}"));
  CHECK_FALSE(t.usable());
  CHECK_THAT(t.refusal, Catch::Contains("this export takes one message only"));
  CHECK(t.summary() == "refuses a plain exchange");
}
