// Token arithmetic that keeps every request inside a node's context: pure functions
// over exact token counts (from the node's own /tokenize). No I/O, no state.
//  - plan_compaction(): for the append-only orchestrator prompt. Compacts in large steps
//    (at 85 % full, down to 50 %) so that the prompt cache is broken rarely.
//  - fit_recent_turns(): for the subagent, the newest turns that fit what is left.
#pragma once

#include <cstddef>
#include <vector>

namespace openclawd::gateway {

struct budget_config {
  double compact_at = 0.85;     // compact when the prompt + reserve would pass this share of ctx
  double compact_to = 0.50;     // ... down to this share
  int summary_max_tokens = 512;  // what a running summary may take (its request's max_tokens)
  int per_message_overhead = 8;  // chat-template tokens around each message (role markers)
};

struct prompt_parts {
  int ctx = 0;               // the node's context (per slot)
  int reserve = 0;           // tokens kept free for the answer (max_tokens)
  int fixed = 0;             // system prompt + anything else that is always there
  int summary = 0;           // the running summary, 0 if none
  std::vector<int> turns;    // exact tokens of each turn still in the prompt, oldest first
};

int prompt_tokens(const prompt_parts& p, const budget_config& c);

struct compaction_plan {
  bool needed = false;
  std::size_t fold = 0;  // the oldest `fold` turns go into the summary
  bool impossible = false;  // even with every turn folded the fixed part + reserve does not fit
};

// When the prompt (plus the reserve) passes compact_at × ctx, folds the oldest turns into
// the summary until it would be at most compact_to × ctx, counting the summary at its
// maximum size. Always keeps the newest turn.
compaction_plan plan_compaction(const prompt_parts& p, const budget_config& c);

// How many of the newest turns fit in ctx − reserve − fixed − summary (at least 0).
std::size_t fit_recent_turns(const prompt_parts& p, const budget_config& c);

}  // namespace openclawd::gateway
