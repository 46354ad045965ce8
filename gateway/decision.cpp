#include "gateway/decision.hpp"

#include <nlohmann/json.hpp>

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

const std::string& decision_schema(int brief_chars, bool reading) {
  static std::map<std::pair<int, bool>, std::string> schemas;  // one per configuration; the daemon has one
  auto& schema = schemas[{brief_chars, reading}];
  if (schema.empty()) {
    const auto actions = reading ? nlohmann::json{"answer", "search", "read"} : nlohmann::json{"answer", "search"};
    nlohmann::json properties{{"action", {{"type", "string"}, {"enum", actions}}},
                              {"query", {{"type", "string"}, {"maxLength", decision_query_max_chars}}}};
    if (brief_chars > 0) properties["brief"] = {{"type", "string"}, {"maxLength", brief_chars}};
    schema = nlohmann::json{{"type", "object"},
                            {"properties", std::move(properties)},
                            {"required", {"action"}},
                            {"additionalProperties", false}}
                 .dump();
  }
  return schema;
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
