// The orchestrator's decision: the shortest JSON that says what is needed, read even when the
// token cap cut it off.
#include "gateway/decision.hpp"

#include <catch2/catch.hpp>

using namespace openclawd::gateway;

TEST_CASE("decision: the grammar spells one compact decision, a brief only when configured", "[decision]") {
  // What llama-server is sent, whole: tests/integration/families_test.cpp runs it on real tokenizers.
  CHECK(decision_grammar() == R"G(root ::= "{\"action\":" ( "\"answer\"" | "\"search\"" ",\"query\":" query ) "}"
query ::= "\"" qfirst qchar{0,79} "\""
qfirst ::= [^"\\\x00-\x20\x7F] | "\\" ["\\/]
qchar ::= [^"\\\x00-\x1F\x7F] | "\\" ["\\/]
)G");
  CHECK(decision_grammar(0).find("brief") == std::string::npos);
  const auto& with_brief = decision_grammar(90);
  CHECK(with_brief.find(R"("\"answer\"" brief?)") != std::string::npos);
  CHECK(with_brief.find("query brief?") != std::string::npos);
  CHECK(with_brief.find("char{0,90}") != std::string::npos);
  CHECK(decision_grammar(5000).find("char{0,1000}") != std::string::npos);  // clamped; config refuses it
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
  CHECK(decision_grammar(0, false).find("read") == std::string::npos);
  CHECK(decision_grammar(0, true).find(R"("\"read\"")") != std::string::npos);
  const auto d = parse_decision(R"({"action":"read","query":"llama.cpp rpc"})");
  CHECK(d.usable);
  CHECK(d.action == decision::action_kind::read);
  CHECK(d.query == "llama.cpp rpc");
  CHECK(parse_decision(R"({"action":"read"})").action == decision::action_kind::answer);
}
