// libFuzzer target: the Telegram update decoder (gateway/telegram/updates.hpp). A getUpdates
// body is read by the polling loop, and every update it decodes is stored and later parsed
// again from the inbox, so for any body:
//   - decode_response(), decode_update(), parse_update() never throw (decode_updates() has a
//     last-resort catch, because an escaping exception would stop the channel, and the
//     unconfirmed update would stop it again after a restart; this target calls
//     decode_update() without it);
//   - an error has a non-empty to_string(), and a retry_after within [0, 3600] s; its
//     error_code is the envelope's when that fits an int, else the HTTP status (never a
//     truncated code that reads as another one, such as 2^32 + 429);
//   - decode_updates() of an array accounts for every element (decoded + undecodable), and
//     max_update_id is at least the update_id of every element that has one, so the next
//     offset confirms them all;
//   - parse_update(raw) of a decoded update gives the same update (id, type, chat, text,
//     kind, sender, entities), and raw is a fixed point (the inbox round trip is stable);
//   - entity offsets and lengths are within [0, max_entity_units].
// The body is the whole input, so a seed that is a recorded body is read as one. It is decoded
// as an HTTP 200; a second decode takes a status and a Retry-After header from the end of the
// input (FuzzedDataProvider), for the error paths.
// Byte mutations seldom turn a valid field into a valid field of another type, which is what
// trips a JSON decoder (`"is_bot": false` → `"is_bot": "no"`), so a custom mutator half the time
// replaces one value of a JSON input with a value of another type.
#include "fuzz/fuzz_support.hpp"
#include "gateway/telegram/updates.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tg = openclawd::gateway::telegram;
using nlohmann::json;

namespace {

void check_entities(const tg::message& m) {
  for (const auto& e : m.entities) {
    FUZZ_CHECK(e.offset >= 0 && e.offset <= tg::max_entity_units);
    FUZZ_CHECK(e.length >= 0 && e.length <= tg::max_entity_units);
  }
}

bool same_user(const std::optional<tg::user>& a, const std::optional<tg::user>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return a->id == b->id && a->is_bot == b->is_bot && a->first_name == b->first_name && a->username == b->username;
}

bool same_message(const tg::message& a, const tg::message& b) {
  if (a.entities.size() != b.entities.size()) return false;
  for (std::size_t i = 0; i < a.entities.size(); ++i) {
    const auto &x = a.entities[i], &y = b.entities[i];
    if (x.type != y.type || x.offset != y.offset || x.length != y.length) return false;
  }
  return a.message_id == b.message_id && a.chat_id == b.chat_id && a.chat_type == b.chat_type &&
         same_user(a.from, b.from) && a.date == b.date && a.text == b.text && a.kind == b.kind &&
         a.reply_to_from_id == b.reply_to_from_id;
}

// A decoded update against what the inbox will read back from its raw JSON.
void check_round_trip(const tg::update& u) {
  FUZZ_CHECK(!u.raw.empty());
  if (u.msg) check_entities(*u.msg);
  const auto again = tg::parse_update(u.raw);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->update_id == u.update_id);
  FUZZ_CHECK(again->type == u.type);
  FUZZ_CHECK(again->msg.has_value() == u.msg.has_value());
  if (u.msg) FUZZ_CHECK(same_message(*again->msg, *u.msg));
  FUZZ_CHECK(again->raw == u.raw);
}

void check_error(const tg::api_error& e, unsigned status, std::string_view body) {
  FUZZ_CHECK(!e.to_string().empty());
  if (e.what == tg::api_error::kind::api) {
    const json j = json::parse(body, nullptr, false);
    FUZZ_CHECK(j.is_object());
    const auto code = j.find("error_code");
    const bool fits = code != j.end() &&
                      ((code->is_number_unsigned() && code->get<std::uint64_t>() <= INT32_MAX) ||
                       (code->is_number_integer() && !code->is_number_unsigned() &&
                        code->get<std::int64_t>() >= INT32_MIN && code->get<std::int64_t>() <= INT32_MAX));
    FUZZ_CHECK(e.error_code == (fits ? code->get<std::int64_t>() : static_cast<int>(status)));
  }
  if (e.retry_after) FUZZ_CHECK(e.retry_after->count() >= 0 && e.retry_after->count() <= 3600);
  FUZZ_CHECK(e.what != tg::api_error::kind::transport);  // only bot_api::call() reports those
  FUZZ_CHECK(e.status == static_cast<int>(status));
  (void)e.description_has("too many requests");
  (void)e.description_has("");
}

void check_batch(const json& result) {
  const auto batch = tg::decode_updates(result);
  if (!result.is_array()) {
    FUZZ_CHECK(!batch.has_value());
    return;
  }
  FUZZ_CHECK(batch.has_value());
  FUZZ_CHECK(batch->undecodable >= 0);
  FUZZ_CHECK(batch->updates.size() + static_cast<std::size_t>(batch->undecodable) == result.size());
  FUZZ_CHECK(batch->max_update_id >= 0);
  // Every element with a readable update_id is confirmed by the next offset, decodable or not.
  for (const auto& item : result) {
    if (!item.is_object()) continue;
    const auto id = item.find("update_id");
    if (id != item.end() && id->is_number_integer()) FUZZ_CHECK(batch->max_update_id >= id->get<std::int64_t>());
  }
  for (const auto& u : batch->updates) {
    FUZZ_CHECK(batch->max_update_id >= u.update_id);
    check_round_trip(u);
  }
  // decode_updates() catches what decode_update() throws, as a last net for the polling loop:
  // call it directly, so that a throw still ends the run here.
  std::size_t decoded = 0;
  for (const auto& item : result) decoded += tg::decode_update(item).has_value() ? 1 : 0;
  FUZZ_CHECK(decoded == batch->updates.size());
}

// One decode of the body as the answer to an HTTP request with `status`. The updates are
// checked once, for 200; the other statuses are there for the error paths.
void decode_body(unsigned status, std::string_view body, std::optional<std::string_view> retry_after) {
  auto r = tg::decode_response(status, body, retry_after);
  if (!r) {
    check_error(r.error(), status, body);
  } else if (status == 200) {
    check_batch(*r);
  }
}

void run(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  decode_body(200, body, std::nullopt);

  // The same body as a single Update (what the inbox stores): shorter inputs reach the
  // message decoder without the envelope around them.
  if (const auto u = tg::parse_update(body)) check_round_trip(*u);

  FuzzedDataProvider in(data, size);
  const unsigned statuses[] = {200, 429, 409, 401, 502, 204};
  const auto pick = in.ConsumeIntegralInRange<unsigned>(0, 7);
  const unsigned status = pick < 6 ? statuses[pick] : in.ConsumeIntegralInRange<unsigned>(0, 999);
  std::string header;
  std::optional<std::string_view> retry_after;
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: break;  // no Retry-After
    case 1: header = std::to_string(in.ConsumeIntegral<std::int64_t>()); retry_after = header; break;
    case 2: header = " 5"; retry_after = header; break;  // from_chars takes no leading space
    default: header = "99999999999999999999"; retry_after = header; break;  // out of range
  }
  if (status != 200 || retry_after) decode_body(status, body, retry_after);
}

// A value of some JSON type, including the integers at the edges of int64 and uint64.
json random_value(std::minstd_rand& rng) {
  switch (rng() % 12) {
    case 0: return nullptr;
    case 1: return true;
    case 2: return false;
    case 3: return 0;
    case 4: return -1;
    case 5: return INT64_MIN;
    case 6: return UINT64_MAX;
    case 7: return 1e300;
    case 8: return "x";
    case 9: return json::array();
    case 10: return json::object();
    default: return json::array({json::object()});
  }
}

// Replaces one value (any node but the root) of a JSON input with random_value(). The walk is
// iterative and gives up on deep nesting: the mutator must not overflow the stack itself.
std::optional<std::string> replace_one_value(std::string_view input, std::minstd_rand& rng) {
  json root = json::parse(input, nullptr, false);
  if (root.is_discarded() || !root.is_structured()) return std::nullopt;
  std::vector<json*> values;
  std::vector<std::pair<json*, int>> todo{{&root, 0}};
  while (!todo.empty()) {
    auto [node, depth] = todo.back();
    todo.pop_back();
    if (depth > 200) return std::nullopt;
    if (node != &root) values.push_back(node);
    if (node->is_structured()) {
      for (auto& child : *node) todo.emplace_back(&child, depth + 1);
    }
  }
  if (values.empty()) return std::nullopt;
  *values[rng() % values.size()] = random_value(rng);
  return root.dump();
}

}  // namespace

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);

extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size,
                                               unsigned seed) {
  std::minstd_rand rng(seed);
  if (rng() % 2 == 0) {
    const auto mutated =
        replace_one_value(std::string_view(reinterpret_cast<const char*>(data), size), rng);
    if (mutated && mutated->size() <= max_size) {
      std::memcpy(data, mutated->data(), mutated->size());
      return mutated->size();
    }
  }
  return LLVMFuzzerMutate(data, size, max_size);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    run(data, size);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "exception escaped the decoder: %s\n", e.what());
    FUZZ_CHECK(!"no exception escapes the decoder");
  }
  return 0;
}
