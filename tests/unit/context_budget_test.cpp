// The token arithmetic that keeps every request inside a node's context.
#include "gateway/context_budget.hpp"

#include <catch2/catch.hpp>

using namespace openclawd::gateway;

TEST_CASE("context_budget: no compaction while the prompt stays under compact_at", "[budget]") {
  budget_config c;
  prompt_parts p{1000, 100, 100, 0, {50, 50, 50}};
  CHECK(prompt_tokens(p, c) == 100 + 3 * 58);
  CHECK_FALSE(plan_compaction(p, c).needed);
}

TEST_CASE("context_budget: compaction folds the oldest turns down to compact_to, in one large step",
          "[budget]") {
  budget_config c;
  c.summary_max_tokens = 100;
  prompt_parts p{1000, 100, 100, 0, {}};
  for (int i = 0; i < 12; ++i) p.turns.push_back(50);  // 100 + 12*58 = 796; + reserve 100 = 896 > 850
  const auto plan = plan_compaction(p, c);
  REQUIRE(plan.needed);
  CHECK_FALSE(plan.impossible);
  // What stays, with the summary at its maximum, is at most half the context.
  prompt_parts after = p;
  after.turns.erase(after.turns.begin(), after.turns.begin() + static_cast<long>(plan.fold));
  after.summary = c.summary_max_tokens;
  CHECK(prompt_tokens(after, c) + after.reserve <= 500);
  // ... and the next few turns fit without another compaction (the cache survives them).
  for (int i = 0; i < 4; ++i) {
    after.turns.push_back(50);
    CHECK_FALSE(plan_compaction(after, c).needed);
  }
}

TEST_CASE("context_budget: the newest turn is never folded, an oversized one is flagged", "[budget]") {
  budget_config c;
  prompt_parts p{256, 64, 40, 0, {10, 10, 400}};
  const auto plan = plan_compaction(p, c);
  REQUIRE(plan.needed);
  CHECK(plan.fold == 2);
  CHECK(plan.impossible);  // the caller must shorten that message itself
}

TEST_CASE("context_budget: the subagent gets the newest turns that fit", "[budget]") {
  budget_config c;
  prompt_parts p{500, 100, 100, 50, {100, 100, 100, 40}};
  // room = 500 - 100 - 100 - 58 = 242: the 40 (48) and one 100 (108) fit, the next does not.
  CHECK(fit_recent_turns(p, c) == 2);
  p.ctx = 100;
  CHECK(fit_recent_turns(p, c) == 0);
}
