#include "gateway/telegram/bot_api.hpp"

#include <algorithm>
#include <charconv>

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

std::optional<user> decode_user(const json& j) {
  if (!j.is_object() || !j.contains("id") || !j["id"].is_number_integer()) return std::nullopt;
  user u;
  u.id = j["id"].get<std::int64_t>();
  u.is_bot = j.value("is_bot", false);
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
      me.offset = static_cast<int>(std::clamp<std::int64_t>(int_field(item, "offset"), 0, 1 << 20));
      me.length = static_cast<int>(std::clamp<std::int64_t>(int_field(item, "length"), 0, 1 << 20));
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
    auto u = decode_update(item);
    if (u) out.updates.push_back(std::move(*u));
    else ++out.undecodable;
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
  e.error_code = j.contains("error_code") && j["error_code"].is_number_integer() ? j["error_code"].get<int>()
                                                                                 : static_cast<int>(status);
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

bot_api::bot_api(net::https_client http, std::string api_base, std::string token)
    : http_(std::move(http)), base_(std::move(api_base)), token_(std::move(token)) {
  while (base_.ends_with('/')) base_.pop_back();
}

std::string bot_api::redacted_token() const {
  const auto colon = token_.find(':');
  return (colon == std::string::npos ? std::string("?") : token_.substr(0, colon)) + ":***";
}

asio::awaitable<api_result<json>> bot_api::call(std::string method, json params, std::chrono::milliseconds timeout) {
  net::https_request req;
  req.method = http::verb::post;
  req.url = base_ + "/bot" + token_ + "/" + method;
  req.headers = {{"Content-Type", "application/json"}};
  req.body = params.dump(-1, ' ', false, json::error_handler_t::replace);
  net::https_options opt;
  opt.timeouts.total = timeout;
  opt.timeouts.read = timeout;
  opt.body_limit = 8 * 1024 * 1024;  // 100 updates of long messages
  bool written = false;
  opt.request_written = &written;
  auto r = co_await http_.request(std::move(req), opt);
  if (!r) {
    api_error e;
    e.what = api_error::kind::transport;
    e.transport_error = r.error();
    e.ambiguous = written;
    co_return e;
  }
  co_return decode_response(r->status, r->body, r->header("Retry-After"));
}

}  // namespace openclawd::gateway::telegram
