// Models by name end to end: the real `openclawd` binary and the real llama-server, with tiny
// models (openclawd-make-model) served by the fake Hub on loopback (tests/support/fake_hub.hpp).
// `start` pulls what the config names and is not cached; `start --offline` runs from the
// cache, or refuses clearly; `pull` shows plain progress lines off a terminal; a one-word
// quant swap in the YAML plus `reload` pulls the new quant, then swaps the running node.
#include "core/model_ref.hpp"
#include "tests/support/fake_hub.hpp"
#include "tests/support/harness.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include <sys/wait.h>

using namespace openclawd::test;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void replace_in_file(const fs::path& p, const std::string& from, const std::string& to) {
  std::string text = read_text(p);
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  std::ofstream(p) << text;
}

// Two quants of one tiny model: different files (seeds), the names carry the quant.
void publish_tiny(fake_hub& hub, const fs::path& dir) {
  hub.add_file_from("acme/tiny-GGUF", "tiny-Q8_0.gguf", make_model(dir / "q8.gguf", "random", 1).string());
  hub.add_file_from("acme/tiny-GGUF", "tiny-Q4_0.gguf", make_model(dir / "q4.gguf", "random", 2).string());
}

std::string hub_section(const fake_hub& hub, const fs::path& cache) {
  return "hub:\n  endpoint: " + hub.endpoint() + "\n  cache_dir: " + cache.string() + "\n";
}

}  // namespace

TEST_CASE("models e2e: start pulls a missing model visibly, and --offline starts from the cache or refuses clearly",
          "[models][e2e]") {
  fake_hub hub;
  daemon_setup d;
  publish_tiny(hub, d.dir.path());
  const fs::path cache = d.dir / "models";
  d.orchestrator_model = "hf:acme/tiny-GGUF:Q8_0";
  d.top_extra = hub_section(hub, cache);
  d.write_config();

  // Offline and nothing cached: a clear error, nothing started.
  auto offline = run_openclawd({"start", "--offline", "--config", d.config.string()});
  CHECK(offline.exit_code == 1);
  CHECK(offline.err.find("not in the model cache") != std::string::npos);
  CHECK(offline.err.find("hf:acme/tiny-GGUF:Q8_0") != std::string::npos);
  CHECK(offline.err.find("--offline") != std::string::npos);
  CHECK(hub.requests().empty());

  // doctor: not pulled yet is a warning (start pulls it), not a refusal.
  auto before = run_openclawd({"doctor", "--config", d.config.string()});
  INFO(before.out << before.err);
  CHECK(before.out.find("hf:acme/tiny-GGUF:Q8_0: not in the model cache") != std::string::npos);
  CHECK(before.out.find("start would refuse") == std::string::npos);

  auto started = d.start();
  INFO(started.out << started.err);
  REQUIRE(started.exit_code == 0);
  CHECK(started.out.find("pulling hf:acme/tiny-GGUF:Q8_0") != std::string::npos);
  CHECK(started.out.find("pulled tiny-Q8_0.gguf") != std::string::npos);
  CHECK(started.out.find("sha256 verified") != std::string::npos);
  const auto rev = hub.revision("acme/tiny-GGUF");
  const auto path = openclawd::core::cached_file_path(cache, "acme/tiny-GGUF", rev, "tiny-Q8_0.gguf");
  CHECK(d.status()["nodes"]["orchestrator"]["model"] == path.string());
  // doctor: the reference, its revision, size, verification and cached file.
  auto after = run_openclawd({"doctor", "--config", d.config.string()});
  INFO(after.out << after.err);
  CHECK(after.out.find("hf:acme/tiny-GGUF:Q8_0 (") != std::string::npos);
  CHECK(after.out.find("revision " + rev.substr(0, 12) + ", sha256 verified") != std::string::npos);
  CHECK(after.out.find(") → " + path.string()) != std::string::npos);
  REQUIRE(d.stop().exit_code == 0);

  // From the cache, with the Hub gone: nothing is asked.
  const auto asked = hub.requests().size();
  auto again = run_openclawd({"start", "--offline", "--config", d.config.string()});
  INFO(again.out << again.err);
  REQUIRE(again.exit_code == 0);
  CHECK(again.out.find("pulling") == std::string::npos);
  CHECK(hub.requests().size() == asked);
  CHECK(d.node_state("orchestrator") == "ready");
}

TEST_CASE("models e2e: pull prints plain lines off a terminal, and a missing quant lists the available ones",
          "[models][e2e]") {
  fake_hub hub;
  daemon_setup d;
  publish_tiny(hub, d.dir.path());
  d.orchestrator_model = "hf:acme/tiny-GGUF:Q8_0";
  d.subagent_model = "hf:acme/tiny-GGUF:Q4_0";
  d.top_extra = hub_section(hub, d.dir / "models");
  d.write_config();
  auto pulled = run_openclawd({"pull", "--config", d.config.string()});
  INFO(pulled.out << pulled.err);
  REQUIRE(pulled.exit_code == 0);
  CHECK(pulled.out.find("\r") == std::string::npos);  // no bar redrawn in a log
  CHECK(pulled.out.find("pulled tiny-Q8_0.gguf") != std::string::npos);
  CHECK(pulled.out.find("pulled tiny-Q4_0.gguf") != std::string::npos);
  CHECK(pulled.out.find("done: 2 models in the cache") != std::string::npos);

  auto missing = run_openclawd({"pull", "--config", d.config.string(), "hf:acme/tiny-GGUF:Q5_K_M"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("acme/tiny-GGUF has no Q5_K_M quant; available: Q4_0, Q8_0") != std::string::npos);
}

TEST_CASE("models e2e: a one-word quant swap by reload pulls the new quant, swaps, and rolls back a broken one",
          "[models][e2e]") {
  fake_hub hub;
  daemon_setup d;
  publish_tiny(hub, d.dir.path());
  // A "quant" whose file is not a model: llama-server refuses it, the reload rolls back.
  hub.add_file("acme/tiny-GGUF", "tiny-Q2_K.gguf", std::string(4096, 'x'));
  const fs::path cache = d.dir / "models";
  d.orchestrator_model = "hf:acme/tiny-GGUF:Q8_0";
  d.top_extra = hub_section(hub, cache);
  d.write_config();
  auto started = d.start();
  INFO(started.out << started.err);
  REQUIRE(started.exit_code == 0);
  const auto pid_before = d.node_pid("orchestrator");
  const auto rev = hub.revision("acme/tiny-GGUF");

  replace_in_file(d.config, "hf:acme/tiny-GGUF:Q8_0", "hf:acme/tiny-GGUF:Q4_0");
  auto reload = run_openclawd({"reload", "--config", d.config.string()});
  INFO(reload.out << reload.err);
  REQUIRE(reload.exit_code == 0);
  CHECK(reload.out.find("pulled tiny-Q4_0.gguf") != std::string::npos);
  const auto q4 = openclawd::core::cached_file_path(cache, "acme/tiny-GGUF", rev, "tiny-Q4_0.gguf");
  auto st = d.status();
  CHECK(st["nodes"]["orchestrator"]["model"] == q4.string());
  CHECK(st["nodes"]["orchestrator"]["state"] == "ready");
  CHECK(d.node_pid("orchestrator") != pid_before);

  replace_in_file(d.config, "hf:acme/tiny-GGUF:Q4_0", "hf:acme/tiny-GGUF:Q2_K");
  auto broken = run_openclawd({"reload", "--config", d.config.string()});
  INFO(broken.out << broken.err);
  CHECK(broken.exit_code == 1);
  st = d.status();
  CHECK(st["last_reload"]["outcome"] == "rolled_back");
  CHECK(st["nodes"]["orchestrator"]["model"] == q4.string());
  CHECK(wait_until([&] { return d.node_state("orchestrator") == "ready"; }, deadline_long));
}

TEST_CASE("models e2e: a pull in progress shows in status, and start shows a node's load progress", "[models][e2e]") {
  fake_hub hub;
  daemon_setup d;
  // ~4 s of download at 1 MB/s.
  hub.add_file("acme/slow-GGUF", "slow-Q4_0.gguf", std::string(4'000'000, 's'));
  hub.throttle(1'000'000);
  d.top_extra = hub_section(hub, d.dir / "models");
  // A node that takes 7 s to load, printing llama.cpp's phases and progress dots.
  d.subagent_extra = "    llama_server: " + test_child_bin().string() + "\n    extra_args: [--load-ms, \"7000\"]\n";
  d.write_config();
  fs::create_directories(d.state_dir());

  const auto pull_pid = spawn_openclawd({"pull", "--config", d.config.string(), "hf:acme/slow-GGUF:Q4_0"},
                                        d.dir / "pull.out", d.dir / "pull.err");
  nlohmann::json pulling;
  CHECK(wait_until([&] {
    auto r = run_openclawd({"status", "--json", "--config", d.config.string()}, deadline_short);
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (!j.is_object() || !j.contains("activity") || !j["activity"]["pull"].is_object()) return false;
    pulling = j["activity"]["pull"];
    return pulling.value("have_bytes", 0) > 0;
  }, deadline_long));
  CHECK(pulling["refs"][0] == "hf:acme/slow-GGUF:Q4_0");
  CHECK(pulling["total_bytes"] == 4'000'000);
  auto text = run_openclawd({"status", "--config", d.config.string()}, deadline_short);
  CHECK(text.out.find("pulling hf:acme/slow-GGUF:Q4_0:") != std::string::npos);
  int st = 0;
  REQUIRE(wait_until([&] { return ::waitpid(pull_pid, &st, WNOHANG) == pull_pid; }, deadline_long));
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  CHECK_FALSE(fs::exists(d.state_dir() / "pull.json"));

  const auto start_pid = spawn_openclawd({"start", "--config", d.config.string()}, d.dir / "start.out", d.dir / "start.err");
  nlohmann::json loading;
  CHECK(wait_until([&] {
    auto r = run_openclawd({"status", "--json", "--config", d.config.string()}, deadline_short);
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (!j.is_object() || !j.contains("activity") || !j["activity"]["loading"].contains("subagent")) return false;
    loading = j["activity"]["loading"]["subagent"];
    return loading["percent"].is_number();
  }, deadline_long));
  CHECK(loading.value("phase", "") == "load_tensors: loading model tensors, this can take a while");
  REQUIRE(wait_until([&] { return ::waitpid(start_pid, &st, WNOHANG) == start_pid; }, deadline_long));
  CHECK(WEXITSTATUS(st) == 0);
  const auto out = read_text(d.dir / "start.out");
  INFO(out);
  // Off a terminal: a plain line while it loads, with the elapsed time and the phase.
  CHECK(out.find("subagent: loading ") != std::string::npos);
  CHECK(out.find("load_tensors: loading model tensors") != std::string::npos);
  CHECK(out.find("subagent ready at") != std::string::npos);
}
