#include "gateway/decision.hpp"

#include <nlohmann/json.hpp>

namespace openclawd::gateway {

const std::string& decision_schema() {
  static const std::string schema = nlohmann::json{
      {"type", "object"},
      {"properties",
       {{"action", {{"type", "string"}, {"enum", {"search", "answer"}}}},
        {"query", {{"type", "string"}, {"maxLength", decision_query_max_chars}}},
        {"brief", {{"type", "string"}, {"maxLength", decision_brief_max_chars}}}}},
      {"required", {"action", "query", "brief"}},
      {"additionalProperties", false}}.dump();
  return schema;
}

decision parse_decision(std::string_view model_output) {
  decision d;
  const auto j = nlohmann::json::parse(model_output, nullptr, false);
  if (!j.is_object() || !j.contains("action") || !j["action"].is_string()) {
    d.usable = false;
    return d;
  }
  const auto action = j["action"].get<std::string>();
  if (action != "search" && action != "answer") {
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
  d.brief = text("brief", decision_brief_max_chars);
  d.action = action == "search" ? decision::action_kind::search : decision::action_kind::answer;
  // A search without a query is an answer without search.
  if (d.action == decision::action_kind::search && d.query.find_first_not_of(" \t\n") == std::string::npos)
    d.action = decision::action_kind::answer;
  return d;
}

}  // namespace openclawd::gateway
