// The orchestrator's decision for one user message, and the GBNF grammar that makes the
// model's answer a valid decision whatever the model is. The orchestrator is a big model on a
// CPU: every token it writes is on the user's critical path (a few tokens a second on the
// story's machine), so a decision is as short as the grammar allows: `{"action":"answer"}` for
// a direct answer (5 tokens with Gemma's, Qwen's and Llama's tokenizers), a query only when
// searching (`search`: the results' snippets; `read`: the search, then the top pages read in
// full, offered only when page reading is on), and a brief only when configured. A hard token
// cap (decision_max_tokens) bounds the worst case; a decision the cap cut off is read as far as
// it got (a shorter query).
//
// Why a grammar and not a JSON schema: llama-server's schema grammar allows up to ~22
// whitespace characters at every gap and a ```json fence, so a model that takes them spends
// its capped tokens on nothing (a random-weights model reached the cap before "action" was
// complete), and a real one writing `{"action": "search", "query": …}` spends 3 tokens more
// than the compact form. The grammar allows exactly one spelling: no whitespace between tokens,
// keys in order, a query only with search/read and always non-blank there.
// Pure functions; no I/O.
#pragma once

#include <string>
#include <string_view>

namespace openclawd::gateway {

struct decision {
  enum class action_kind { answer, search, read };
  action_kind action = action_kind::answer;
  std::string query;   // the web query when action is search or read
  std::string brief;   // what the answer needs, for the subagent (empty when briefs are off)
  bool usable = true;  // false: the model's output could not be used; we answer without search
  bool truncated = false;  // the token cap cut it off; what was there is used
};

inline constexpr int decision_query_max_chars = 80;
// The decision's token cap without a brief: the JSON around a query is ~9 tokens, which
// leaves ~15 for the query (4-8 words is typical).
inline constexpr int decision_default_max_tokens = 24;

// GBNF for {"action":"answer"[,"brief":…]} or {"action":"search"|"read","query":…[,"brief":…]}:
// the query 1..80 characters, not starting with a space; the brief 0..brief_chars characters
// (no brief when brief_chars is 0; clamped to core::pipeline_settings::decision_brief_max_chars,
// the bound the configuration enforces); "read" only when
// `reading` (page reading is on). Sent as llama-server's `grammar` field.
const std::string& decision_grammar(int brief_chars = 0, bool reading = false);

// The cap for a configuration: `configured` when set (> 0), else the default plus room for a
// brief of `brief_chars` (about 3 characters a token).
int decision_max_tokens(int configured, int brief_chars);

// Never fails: anything unusable becomes {answer, "", "", usable=false}. A search or read
// without a query becomes an answer. Output that stops
// mid-JSON (the cap) is closed and read as far as it got.
decision parse_decision(std::string_view model_output);

}  // namespace openclawd::gateway
