// The orchestrator's decision for one user message, and the JSON schema that makes the
// model's answer valid JSON whatever the model is (llama-server turns the schema into a
// grammar). Caps on every string keep the decision a few dozen tokens: the orchestrator
// is a big model on a CPU, and every token it writes costs the user time.
// Pure functions; no I/O.
#pragma once

#include <string>
#include <string_view>

namespace openclawd::gateway {

struct decision {
  enum class action_kind { answer, search };
  action_kind action = action_kind::answer;
  std::string query;   // the web query when action is search
  std::string brief;   // what the answer needs, for the subagent
  bool usable = true;  // false: the model's output could not be used; we answer without search
};

inline constexpr int decision_query_max_chars = 100;
inline constexpr int decision_brief_max_chars = 240;
// Enough tokens for the longest JSON the schema allows (one token per character in the
// worst case), so the grammar always closes it; a sane model stops far earlier.
inline constexpr int decision_worst_case_tokens = decision_query_max_chars + decision_brief_max_chars + 48;

// {"action":"search"|"answer","query":string<=100,"brief":string<=240}, all required.
const std::string& decision_schema();

// Never fails: anything unusable becomes {answer, "", "", usable=false}.
decision parse_decision(std::string_view model_output);

}  // namespace openclawd::gateway
