// The orchestrator's decision: the shortest JSON that says what is needed, read even when the
// token cap cut it off.
#include "gateway/decision.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace openclawd::gateway;

TEST_CASE("decision: only the action is required, a brief only when configured", "[decision]") {
  const auto j = nlohmann::json::parse(decision_schema());
  CHECK(j["required"] == nlohmann::json::array({"action"}));
  CHECK(j["properties"].contains("query"));
  CHECK_FALSE(j["properties"].contains("brief"));
  const auto with_brief = nlohmann::json::parse(decision_schema(90));
  CHECK(with_brief["properties"]["brief"]["maxLength"] == 90);
  CHECK(decision_max_tokens(0, 0) == 24);
  CHECK(decision_max_tokens(0, 90) == 24 + 30 + 4);
  CHECK(decision_max_tokens(40, 90) == 40);
}

TEST_CASE("decision: complete decisions", "[decision]") {
  auto d = parse_decision(R"({"action":"answer"})");
  CHECK(d.usable);
  CHECK_FALSE(d.truncated);
  CHECK(d.action == decision::action_kind::answer);
  d = parse_decision(R"({"action":"search","query":"llama.cpp release notes"})");
  CHECK(d.action == decision::action_kind::search);
  CHECK(d.query == "llama.cpp release notes");
  d = parse_decision(R"({"action":"search","query":"  "})");
  CHECK(d.action == decision::action_kind::answer);  // nothing to search for
  d = parse_decision(R"({"action":"answer","brief":"Be short."})");
  CHECK(d.brief == "Be short.");
}

TEST_CASE("decision: a decision the token cap cut off is read as far as it got", "[decision]") {
  auto d = parse_decision(R"({"action":"search","query":"llama.cpp release no)");
  CHECK(d.usable);
  CHECK(d.truncated);
  CHECK(d.action == decision::action_kind::search);
  CHECK(d.query == "llama.cpp release no");
  d = parse_decision(R"({"action":"search","query":"a \"quoted\" wo)");
  CHECK(d.query == "a \"quoted\" wo");
  d = parse_decision(R"({"action":"search","query":"ends in an escape \)");
  CHECK(d.query == "ends in an escape ");
  d = parse_decision(R"({"action":"answer","que)");  // a half-written key: dropped
  CHECK(d.usable);
  CHECK(d.action == decision::action_kind::answer);
  d = parse_decision(R"({"action":"search",)");
  CHECK(d.action == decision::action_kind::answer);  // no query came: answer without search
  d = parse_decision(R"({"act)");
  CHECK_FALSE(d.usable);
  d = parse_decision("");
  CHECK_FALSE(d.usable);
  d = parse_decision("Hello, world!");
  CHECK_FALSE(d.usable);
}

TEST_CASE("decision: read is offered only with page reading, and needs a query", "[decision]") {
  CHECK(decision_schema(0, false).find("\"read\"") == std::string::npos);
  CHECK(decision_schema(0, true).find("\"read\"") != std::string::npos);
  const auto d = parse_decision(R"({"action":"read","query":"llama.cpp rpc"})");
  CHECK(d.usable);
  CHECK(d.action == decision::action_kind::read);
  CHECK(d.query == "llama.cpp rpc");
  CHECK(parse_decision(R"({"action":"read"})").action == decision::action_kind::answer);
}
