#include "gateway/context_budget.hpp"

#include <algorithm>

namespace openclawd::gateway {

int prompt_tokens(const prompt_parts& p, const budget_config& c) {
  int total = p.fixed + (p.summary > 0 ? p.summary + c.per_message_overhead : 0);
  for (int t : p.turns) total += t + c.per_message_overhead;
  return total;
}

compaction_plan plan_compaction(const prompt_parts& p, const budget_config& c) {
  compaction_plan plan;
  const double limit = c.compact_at * p.ctx;
  if (prompt_tokens(p, c) + p.reserve <= limit) return plan;
  plan.needed = true;

  const double target = c.compact_to * p.ctx;
  // After folding, the summary may grow to its maximum: count it that way.
  int rest = p.fixed + c.summary_max_tokens + c.per_message_overhead + p.reserve;
  for (int t : p.turns) rest += t + c.per_message_overhead;
  std::size_t fold = 0;
  // Keep the newest turn: it is the message being answered.
  while (fold + 1 < p.turns.size() && rest > target) {
    rest -= p.turns[fold] + c.per_message_overhead;
    ++fold;
  }
  plan.fold = fold;
  plan.impossible = rest > p.ctx;
  return plan;
}

std::size_t fit_recent_turns(const prompt_parts& p, const budget_config& c) {
  int room = p.ctx - p.reserve - p.fixed - (p.summary > 0 ? p.summary + c.per_message_overhead : 0);
  std::size_t n = 0;
  for (auto it = p.turns.rbegin(); it != p.turns.rend(); ++it) {
    room -= *it + c.per_message_overhead;
    if (room < 0) break;
    ++n;
  }
  return n;
}

}  // namespace openclawd::gateway
