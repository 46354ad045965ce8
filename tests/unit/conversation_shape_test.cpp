// The conversation shaper: whatever the store holds, requests are role-valid for strict
// templates, and the orchestrator's prompt stays append-only from one message to the next.
#include "gateway/conversation_shape.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace openclawd::gateway;

namespace {

shaped_turn u(std::string_view s) { return {shaped_role::user, s}; }
shaped_turn a(std::string_view s) { return {shaped_role::assistant, s}; }

template_traits strict_with_system() {
  template_traits t;  // Gemma 3: one leading system message, then strictly alternating
  t.probed = true;
  return t;
}

template_traits no_system() {
  auto t = strict_with_system();  // Gemma 2: a system message raises
  t.system_role = false;
  return t;
}

template_traits moving_system() {
  auto t = strict_with_system();  // Mistral Nemo: the system text lands in the last user turn
  t.system_moves = true;
  return t;
}

// What every strict template demands.
void check_role_valid(const std::vector<chat_message>& m) {
  REQUIRE(!m.empty());
  std::size_t i = 0;
  if (m[0].role == "system") ++i;
  for (std::size_t k = 1; k < m.size(); ++k) CHECK(m[k].role != "system");
  REQUIRE(i < m.size());
  for (std::size_t k = i; k < m.size(); ++k) CHECK(m[k].role == ((k - i) % 2 == 0 ? "user" : "assistant"));
  CHECK(m.back().role == "user");
}

// The rendered text of a request, for prefix checks: what a template makes of it is
// prefix-stable when the messages are (same roles, same bytes, only appended).
std::string flat(const std::vector<chat_message>& m) {
  std::string s;
  for (const auto& x : m) s += "<" + x.role + ">" + x.content + "</" + x.role + ">";
  return s;
}

}  // namespace

TEST_CASE("conversation shape: a plain exchange keeps its turns, the system prompt first", "[shape]") {
  const std::vector<shaped_turn> turns{u("Hi"), a("Hello!"), u("How are you?")};
  const auto m = shape_conversation({"SYS", {}, turns, {}}, strict_with_system());
  check_role_valid(m);
  REQUIRE(m.size() == 4);
  CHECK(m[0].role == "system");
  CHECK(m[0].content == "SYS");
  CHECK(m[1].content == "Hi");
  CHECK(m[3].content == "How are you?");
}

TEST_CASE("conversation shape: the summary joins the system message, never a second one", "[shape]") {
  const std::vector<shaped_turn> turns{u("And then?")};
  const auto m = shape_conversation({"SYS", "They talked about boats.", turns, {}}, strict_with_system());
  check_role_valid(m);
  REQUIRE(m.size() == 2);
  CHECK(m[0].content == "SYS\n\nSummary of the earlier conversation: They talked about boats.");
}

TEST_CASE("conversation shape: a message that got no answer is merged with the next", "[shape]") {
  // The story's failure: one failed answer left two user turns in a row, which Gemma's
  // template refuses for every later message.
  const std::vector<shaped_turn> turns{u("First"), a("Answer"), u("Unanswered"), u("Again?")};
  const auto m = shape_conversation({"SYS", {}, turns, {}}, strict_with_system());
  check_role_valid(m);
  REQUIRE(m.size() == 4);
  CHECK(m[3].content == "Unanswered\n\nAgain?");
}

TEST_CASE("conversation shape: empty turns are skipped, their neighbours merged", "[shape]") {
  const std::vector<shaped_turn> turns{u("One"), a(""), u("Two"), a(" \n"), u("Three")};
  const auto m = shape_conversation({"SYS", {}, turns, {}}, strict_with_system());
  check_role_valid(m);
  REQUIRE(m.size() == 2);
  CHECK(m[1].content == "One\n\nTwo\n\nThree");
}

TEST_CASE("conversation shape: a history that starts with the assistant gets a user turn first", "[shape]") {
  const std::vector<shaped_turn> turns{a("…and that is the recipe."), u("Make it vegan")};
  const auto m = shape_conversation({"SYS", "A recipe was asked for.", turns, {}}, strict_with_system());
  check_role_valid(m);
  REQUIRE(m.size() == 4);
  CHECK(m[1].content == continued_marker);
  CHECK(m[2].content == "…and that is the recipe.");
}

TEST_CASE("conversation shape: the notes lead the newest message, the earlier bytes stay", "[shape]") {
  const std::vector<shaped_turn> turns{u("Hi"), a("Hello!"), u("Weather in Oslo?")};
  const auto without = shape_conversation({"SYS", {}, turns, {}}, strict_with_system());
  const auto with = shape_conversation({"SYS", {}, turns, "Brief: short.\n\nResults: rain."}, strict_with_system());
  check_role_valid(with);
  REQUIRE(with.size() == without.size());
  CHECK(with.back().content == "Brief: short.\n\nResults: rain.\n\nWeather in Oslo?");
  for (std::size_t i = 0; i + 1 < with.size(); ++i) CHECK(with[i].content == without[i].content);
}

TEST_CASE("conversation shape: no system role, or one that moves: its text leads the first user turn", "[shape]") {
  const std::vector<shaped_turn> turns{u("Hi"), a("Hello!"), u("Bye")};
  for (const auto& traits : {no_system(), moving_system()}) {
    const auto m = shape_conversation({"SYS", "S.", turns, {}}, traits);
    check_role_valid(m);
    REQUIRE(m.size() == 3);
    CHECK(m[0].role == "user");
    CHECK(m[0].content == "SYS\n\nSummary of the earlier conversation: S.\n\nHi");
  }
  // Only notes and no turns: still one user message.
  const auto only = shape_conversation({"SYS", {}, {}, "Notes"}, no_system());
  check_role_valid(only);
  REQUIRE(only.size() == 1);
  CHECK(only[0].content == "SYS\n\nNotes");
}

TEST_CASE("conversation shape: the orchestrator's prompt is append-only across messages", "[shape]") {
  // Message by message, as the pipeline sends them: each request starts with the bytes of the
  // previous one (its last user turn), for every template kind.
  for (const auto& traits : {strict_with_system(), no_system(), moving_system()}) {
    std::vector<std::string> texts{"Hi", "Hello!", "Tell me a joke", "Why did…", "Another", "Sure:"};
    std::string previous;
    for (std::size_t n = 1; n <= texts.size(); n += 2) {
      std::vector<shaped_turn> turns;
      for (std::size_t i = 0; i < n; ++i) turns.push_back(i % 2 == 0 ? u(texts[i]) : a(texts[i]));
      const auto m = shape_conversation({"SYS", "Earlier.", turns, {}}, traits);
      check_role_valid(m);
      const auto now = flat(m);
      if (!previous.empty()) CHECK(now.compare(0, previous.size(), previous) == 0);
      previous = now;
    }
  }
}

TEST_CASE("conversation shape: template traits describe themselves for status", "[shape]") {
  template_traits t;
  CHECK(t.summary() == "not probed");
  t = strict_with_system();
  CHECK(t.summary() == "system role, strict alternation");
  t = no_system();
  t.thinking = true;
  CHECK(t.summary() == "no system role, strict alternation, thinking");
  t = moving_system();
  t.strict_alternation = false;
  CHECK(t.summary() == "system role (rendered late; folded into the first turn), lenient roles");
  t.refusal = "Conversation roles must alternate";
  CHECK(t.summary() == "refuses a plain exchange");
  CHECK(!t.usable());
}
