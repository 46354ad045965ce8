#include "gateway/decision.hpp"

#include "core/config.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <vector>

namespace openclawd::gateway {
namespace {

// Closes JSON that a token cap cut off: an open string is closed (a dangling escape dropped),
// then the object. A half-written key or value after the last comma is dropped instead when
// closing it does not parse. Returns the candidates to try, best first.
std::vector<std::string> closings(std::string_view s) {
  bool in_string = false, escape = false;
  std::size_t last_comma = std::string_view::npos;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (escape) escape = false;
      else if (c == '\\') escape = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == ',') {
      last_comma = i;
    }
  }
  std::string closed(s);
  if (escape) closed.pop_back();
  if (in_string) closed += '"';
  std::vector<std::string> out{closed + "}"};
  if (last_comma != std::string_view::npos) out.push_back(std::string(s.substr(0, last_comma)) + "}");
  return out;
}

}  // namespace

const std::string& decision_grammar(int brief_chars, bool reading) {
  static std::map<std::pair<int, bool>, std::string> grammars;  // one per configuration; the daemon has one
  brief_chars = std::clamp(brief_chars, 0, core::pipeline_settings::decision_brief_max_chars);
  auto& g = grammars[{brief_chars, reading}];
  if (g.empty()) {
    const std::string brief = brief_chars > 0 ? " brief?" : "";
    const std::string lookup = reading ? R"(( "\"search\"" | "\"read\"" ))" : R"("\"search\"")";
    g = R"(root ::= "{\"action\":" ( "\"answer\"")" + brief + " | " + lookup + R"( ",\"query\":" query)" + brief +
        " ) \"}\"\n";
    // JSON string characters, as llama.cpp's schema grammar spells them. A query does not start
    // with a space (a blank query would be an answer that cost more tokens) and needs no escape
    // but a quote, a backslash or a slash.
    g += R"(query ::= "\"" qfirst qchar{0,)" + std::to_string(decision_query_max_chars - 1) + R"(} "\"")" "\n";
    g += R"(qfirst ::= [^"\\\x00-\x20\x7F] | "\\" ["\\/])" "\n";
    g += R"(qchar ::= [^"\\\x00-\x1F\x7F] | "\\" ["\\/])" "\n";
    if (brief_chars > 0) {
      g += R"(brief ::= ",\"brief\":\"" char{0,)" + std::to_string(brief_chars) + R"(} "\"")" "\n";
      g += R"(char ::= [^"\\\x00-\x1F\x7F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}))" "\n";
    }
  }
  return g;
}

int decision_max_tokens(int configured, int brief_chars) {
  if (configured > 0) return configured;
  return decision_default_max_tokens + (brief_chars > 0 ? brief_chars / 3 + 4 : 0);
}

decision parse_decision(std::string_view model_output) {
  decision d;
  auto j = nlohmann::json::parse(model_output, nullptr, false);
  if (j.is_discarded()) {
    for (const auto& attempt : closings(model_output)) {
      j = nlohmann::json::parse(attempt, nullptr, false);
      if (!j.is_discarded()) {
        d.truncated = true;
        break;
      }
    }
  }
  if (!j.is_object() || !j.contains("action") || !j["action"].is_string()) {
    d.usable = false;
    return d;
  }
  const auto action = j["action"].get<std::string>();
  if (action != "search" && action != "answer" && action != "read") {
    d.usable = false;
    return d;
  }
  auto text = [&](const char* key, std::size_t cap) {
    if (!j.contains(key) || !j[key].is_string()) return std::string();
    auto s = j[key].get<std::string>();
    if (s.size() > cap * 4) s.resize(cap * 4);  // the schema caps characters; be safe on bytes
    return s;
  };
  d.query = text("query", decision_query_max_chars);
  d.brief = text("brief", 1000);
  d.action = action == "search" ? decision::action_kind::search
             : action == "read"  ? decision::action_kind::read
                                 : decision::action_kind::answer;
  // A search without a query is an answer without search.
  if (d.action != decision::action_kind::answer && d.query.find_first_not_of(" \t\n") == std::string::npos)
    d.action = decision::action_kind::answer;
  return d;
}

}  // namespace openclawd::gateway
