// The phase of a loading node, read from llama-server's log (supervisor/load_phase.hpp), and
// the activity document built from it and a pull's progress file (app/activity.hpp).
#include "app/activity.hpp"
#include "supervisor/load_phase.hpp"

#include <catch2/catch.hpp>

using openclawd::supervisor::parse_load_phase;

TEST_CASE("load phase: the last line since openclawd's start marker, without llama-server's prefix", "[load_phase]") {
  const std::string log =
      "---- 2026-12-07T03:00:00Z openclawd: starting orchestrator: llama-server -m old.gguf\n"
      "0.00.117.096 I srv  llama_server: listening on http://127.0.0.1:8081\n"
      "---- 2026-12-07T03:10:00Z openclawd: starting orchestrator: llama-server -m new.gguf\n"
      "0.00.007.154 I srv  llama_server: initializing ...\n"
      "0.00.016.608 I srv    load_model: loading model '/m/new.gguf'\n";
  auto p = parse_load_phase(log);
  CHECK(p.text == "load_model: loading model '/m/new.gguf'");
  CHECK_FALSE(p.percent.has_value());

  auto dots = parse_load_phase(log + "0.00.017.000 I load_tensors: loading model tensors" + std::string(42, '.'));
  CHECK(dots.text == "load_tensors: loading model tensors");
  REQUIRE(dots.percent.has_value());
  CHECK(*dots.percent == 42);

  // Dots pushed onto a line of their own by another line: the phase is the line before.
  auto split = parse_load_phase(log + "0.00.017.000 I load_tensors: loading model tensors...\n" + "main: other\n" +
                                std::string(20, '.'));
  CHECK(split.text == "main: other");
  CHECK(split.percent == 20);
  CHECK(parse_load_phase("---- x openclawd: starting subagent: llama-server\n").text.empty());
  CHECK(parse_load_phase(std::string(100, '.')).text == "loading tensors");
}

TEST_CASE("activity: rows for a pull and a loading node", "[load_phase]") {
  nlohmann::json a = {{"pull", {{"pid", 42}, {"refs", {"hf:o/r:Q4_0"}}, {"percent", 42.4}, {"have_bytes", 1300000000},
                                {"total_bytes", 3100000000}, {"rate_bytes_s", 312000000.0}, {"eta_s", 6.0}}},
                      {"loading", {{"orchestrator", {{"phase", "load_model: loading"}, {"percent", 7}, {"since", "T"}}}}}};
  const auto rows = openclawd::app::activity_rows(a);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].first == "pulling hf:o/r:Q4_0");
  CHECK(rows[0].second == "42%, 1.3 GB of 3.1 GB, 312.0 MB/s, ETA 6 s (pid 42)");
  CHECK(rows[1].first == "orchestrator loading");
  CHECK(rows[1].second == "7%, load_model: loading (since T)");
  CHECK(openclawd::app::activity_rows({{"pull", nullptr}, {"loading", nlohmann::json::object()}}).empty());
}
