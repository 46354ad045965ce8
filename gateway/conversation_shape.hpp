// How a conversation becomes the `messages` of a chat request, for what a node's chat template
// accepts. The one place that answers "why did the model see this?".
//
// Real chat templates decide which requests are legal (docs/pipeline.md, "Chat templates"):
// Gemma 2 refuses any system message; Gemma 3 and Mistral accept one leading system message
// and then strictly user, assistant, user, ...; Mistral Nemo renders the system text inside
// the *last* user turn, so it moves with every message. Whatever the store holds (a message
// that never got an answer, a history that starts with the assistant after a compaction, an
// empty turn from an older version), the shaper emits:
//
//   [system]? user assistant user ... user
//
// - at most one system message, first: the fixed prompt and the running summary (they change
//   only at a compaction, so the prompt stays append-only and its cache survives). Where the
//   template has no system role, or moves it, the same text leads the first user turn instead;
// - consecutive turns of one role merged into one (a message that got no answer is read with
//   the next one, never sent as two user turns in a row);
// - a synthetic first user turn when the kept history starts with the assistant;
// - the notes for the newest message (the orchestrator's brief, search results) in the last
//   user turn, before the message itself, so that everything before it is the same bytes the
//   previous request sent.
// Pure functions, no I/O.
#pragma once

#include "gateway/llm_client.hpp"

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace openclawd::gateway {

// What a node's chat template accepts, learned when the node becomes ready
// (gateway/template_probe.hpp). The defaults are what the strictest common template (Gemma 3)
// still accepts, so an unprobed node gets requests every template takes.
struct template_traits {
  bool probed = false;
  bool system_role = true;          // a leading system message is rendered (not refused, not dropped)
  bool system_moves = false;        // the system text is rendered after earlier turns (Mistral Nemo)
  bool strict_alternation = true;   // two user turns in a row are refused
  bool thinking = false;            // `enable_thinking` changes the rendering (Qwen3, Gemma 4)
  // "plain exchange refused: <the template's error>", when even user/assistant/user fails.
  std::string refusal;

  bool usable() const { return refusal.empty(); }
  // For status and doctor: "system role, strict alternation, thinking".
  std::string summary() const;
};

enum class shaped_role { user, assistant };

struct shaped_turn {
  shaped_role role = shaped_role::user;
  std::string_view content;
};

struct conversation_parts {
  std::string_view system;   // the fixed prompt; never empty in practice
  std::string_view summary;  // the running summary of folded turns; may be empty
  std::span<const shaped_turn> turns;  // oldest first; the newest is the user's message
  std::string_view notes;    // for the newest message only (brief, search results); may be empty
};

// The request's messages. Never returns two messages of one role in a row, never an assistant
// first (after the optional system message), and always ends with a user message (one with
// only the notes, if `turns` is empty or ends with the assistant).
std::vector<chat_message> shape_conversation(const conversation_parts& parts, const template_traits& traits);

// The text that stands for the turns before a history that starts with the assistant.
inline constexpr std::string_view continued_marker = "(The conversation continues from earlier messages.)";

}  // namespace openclawd::gateway
