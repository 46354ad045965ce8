// The pure half of the Bot API (updates.hpp): the envelope and Update decoders, compiled both
// into the gateway and, alone, into the libFuzzer target that feeds them hostile bodies.
#include "gateway/telegram/updates.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <utility>
#include <vector>

namespace openclawd::gateway::telegram {
namespace {

using nlohmann::json;

// The fields of Message that carry something other than text, in the order a message is
// most likely to have them; the first one present names the message's kind.
constexpr std::string_view content_kinds[] = {
    "photo", "sticker", "document", "voice", "video", "video_note", "audio", "animation", "contact",
    "location", "venue", "poll", "dice", "game", "story", "new_chat_members", "left_chat_member",
    "new_chat_title", "new_chat_photo", "pinned_message", "migrate_to_chat_id", "migrate_from_chat_id",
};

// Every field is read through these: a field of the wrong type is read as absent. Never
// json::value() or get<T>() on an unchecked value, which throw type_error on a wrong type.
std::int64_t int_field(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return 0;
  return it->get<std::int64_t>();
}

std::string string_field(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

bool bool_field(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

// An integer that fits an int (error codes): a wider one would be truncated into another code.
std::optional<int> small_int_field(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  if (it->is_number_unsigned()) {
    const auto v = it->get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) return std::nullopt;
    return static_cast<int>(v);
  }
  if (!it->is_number_integer()) return std::nullopt;
  const auto v = it->get<std::int64_t>();
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) return std::nullopt;
  return static_cast<int>(v);
}

// `raw` is written by json::dump(), which recurses once per level: an update nested a million
// deep (a 2 MB body; a getUpdates body may have 8) would overflow the stack. Real updates nest
// a few levels (the recorded ones 5: update, message, reply_to_message, entities, entity), so
// 64 rejects nothing Telegram sends.
constexpr std::size_t max_update_depth = 64;

bool nested_deeper_than(const json& j, std::size_t limit) {
  // Iterative, for the same reason; only containers are pushed, so the stack stays small.
  std::vector<std::pair<const json*, std::size_t>> todo;
  if (j.is_structured()) todo.emplace_back(&j, 1);
  while (!todo.empty()) {
    const auto [node, depth] = todo.back();
    todo.pop_back();
    if (depth > limit) return true;
    for (const auto& child : *node) {
      if (child.is_structured()) todo.emplace_back(&child, depth + 1);
    }
  }
  return false;
}

std::optional<user> decode_user(const json& j) {
  if (!j.is_object() || !j.contains("id") || !j["id"].is_number_integer()) return std::nullopt;
  user u;
  u.id = j["id"].get<std::int64_t>();
  u.is_bot = bool_field(j, "is_bot");
  u.first_name = string_field(j, "first_name");
  u.username = string_field(j, "username");
  return u;
}

std::optional<message> decode_message(const json& j) {
  if (!j.is_object()) return std::nullopt;
  const auto chat = j.find("chat");
  if (chat == j.end() || !chat->is_object() || !chat->contains("id") || !(*chat)["id"].is_number_integer())
    return std::nullopt;
  message m;
  m.message_id = int_field(j, "message_id");
  m.chat_id = (*chat)["id"].get<std::int64_t>();
  m.chat_type = string_field(*chat, "type");
  if (const auto f = j.find("from"); f != j.end()) m.from = decode_user(*f);
  m.date = int_field(j, "date");
  if (const auto t = j.find("text"); t != j.end() && t->is_string()) {
    m.text = t->get<std::string>();
    m.kind = "text";
  } else {
    m.kind = "other";
    for (const auto k : content_kinds) {
      if (j.contains(std::string(k))) {
        m.kind = std::string(k);
        break;
      }
    }
  }
  if (const auto e = j.find("entities"); e != j.end() && e->is_array()) {
    for (const auto& item : *e) {
      if (!item.is_object()) continue;
      message_entity me;
      me.type = string_field(item, "type");
      me.offset = static_cast<int>(std::clamp<std::int64_t>(int_field(item, "offset"), 0, max_entity_units));
      me.length = static_cast<int>(std::clamp<std::int64_t>(int_field(item, "length"), 0, max_entity_units));
      m.entities.push_back(std::move(me));
    }
  }
  if (const auto r = j.find("reply_to_message"); r != j.end() && r->is_object()) {
    if (const auto f = r->find("from"); f != r->end()) {
      if (auto u = decode_user(*f)) m.reply_to_from_id = u->id;
    }
  }
  return m;
}

}  // namespace

result<update> decode_update(const json& j) {
  if (!j.is_object()) return make_error_code(errc::upstream_http_error);
  const auto id = j.find("update_id");
  if (id == j.end() || !id->is_number_integer()) return make_error_code(errc::upstream_http_error);
  // Malformed, like any other bad update: decode_updates() counts it and still confirms its id.
  if (nested_deeper_than(j, max_update_depth)) return make_error_code(errc::upstream_http_error);
  update u;
  u.update_id = id->get<std::int64_t>();
  // "At most one of the optional parameters can be present in any given update."
  for (const auto& [key, value] : j.items()) {
    if (key == "update_id") continue;
    u.type = key;
    if (key == "message" || key == "edited_message") {
      u.msg = decode_message(value);
      if (!u.msg) return make_error_code(errc::upstream_http_error);
    }
    break;
  }
  u.raw = j.dump();
  return u;
}

result<update> parse_update(std::string_view json_text) {
  json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded()) return make_error_code(errc::upstream_http_error);
  return decode_update(j);
}

result<updates_batch> decode_updates(const json& result) {
  if (!result.is_array()) return make_error_code(errc::upstream_http_error);
  updates_batch out;
  for (const auto& item : result) {
    if (item.is_object()) {
      if (const auto id = item.find("update_id"); id != item.end() && id->is_number_integer())
        out.max_update_id = std::max(out.max_update_id, id->get<std::int64_t>());
    }
    // decode_update() does not throw for any input the fuzzer has found (fuzz_telegram_updates
    // calls it directly, without this net). The net is for what it has not found: an exception
    // here would stop the polling loop, and the unconfirmed update would stop it again after
    // every restart. One bad update is better counted and confirmed.
    try {
      auto u = decode_update(item);
      if (u) out.updates.push_back(std::move(*u));
      else ++out.undecodable;
    } catch (const std::exception&) {
      ++out.undecodable;
    }
  }
  return out;
}

std::string api_error::to_string() const {
  switch (what) {
    case kind::transport:
      return std::string(ambiguous ? "no answer after the request was sent" : "request failed") + ": " +
             transport_error.message();
    case kind::http: return "HTTP " + std::to_string(status) + " without a Bot API answer";
    case kind::api: {
      std::string s = std::to_string(error_code) + " " + description;
      if (retry_after) s += " (retry after " + std::to_string(retry_after->count()) + " s)";
      return s;
    }
    case kind::decode: return "unexpected answer: " + description;
  }
  return "error";
}

bool api_error::description_has(std::string_view s) const {
  std::string lower = description;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower.find(s) != std::string::npos;
}

api_result<json> decode_response(unsigned status, std::string_view body, std::optional<std::string_view> retry_after_header) {
  api_error e;
  e.status = static_cast<int>(status);
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok") || !j["ok"].is_boolean()) {
    e.what = status >= 200 && status < 300 ? api_error::kind::decode : api_error::kind::http;
    e.description = "not a Bot API envelope";
    if (status == 429 && retry_after_header) {
      int secs = 0;
      if (std::from_chars(retry_after_header->data(), retry_after_header->data() + retry_after_header->size(), secs).ec ==
          std::errc{})
        e.retry_after = std::chrono::seconds(std::clamp(secs, 0, 3600));
    }
    return e;
  }
  if (j["ok"].get<bool>()) {
    if (!j.contains("result")) {
      e.what = api_error::kind::decode;
      e.description = "ok without result";
      return e;
    }
    return api_result<json>(boost::system::in_place_value, std::move(j["result"]));
  }
  e.what = api_error::kind::api;
  e.error_code = small_int_field(j, "error_code").value_or(static_cast<int>(status));
  e.description = string_field(j, "description");
  if (const auto p = j.find("parameters"); p != j.end() && p->is_object()) {
    if (const auto r = p->find("retry_after"); r != p->end() && r->is_number_integer())
      e.retry_after = std::chrono::seconds(std::clamp<std::int64_t>(r->get<std::int64_t>(), 0, 3600));
    if (const auto m = p->find("migrate_to_chat_id"); m != p->end() && m->is_number_integer())
      e.migrate_to_chat_id = m->get<std::int64_t>();
  }
  if (!e.retry_after && status == 429 && retry_after_header) {
    int secs = 0;
    if (std::from_chars(retry_after_header->data(), retry_after_header->data() + retry_after_header->size(), secs).ec ==
        std::errc{})
      e.retry_after = std::chrono::seconds(std::clamp(secs, 0, 3600));
  }
  return e;
}

}  // namespace openclawd::gateway::telegram
