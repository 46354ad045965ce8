#include "gateway/conversation_shape.hpp"

#include <algorithm>

namespace openclawd::gateway {
namespace {

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; });
}

// Between two texts that end up in one message: a blank line, as a person would write it.
void join(std::string& into, std::string_view more) {
  if (more.empty()) return;
  if (!into.empty()) into += "\n\n";
  into += more;
}

}  // namespace

std::string template_traits::summary() const {
  if (!probed) return "not probed";
  if (!refusal.empty()) return "refuses a plain exchange";
  std::string s = system_role ? (system_moves ? "system role (rendered late; folded into the first turn)"
                                              : "system role")
                              : "no system role";
  s += strict_alternation ? ", strict alternation" : ", lenient roles";
  if (thinking) s += ", thinking";
  return s;
}

std::vector<chat_message> shape_conversation(const conversation_parts& parts, const template_traits& traits) {
  std::string system(parts.system);
  if (!parts.summary.empty()) join(system, "Summary of the earlier conversation: " + std::string(parts.summary));

  // Turns, merged by role; blank ones (an empty answer an older version stored) are skipped.
  struct merged {
    shaped_role role;
    std::string content;
  };
  std::vector<merged> turns;
  turns.reserve(parts.turns.size() + 2);
  for (const auto& t : parts.turns) {
    if (blank(t.content)) continue;
    if (!turns.empty() && turns.back().role == t.role) {
      join(turns.back().content, t.content);
    } else {
      turns.push_back({t.role, std::string(t.content)});
    }
  }
  if (!turns.empty() && turns.front().role == shaped_role::assistant)
    turns.insert(turns.begin(), merged{shaped_role::user, std::string(continued_marker)});
  if (turns.empty() || turns.back().role == shaped_role::assistant) turns.push_back({shaped_role::user, {}});

  // The notes lead the newest message: the bytes before them are those of the previous request.
  if (!parts.notes.empty()) {
    auto& last = turns.back().content;
    std::string with_notes(parts.notes);
    join(with_notes, last);
    last = std::move(with_notes);
  }

  // Where the template would drop, refuse or move a system message, its text leads the first
  // user turn, which stays where it is from one request to the next.
  const bool system_message = traits.system_role && !traits.system_moves;
  if (!system_message && !system.empty()) {
    join(system, turns.front().content);
    turns.front().content = std::move(system);
    system.clear();
  }

  std::vector<chat_message> out;
  out.reserve(turns.size() + 1);
  if (!system.empty()) out.push_back({"system", std::move(system)});
  for (auto& t : turns) out.push_back({t.role == shaped_role::user ? "user" : "assistant", std::move(t.content)});
  return out;
}

}  // namespace openclawd::gateway
