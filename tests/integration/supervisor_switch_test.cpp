// The supervisor in-process (no CLI) against the real llama-server: a degeneration strike
// moves a node to its next quantized export, and the caller waits until it is ready.
#include "supervisor/state_file.hpp"
#include "supervisor/supervisor.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/run_coro.hpp"

#include <catch2/catch.hpp>


using namespace openclawd;
using namespace std::chrono_literals;

namespace {

core::config two_nodes(test::temp_dir& dir, std::filesystem::path sub_model, std::vector<std::filesystem::path> fb) {
  core::config cfg;
  cfg.state_dir = dir / "state";
  std::filesystem::create_directories(cfg.state_dir / "logs");
  for (const std::string name : {"orchestrator", "subagent"}) {
    core::node_config n;
    n.name = name;
    n.llama_server = test::llama_server_bin();
    n.model = name == "subagent" ? sub_model : test::make_model(dir / "o.gguf", "hello");
    if (name == "subagent") n.fallbacks = fb;
    n.ctx = 1024;
    n.port = test::free_port();
    n.threads = 1;
    n.stop_timeout = 5s;
    n.startup_timeout = 60s;
    cfg.nodes.push_back(n);
  }
  return cfg;
}

}  // namespace

TEST_CASE("supervisor: a strike switches a node to its next model, and status says why", "[supervisor][real]") {
  test::temp_dir dir;
  const auto broken = test::make_model(dir / "concierge-Q4_K_M.gguf", "unused50");
  const auto good = test::make_model(dir / "concierge-Q4_0.gguf", "hello");
  const auto cfg = two_nodes(dir, broken, {good});
  asio::io_context io;
  supervisor::supervisor sup(io.get_executor(), cfg, {}, cfg.state_dir / "state.json", {});
  sup.start_all();
  REQUIRE(test::run_one(io, sup.wait_until_started()).ok);

  const bool switched =
      test::run_one(io, sup.switch_model("subagent", "degenerate output: repeated special token <unused50> (3 times)", 30s));
  CHECK(switched);
  const auto snap = sup.snapshot();
  const auto& sub = snap.nodes[1];
  CHECK(sub.state == supervisor::process_state::ready);
  CHECK(sub.model == good);
  CHECK(sub.model_index == 1);
  CHECK(sub.switched_from == broken);
  CHECK_THAT(sub.switch_reason, Catch::Contains("<unused50>"));
  CHECK(snap.nodes[0].restarts == 0);  // the other node was left alone

  // The last model has nothing to switch to: the node keeps running it.
  CHECK_FALSE(test::run_one(io, sup.switch_model("subagent", "again", 5s)));
  CHECK(sup.snapshot().nodes[1].state == supervisor::process_state::ready);

  // status --json shows it too (state.json is what the CLI reads).
  const auto st = supervisor::read_state_file(cfg.state_dir / "state.json");
  REQUIRE(st.has_value());
  CHECK_THAT(st->nodes[1].switch_reason, Catch::Contains("<unused50>"));

  test::run_one(io, sup.shutdown());
}
