// The fake Telegram Bot API server (see the header). Where the real server's behaviour is
// known, the code says where from: BOTAPI-SRV is tdlib/telegram-bot-api, TDLIB is tdlib/td
// (both cited in shared/docs/telegram-ddg.md). Where it is a guess, the comment says so.
//
// Threads: the fake's io_context runs on its own thread; the test thread calls the public
// members. `mutex` guards every field below it in `impl`; io objects (sockets, timers) are
// touched only on the fake's thread, so the test thread wakes a held poll by posting.
#include "tests/support/fake_telegram.hpp"

#include "net/asio.hpp"  // the namespace aliases only; no openclawd code is used here

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace openclawd::test {

namespace {

using json = nlohmann::json;
// Answers are built with ordered_json so that fields come in the order the real server
// writes them (message_id, from, chat, date, text, entities): a client must not depend on
// it, and a fixture diff stays readable.
using ojson = nlohmann::ordered_json;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

// ---- text ---------------------------------------------------------------------------------

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0u) != 0x80u) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// UTF-16 code units of valid UTF-8: one per code point, two above U+FFFF (4-byte sequences).
std::size_t utf16_length(std::string_view s) {
  std::size_t n = 0;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c & 0xC0u) != 0x80u) n += c >= 0xF0 ? 2 : 1;
  }
  return n;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoded; a malformed escape is kept as written.
std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

// ---- parameters ---------------------------------------------------------------------------
// The real server takes every parameter as a string: from the query, a form, or a JSON body
// (where non-string values stand for their JSON text). These readers accept both forms.

// "a=1&b=x+y" into `into` (string values). False if a name or value is not UTF-8.
bool parse_form(std::string_view s, json& into) {
  while (!s.empty()) {
    const auto amp = s.find('&');
    const auto field = s.substr(0, amp);
    s = amp == std::string_view::npos ? std::string_view{} : s.substr(amp + 1);
    if (field.empty()) continue;
    const auto eq = field.find('=');
    std::string name = percent_decode(field.substr(0, eq), true);
    std::string value = eq == std::string_view::npos ? std::string{} : percent_decode(field.substr(eq + 1), true);
    if (!valid_utf8(name) || !valid_utf8(value)) return false;
    into[name] = std::move(value);
  }
  return true;
}

std::optional<std::string> str_arg(const json& p, const char* name) {
  const auto it = p.find(name);
  if (it == p.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::optional<std::int64_t> int_arg(const json& p, const char* name) {
  const auto it = p.find(name);
  if (it == p.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (!it->is_string()) return std::nullopt;
  const auto& s = it->get_ref<const std::string&>();
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

bool bool_arg(const json& p, const char* name) {
  const auto it = p.find(name);
  if (it == p.end()) return false;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_number_integer()) return it->get<std::int64_t>() != 0;
  if (it->is_string()) {
    const auto v = to_lower(it->get<std::string>());
    return v == "true" || v == "1";
  }
  return false;
}

// An object or array parameter, sent as JSON or as JSON text in a string.
std::optional<json> json_arg(const json& p, const char* name) {
  const auto it = p.find(name);
  if (it == p.end() || it->is_null()) return std::nullopt;
  if (it->is_object() || it->is_array()) return *it;
  if (!it->is_string()) return std::nullopt;
  auto parsed = json::parse(it->get<std::string>(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::nullopt;
  return parsed;
}

// ---- HTML entities, as TDLib parses them --------------------------------------------------
// Written from TDLib's behaviour (td/telegram/MessageEntity.cpp, parse_html and
// decode_html_entity) so that errors carry its wording and its UTF-8 byte offsets. Things worth
// knowing: a '&' that does not start a known entity is kept as text (the docs ask for &amp;,
// the parser does not insist); '>' is plain text; '<' always starts a tag.

struct parsed_text {
  std::string error;  // TDLib's message; empty on success
  std::string text;   // visible text
  ojson entities = ojson::array();
};

// At s[pos] == '&': the code point of a supported entity, with pos moved past it; 0 (and pos
// unchanged) if this is not one. Named: lt gt amp quot. Numeric: &#N; and &#xH; (';' optional).
std::uint32_t decode_html_entity(std::string_view s, std::size_t& pos) {
  auto at = [&](std::size_t i) -> char { return i < s.size() ? s[i] : '\0'; };
  std::size_t end = pos + 1;
  std::uint32_t code = 0;
  if (at(end) == '#') {
    ++end;
    if (at(end) == 'x') {
      ++end;
      while (hex_value(at(end)) >= 0) code = code * 16 + static_cast<std::uint32_t>(hex_value(at(end++)));
    } else {
      while (at(end) >= '0' && at(end) <= '9') code = code * 10 + static_cast<std::uint32_t>(at(end++) - '0');
    }
    if (code == 0 || code >= 0x10FFFF || end - pos >= 10) return 0;
  } else {
    while ((at(end) >= 'a' && at(end) <= 'z') || (at(end) >= 'A' && at(end) <= 'Z')) ++end;
    const auto name = s.substr(pos + 1, end - pos - 1);
    if (name == "lt") {
      code = '<';
    } else if (name == "gt") {
      code = '>';
    } else if (name == "amp") {
      code = '&';
    } else if (name == "quot") {
      code = '"';
    } else {
      return 0;
    }
  }
  pos = at(end) == ';' ? end + 1 : end;
  return code;
}

bool html_space(char c) {  // TDLib's is_space: the end of the text counts as a space
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0' || c == '\v' || c == '\f';
}

bool html_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

parsed_text parse_html(std::string_view s) {
  parsed_text out;
  auto at = [&](std::size_t i) -> char { return i < s.size() ? s[i] : '\0'; };
  auto fail = [&](std::string message) {
    out.error = std::move(message);
    return out;
  };
  struct open_tag {
    std::string name;
    std::string argument;
    std::int64_t utf16_offset;
    std::size_t text_offset;
  };
  std::vector<open_tag> open;
  std::vector<ojson> entities;
  std::int64_t utf16 = 0;
  bool recheck_utf8 = false;  // a numeric entity produced half of a surrogate pair

  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '&') {
      std::size_t pos = i;
      const std::uint32_t code = decode_html_entity(s, pos);
      if (code != 0) {
        utf16 += code > 0xFFFF ? 2 : 1;
        if (code >= 0xD800 && code <= 0xDFFF) recheck_utf8 = true;
        append_utf8(out.text, code);
        i = pos - 1;
        continue;
      }
    }
    if (c != '<') {
      if ((c & 0xC0u) != 0x80u) utf16 += c >= 0xF0 ? 2 : 1;
      out.text += static_cast<char>(c);
      continue;
    }

    const std::size_t begin = i++;
    const std::string at_offset = " at byte offset " + std::to_string(begin);
    if (at(i) != '/') {
      while (!html_space(at(i)) && at(i) != '>') ++i;
      if (at(i) == '\0') return fail("Unclosed start tag" + at_offset);
      std::string tag = to_lower(s.substr(begin + 1, i - begin - 1));
      static const char* const allowed[] = {"a",   "b",   "strong", "i",          "em",       "s",    "strike", "del",
                                            "u",   "ins", "tg-spoiler", "tg-emoji", "span", "pre",  "code",   "blockquote"};
      if (std::none_of(std::begin(allowed), std::end(allowed), [&](const char* a) { return tag == a; })) {
        return fail("Unsupported start tag \"" + tag + "\"" + at_offset);
      }
      std::string argument;
      while (at(i) != '>') {
        while (at(i) != '\0' && html_space(at(i))) ++i;
        if (at(i) == '>') break;
        const std::size_t name_begin = i;
        while (!html_space(at(i)) && at(i) != '=' && at(i) != '>') ++i;
        const std::string attribute = std::string(s.substr(name_begin, i - name_begin));
        if (attribute.empty()) return fail("Empty attribute name in the tag \"" + tag + "\"" + at_offset);
        while (at(i) != '\0' && html_space(at(i))) ++i;
        if (at(i) != '=') {
          // <blockquote expandable> is the one attribute without a value (Bot API 7.3).
          if (tag == "blockquote" && attribute == "expandable") {
            argument = "1";
            continue;
          }
          return fail("Expected equal sign in declaration of an attribute of the tag \"" + tag + "\"" + at_offset);
        }
        ++i;
        while (at(i) != '\0' && html_space(at(i))) ++i;
        if (at(i) == '\0') return fail("Unclosed start tag \"" + tag + "\"" + at_offset);
        std::string value;
        if (at(i) != '\'' && at(i) != '"') {
          const std::size_t token_begin = i;
          while (html_alnum(at(i)) || at(i) == '.' || at(i) == '-') ++i;
          value = to_lower(s.substr(token_begin, i - token_begin));
          if (!html_space(at(i)) && at(i) != '>') {
            return fail("Unexpected end of name token at byte offset " + std::to_string(token_begin));
          }
        } else {
          const char quote = at(i++);
          while (at(i) != quote && at(i) != '\0') {
            if (at(i) == '&') {
              std::size_t pos = i;
              const std::uint32_t code = decode_html_entity(s, pos);
              if (code != 0) {
                append_utf8(value, code);
                i = pos;
                continue;
              }
            }
            value += at(i++);
          }
          if (at(i) == quote) ++i;
        }
        if (at(i) == '\0') return fail("Unclosed start tag" + at_offset);
        if (tag == "a" && attribute == "href") {
          argument = value;
        } else if (tag == "code" && attribute == "class" && starts_with(value, "language-")) {
          argument = value.substr(9);
        } else if (tag == "span" && attribute == "class" && starts_with(value, "tg-")) {
          argument = value.substr(3);
        } else if (tag == "tg-emoji" && attribute == "emoji-id") {
          argument = value;
        }
      }
      if (tag == "span" && argument != "spoiler") {
        return fail("Tag \"span\" must have class \"tg-spoiler\"" + at_offset);
      }
      open.push_back({std::move(tag), std::move(argument), utf16, out.text.size()});
      continue;  // i is at '>'
    }

    if (open.empty()) return fail("Unexpected end tag" + at_offset);
    while (!html_space(at(i)) && at(i) != '>') ++i;
    const std::string end_tag = to_lower(s.substr(begin + 2, i - begin - 2));
    while (html_space(at(i)) && at(i) != '\0') ++i;
    if (at(i) != '>') return fail("Unclosed end tag" + at_offset);
    const open_tag& top = open.back();
    if (!end_tag.empty() && end_tag != top.name) {
      return fail("Unmatched end tag" + at_offset + ", expected \"</" + top.name + ">\", found \"</" + end_tag + ">\"");
    }
    if (utf16 > top.utf16_offset) {
      ojson e;
      e["offset"] = top.utf16_offset;
      e["length"] = utf16 - top.utf16_offset;
      const std::string& t = top.name;
      if (t == "b" || t == "strong") {
        e["type"] = "bold";
      } else if (t == "i" || t == "em") {
        e["type"] = "italic";
      } else if (t == "u" || t == "ins") {
        e["type"] = "underline";
      } else if (t == "s" || t == "strike" || t == "del") {
        e["type"] = "strikethrough";
      } else if (t == "tg-spoiler" || t == "span") {
        e["type"] = "spoiler";
      } else if (t == "blockquote") {
        e["type"] = top.argument.empty() ? "blockquote" : "expandable_blockquote";
      } else if (t == "tg-emoji") {
        std::int64_t id = 0;
        const auto& a = top.argument;
        const auto [end, ec] = std::from_chars(a.data(), a.data() + a.size(), id);
        if (a.empty() || ec != std::errc{} || end != a.data() + a.size() || id == 0) {
          return fail("Invalid custom emoji identifier specified");
        }
        e["type"] = "custom_emoji";
        e["custom_emoji_id"] = a;
      } else if (t == "a") {
        // An empty href makes the link text the URL. TDLib also drops invalid URLs and turns
        // tg://user?id= links into text_mention; the fake keeps any non-empty href as given.
        const std::string url = top.argument.empty() ? out.text.substr(top.text_offset) : top.argument;
        e["type"] = "text_link";
        e["url"] = url;
      } else if (t == "pre") {
        // <pre><code class="language-x">…</code></pre>: the inner code entity becomes the pre's language.
        if (!entities.empty() && entities.back()["type"] == "code" && entities.back()["offset"] == top.utf16_offset &&
            entities.back()["length"] == e["length"] && entities.back().contains("language")) {
          e["type"] = "pre";
          e["language"] = entities.back()["language"];
          entities.pop_back();
        } else {
          e["type"] = "pre";
        }
      } else if (t == "code") {
        e["type"] = "code";
        if (!top.argument.empty()) e["language"] = top.argument;  // dropped below unless inside <pre>
      }
      entities.push_back(std::move(e));
    }
    open.pop_back();
  }
  if (!open.empty()) return fail("Can't find end tag corresponding to start tag \"" + open.back().name + "\"");
  if (recheck_utf8 && !valid_utf8(out.text)) {
    return fail(
        "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched surrogate code "
        "units");
  }
  for (auto& e : entities) {
    if (e["type"] == "code") e.erase("language");
  }
  std::stable_sort(entities.begin(), entities.end(), [](const ojson& a, const ojson& b) {
    if (a["offset"] != b["offset"]) return a["offset"].get<std::int64_t>() < b["offset"].get<std::int64_t>();
    return a["length"].get<std::int64_t>() > b["length"].get<std::int64_t>();
  });
  for (auto& e : entities) out.entities.push_back(std::move(e));
  return out;
}

// TDLib trims whitespace around a message's text; entities move with it.
void trim_text(std::string& text, ojson& entities) {
  auto ws = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; };
  std::size_t left = 0;
  while (left < text.size() && ws(text[left])) ++left;
  std::size_t right = text.size();
  while (right > left && ws(text[right - 1])) --right;
  text = text.substr(left, right - left);
  const auto length = static_cast<std::int64_t>(utf16_length(text));
  const auto shift = static_cast<std::int64_t>(left);  // ASCII: one UTF-16 unit per byte
  ojson kept = ojson::array();
  for (auto e : entities) {
    if (!e.is_object() || !e.contains("offset") || !e.contains("length")) continue;
    const std::int64_t b = std::max<std::int64_t>(0, e["offset"].get<std::int64_t>() - shift);
    const std::int64_t end = e["offset"].get<std::int64_t>() + e["length"].get<std::int64_t>() - shift;
    const std::int64_t en = std::min<std::int64_t>(length, end);
    if (en <= b) continue;
    e["offset"] = b;
    e["length"] = en - b;
    kept.push_back(std::move(e));
  }
  entities = std::move(kept);
}

// ---- entities in incoming messages (what Telegram adds to a user's text) ------------------
// ASCII approximations of TDLib's match_bot_commands and match_mentions; any non-ASCII byte
// counts as a letter.

bool word_byte(char c) { return html_alnum(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80; }
bool name_byte(char c) { return html_alnum(c) || c == '_'; }

ojson incoming_entities(const std::string& text) {
  ojson out = ojson::array();
  auto utf16_at = [&](std::size_t byte) {
    return static_cast<std::int64_t>(utf16_length(std::string_view(text).substr(0, byte)));
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '/' && c != '@') continue;
    if (i > 0) {
      const char prev = text[i - 1];
      if (word_byte(prev) || (c == '/' && (prev == '/' || prev == '<' || prev == '>'))) continue;
    }
    std::size_t j = i + 1;
    while (j < text.size() && name_byte(text[j])) ++j;
    const std::size_t name_length = j - i - 1;
    if (c == '/') {
      if (name_length < 1 || name_length > 64) continue;
      if (j < text.size() && text[j] == '@') {
        std::size_t k = j + 1;
        while (k < text.size() && name_byte(text[k])) ++k;
        if (k - j - 1 < 3 || k - j - 1 > 32) continue;
        j = k;
      }
      if (j < text.size() && (word_byte(text[j]) || text[j] == '/' || text[j] == '<' || text[j] == '>')) continue;
    } else {
      if (name_length < 2 || name_length > 32) continue;
      if (j < text.size() && word_byte(text[j])) continue;
    }
    ojson e;
    e["offset"] = utf16_at(i);
    e["length"] = utf16_at(j) - utf16_at(i);
    e["type"] = c == '/' ? "bot_command" : "mention";
    out.push_back(std::move(e));
    i = j - 1;
  }
  return out;
}

// ---- raw JSON spans (to serve recorded updates byte for byte) -----------------------------
// Only called on text that json::parse accepted, so the structure can be trusted.

std::size_t skip_ws(std::string_view s, std::size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  return i;
}

std::size_t value_end(std::string_view s, std::size_t i) {
  if (s[i] == '"') {
    for (++i; i < s.size(); ++i) {
      if (s[i] == '\\') {
        ++i;
      } else if (s[i] == '"') {
        return i + 1;
      }
    }
    throw std::invalid_argument("unterminated string");
  }
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        i = value_end(s, i);
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if ((c == '}' || c == ']') && --depth == 0) return i + 1;
      ++i;
    }
    throw std::invalid_argument("unterminated container");
  }
  while (i < s.size() && std::strchr(",]} \t\r\n", s[i]) == nullptr) ++i;
  return i;
}

// The text of each element of the array that starts at s[i] == '['.
std::vector<std::string> array_elements(std::string_view s, std::size_t i) {
  std::vector<std::string> out;
  i = skip_ws(s, i + 1);
  while (i < s.size() && s[i] != ']') {
    const std::size_t end = value_end(s, i);
    out.emplace_back(s.substr(i, end - i));
    i = skip_ws(s, end);
    if (i < s.size() && s[i] == ',') i = skip_ws(s, i + 1);
  }
  return out;
}

// Where the value of `key` starts in the object that starts at s[i] == '{'.
std::size_t member_value(std::string_view s, std::size_t i, std::string_view key) {
  i = skip_ws(s, i + 1);
  while (i < s.size() && s[i] == '"') {
    const std::size_t key_end = value_end(s, i);
    const auto name = json::parse(s.substr(i, key_end - i)).get<std::string>();
    i = skip_ws(s, key_end) + 1;  // past ':'
    i = skip_ws(s, i);
    if (name == key) return i;
    i = skip_ws(s, value_end(s, i));
    if (i < s.size() && s[i] == ',') i = skip_ws(s, i + 1);
  }
  return std::string_view::npos;
}

// ---- answers ------------------------------------------------------------------------------

// Telegram writes JSON with non-ASCII escaped (\u00e9, surrogate pairs for emoji), as the
// recorded fixture shows; so does the fake, so that clients are tested on that.
std::string dump(const ojson& j) { return j.dump(-1, ' ', /*ensure_ascii=*/true, ojson::error_handler_t::replace); }

struct reply {
  enum class mode { answer, drop, hang, half };
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  mode how = mode::answer;
};

reply ok_reply(const ojson& result, const std::string& description = {}) {
  ojson env;
  env["ok"] = true;
  env["result"] = result;
  if (!description.empty()) env["description"] = description;
  return {200, dump(env), "application/json", {}, reply::mode::answer};
}

// BOTAPI-SRV Query.cpp: the HTTP status is error_code; `parameters` only when non-empty.
reply error_reply(unsigned code, const std::string& description, const ojson& parameters = ojson::object()) {
  ojson env;
  env["ok"] = false;
  env["error_code"] = code;
  env["description"] = description;
  if (!parameters.empty()) env["parameters"] = parameters;
  return {code, dump(env), "application/json", {}, reply::mode::answer};
}

reply bad_request(const std::string& what) { return error_reply(400, "Bad Request: " + what); }

reply too_many_requests(int retry_after) {
  ojson parameters;
  parameters["retry_after"] = retry_after;
  reply r = error_reply(429, "Too Many Requests: retry after " + std::to_string(retry_after), parameters);
  r.headers.emplace_back("Retry-After", std::to_string(retry_after));
  return r;
}

const char* const terminated_by_other_poll =
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";
const char* const webhook_is_active =
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";
const char* const terminated_by_set_webhook = "Conflict: terminated by setWebhook request";

// The methods the fake knows, by lower-case name (the server lowercases: BOTAPI-SRV Query.cpp).
const std::map<std::string, std::string>& known_methods() {
  static const std::map<std::string, std::string> m = [] {
    std::map<std::string, std::string> r;
    for (const char* name : {"getMe", "deleteWebhook", "setWebhook", "getWebhookInfo", "getUpdates", "sendMessage",
                             "editMessageText", "sendChatAction", "sendMessageDraft", "setMyCommands",
                             "getMyCommands", "deleteMyCommands", "deleteMessage"}) {
      r.emplace(to_lower(name), name);
    }
    return r;
  }();
  return m;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct stored_update {
  std::int64_t id = 0;
  std::string raw;  // the JSON text served
};

struct stored_message {
  ojson message;
  bool from_bot = false;
  json reply_markup;  // null when none
};

// A getUpdates being held. Its timer is the wake-up: anything that may complete the poll
// cancels it, and the poll then re-reads the state (so no wake-up can be lost).
struct held_poll {
  explicit held_poll(asio::io_context& ioc) : timer(ioc) {}
  asio::steady_timer timer;
  clock_type::time_point deadline;
  std::size_t limit = 100;
  std::string ended;  // a 409 description, set by whoever ended this poll
};

}  // namespace

struct fake_telegram::impl {
  std::string token;
  fake_telegram_options options;
  std::int64_t bot_id = 0;
  unsigned short port = 0;

  // Declared before ioc so that it outlives the TLS streams in coroutine frames, which die
  // with the io_context.
  std::optional<asio::ssl::context> tls;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::thread thread;

  // Everything below is guarded by `mutex`. Declared after ioc so that the held poll's timer
  // is released while the io_context still exists.
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::uint64_t version = 0;  // bumped on every change, for wait_for()

  std::deque<stored_update> queue;  // ordered by update_id
  std::int64_t next_update_id = 0;
  std::int64_t confirmed = 0;
  std::vector<std::string> allowed_updates;  // empty: all but the three opt-in types
  std::string webhook_url;
  std::shared_ptr<held_poll> pending;
  std::map<std::string, std::deque<telegram_fault>> faults;  // by lower-case method
  std::vector<recorded_call> calls;
  std::vector<message_record> sent;
  std::vector<message_record> edited;
  std::vector<message_record> drafts;
  std::vector<chat_action_record> actions;
  std::vector<std::pair<std::int64_t, std::int64_t>> deletions;
  std::map<std::int64_t, ojson> chats;
  std::map<std::int64_t, std::int64_t> last_message_id;  // per chat, incoming and outgoing
  std::map<std::pair<std::int64_t, std::int64_t>, stored_message> messages;
  json commands = json::array();

  // With mutex held.
  void bump() {
    ++version;
    changed.notify_all();
  }

  ojson bot_user() const {
    ojson u;
    u["id"] = bot_id;
    u["is_bot"] = true;
    u["first_name"] = options.bot_first_name;
    u["username"] = options.bot_username;
    return u;
  }

  // A chat the fake has seen in an update, else a plausible one for the id.
  ojson chat_for(std::int64_t id) const {
    if (const auto it = chats.find(id); it != chats.end()) return it->second;
    ojson c;
    c["id"] = id;
    if (id > 0) {
      c["first_name"] = "Test";
      c["last_name"] = "User";
      c["username"] = "user" + std::to_string(id);
      c["type"] = "private";
    } else {
      c["title"] = "openclawd test group";
      c["type"] = id <= -1000000000000 ? "supergroup" : "group";
    }
    return c;
  }

  // ---- updates (mutex held) ----

  bool wanted(const std::string& type) const {
    if (!allowed_updates.empty()) {
      return std::find(allowed_updates.begin(), allowed_updates.end(), type) != allowed_updates.end();
    }
    return type != "chat_member" && type != "message_reaction" && type != "message_reaction_count";
  }

  // Learns chats and messages from an update so that replies and edits can refer to them.
  void learn(const json& update) {
    for (const char* key : {"message", "edited_message", "channel_post", "edited_channel_post", "business_message"}) {
      const auto it = update.find(key);
      if (it == update.end() || !it->is_object()) continue;
      const json& m = *it;
      if (!m.contains("chat") || !m["chat"].contains("id") || !m.contains("message_id")) continue;
      const auto chat = m["chat"]["id"].get<std::int64_t>();
      const auto id = m["message_id"].get<std::int64_t>();
      chats[chat] = ojson(m["chat"]);
      auto& last = last_message_id[chat];
      last = std::max(last, id);
      const bool from_bot = m.contains("from") && m["from"].value("id", std::int64_t{0}) == bot_id;
      messages[{chat, id}] = stored_message{ojson(m), from_bot, json()};
    }
  }

  void enqueue(std::int64_t id, std::string raw) {
    const auto pos = std::find_if(queue.begin(), queue.end(), [&](const stored_update& u) { return u.id > id; });
    queue.insert(pos, stored_update{id, std::move(raw)});
  }

  std::string collect(std::size_t limit) const {
    std::string body = "{\"ok\":true,\"result\":[";
    std::size_t n = 0;
    for (const auto& u : queue) {
      if (n == limit) break;
      if (n++ > 0) body += ',';
      body += u.raw;
    }
    return body + "]}";
  }

  // Ends the held poll (if any) with a 409; its coroutine answers when it next runs.
  void end_pending(const char* description) {
    if (!pending) return;
    pending->ended = description;
    pending->timer.cancel();  // only ever called on the fake's thread
    pending.reset();
  }

  // From the test thread: wake the held poll so that it re-reads the queue.
  void wake_poll() {
    asio::post(ioc, [this] {
      std::lock_guard lock(mutex);
      if (pending) pending->timer.cancel();
    });
  }

  // ---- the server ----

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;  // the acceptor was closed: the fake is going away
      asio::co_spawn(ioc, session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket socket) {
    if (!tls) {
      beast::tcp_stream stream(std::move(socket));
      co_await serve(stream);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;  // e.g. the client refused our certificate: nothing to answer
    beast::get_lowest_layer(stream).expires_never();
    co_await serve(stream);
  }

  static void hard_close(beast::tcp_stream& s) {
    beast::error_code ignored;
    s.socket().close(ignored);
  }
  static void hard_close(beast::ssl_stream<beast::tcp_stream>& s) {
    beast::error_code ignored;  // no close_notify: the client sees a truncated stream, as on a reset
    beast::get_lowest_layer(s).socket().close(ignored);
  }
  static asio::awaitable<void> graceful_close(beast::tcp_stream& s) {
    beast::error_code ignored;
    s.socket().shutdown(tcp::socket::shutdown_send, ignored);
    co_return;
  }
  static asio::awaitable<void> graceful_close(beast::ssl_stream<beast::tcp_stream>& s) {
    beast::get_lowest_layer(s).expires_after(std::chrono::seconds(2));
    // Whatever the client does with our close_notify is its business; the socket closes anyway.
    (void)co_await s.async_shutdown(asio::as_tuple(asio::use_awaitable));
  }

  asio::awaitable<void> idle_forever() {
    asio::steady_timer t(ioc, asio::steady_timer::time_point::max());
    (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }

  // HTTP/1.1 with keep-alive: requests on one connection are answered in order.
  template <class Stream>
  asio::awaitable<void> serve(Stream& stream) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      // end_of_stream: the client closed an idle keep-alive connection. Anything else (a reset,
      // a truncated TLS stream, a malformed request) leaves nothing to answer either.
      if (ec) co_return;
      http::request<http::string_body> req = parser.release();
      reply r = co_await handle(req);
      if (r.how == reply::mode::drop) {
        hard_close(stream);
        co_return;
      }
      if (r.how == reply::mode::hang) {
        co_await idle_forever();
        co_return;
      }
      if (r.how == reply::mode::half) {
        std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " +
                           std::string(http::obsolete_reason(static_cast<http::status>(r.status))) +
                           "\r\nServer: nginx/1.18.0\r\nContent-Type: " + r.content_type +
                           "\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\nConnection: keep-alive\r\n\r\n";
        head += r.body.substr(0, r.body.size() / 2);
        (void)co_await asio::async_write(stream, asio::buffer(head), asio::as_tuple(asio::use_awaitable));
        hard_close(stream);
        co_return;
      }
      http::response<http::string_body> res{static_cast<http::status>(r.status), req.version()};
      res.set(http::field::server, "nginx/1.18.0");
      res.set(http::field::content_type, r.content_type);
      for (const auto& [k, v] : r.headers) res.set(k, v);
      res.keep_alive(req.keep_alive());
      res.body() = std::move(r.body);
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
      if (wec) co_return;  // the client went away (e.g. it gave up on a held poll)
      if (!res.keep_alive()) {
        co_await graceful_close(stream);
        co_return;
      }
    }
  }

  // Records the request, answers it, and records the status. Never throws: a bug in the fake
  // becomes a 500 whose description says so.
  asio::awaitable<reply> handle(const http::request<http::string_body>& req) {
    recorded_call call;
    call.http_method = std::string(req.method_string());
    call.target = std::string(req.target());
    for (const auto& f : req.base()) call.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    call.body = req.body();
    call.time = clock_type::now();
    call.params = json::object();

    // /bot<token>/<method>?query
    const std::string_view target = req.target();
    const auto qmark = target.find('?');
    const std::string path = percent_decode(target.substr(0, qmark), false);
    std::string seen_token;
    std::string seen_method;
    bool path_ok = false;
    if (starts_with(path, "/bot")) {
      const auto slash = path.find('/', 4);
      if (slash != std::string::npos) {
        seen_token = path.substr(4, slash - 4);
        seen_method = path.substr(slash + 1);
        path_ok = !seen_token.empty() && !seen_method.empty() && seen_method.find('/') == std::string::npos;
      }
    }
    const std::string method_key = to_lower(seen_method);
    const auto known = known_methods().find(method_key);
    call.method = known != known_methods().end() ? known->second : seen_method;
    call.authorized = path_ok && seen_token == token;

    std::string param_error;
    if (qmark != std::string_view::npos && !parse_form(target.substr(qmark + 1), call.params)) {
      param_error = "strings must be encoded in UTF-8";
    }
    const std::string content_type = to_lower(std::string(req[http::field::content_type]));
    if (param_error.empty() && !req.body().empty()) {
      if (starts_with(content_type, "application/json")) {
        if (!valid_utf8(req.body())) {
          param_error = "strings must be encoded in UTF-8";
        } else {
          try {
            json body = json::parse(req.body());
            if (!body.is_object()) throw std::invalid_argument("not an object");
            for (auto& [k, v] : body.items()) call.params[k] = v;
          } catch (const std::exception& e) {
            // A lone surrogate in a \u escape is a UTF-8 matter for the real server; the
            // wording for other malformed JSON is the fake's own.
            param_error = std::string(e.what()).find("surrogate") != std::string::npos
                              ? "strings must be encoded in UTF-8"
                              : "can't parse JSON object";
          }
        }
      } else if (starts_with(content_type, "application/x-www-form-urlencoded")) {
        if (!parse_form(req.body(), call.params)) param_error = "strings must be encoded in UTF-8";
      } else if (starts_with(content_type, "multipart/form-data")) {
        param_error = "multipart/form-data is not supported by the fake Telegram server";
      }
    }

    std::size_t index = 0;
    json params = call.params;
    {
      std::lock_guard lock(mutex);
      index = calls.size();
      calls.push_back(std::move(call));
      bump();
    }

    reply r;
    try {
      if (!path_ok) {
        r = error_reply(404, "Not Found");
      } else if (seen_token != token) {
        r = error_reply(401, "Unauthorized");
      } else if (known == known_methods().end()) {
        r = error_reply(404, "Not Found");
      } else if (!param_error.empty()) {
        r = bad_request(param_error);
      } else {
        r = co_await answer(method_key, params);
      }
    } catch (const std::exception& e) {
      r = error_reply(500, std::string("Internal Server Error: fake_telegram bug: ") + e.what());
    }

    {
      std::lock_guard lock(mutex);
      calls[index].status = r.how == reply::mode::answer || r.how == reply::mode::half ? r.status : 0;
      bump();
    }
    co_return r;
  }

  // After the path, token and parameters were accepted: an injected fault, or the method.
  asio::awaitable<reply> answer(const std::string& method, const json& params) {
    std::optional<telegram_fault> f;
    {
      std::lock_guard lock(mutex);
      auto& q = faults[method];
      const bool has_parse_mode = !str_arg(params, "parse_mode").value_or("").empty();
      if (!q.empty() && (!std::holds_alternative<fault::reject_html>(q.front()) || has_parse_mode)) {
        f = q.front();
        q.pop_front();
        bump();
      }
    }
    if (f) {
      if (const auto* t = std::get_if<fault::too_many_requests>(&*f)) co_return too_many_requests(t->retry_after);
      if (std::holds_alternative<fault::conflict>(*f)) co_return error_reply(409, terminated_by_other_poll);
      if (std::holds_alternative<fault::internal_error>(*f)) co_return error_reply(500, "Internal Server Error");
      if (std::holds_alternative<fault::reject_html>(*f)) {
        co_return bad_request("can't parse entities: Can't find end of the entity starting at byte offset 0");
      }
      if (std::holds_alternative<fault::bad_gateway>(*f)) {
        reply r;
        r.status = 502;
        r.content_type = "text/html";
        r.body =
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
            "Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n";
        co_return r;
      }
      if (std::holds_alternative<fault::drop_connection>(*f)) {
        reply r;
        r.how = reply::mode::drop;
        co_return r;
      }
      if (std::holds_alternative<fault::hang>(*f)) {
        reply r;
        r.how = reply::mode::hang;
        co_return r;
      }
      // drop_mid_response: the method runs; only its answer is cut.
      reply r = co_await execute(method, params);
      r.how = reply::mode::half;
      co_return r;
    }
    co_return co_await execute(method, params);
  }

  asio::awaitable<reply> execute(const std::string& method, const json& params) {
    if (method == "getupdates") co_return co_await get_updates(params);
    std::lock_guard lock(mutex);
    reply r = call_method(method, params);
    bump();
    co_return r;
  }

  // BOTAPI-SRV Client.cpp:15700-15722 and 16225-16250. Deliberately left out: the anti-hammering
  // rules (a repeated offset within 3 s forces timeout 3 or limit 1) and the 3 s delay of
  // repeated conflict answers; they would only slow tests down.
  asio::awaitable<reply> get_updates(const json& params) {
    std::shared_ptr<held_poll> poll;
    {
      std::lock_guard lock(mutex);
      if (!webhook_url.empty()) co_return error_reply(409, webhook_is_active);
      const std::int64_t offset = int_arg(params, "offset").value_or(0);
      const std::int64_t limit = std::clamp<std::int64_t>(int_arg(params, "limit").value_or(100), 1, 100);
      const std::int64_t timeout = std::clamp<std::int64_t>(int_arg(params, "timeout").value_or(0), 0, 50);
      if (const auto allowed = json_arg(params, "allowed_updates"); allowed && allowed->is_array()) {
        allowed_updates.clear();
        for (const auto& t : *allowed) {
          if (t.is_string()) allowed_updates.push_back(t.get<std::string>());
        }
      }
      end_pending(terminated_by_other_poll);
      if (offset > 0) {
        while (!queue.empty() && queue.front().id < offset) queue.pop_front();
        confirmed = std::max(confirmed, offset);
      } else if (offset < 0) {  // the last -offset updates; all earlier ones are forgotten
        while (static_cast<std::int64_t>(queue.size()) > -offset) queue.pop_front();
      }
      bump();
      if (!queue.empty() || timeout == 0) co_return ok_body(collect(static_cast<std::size_t>(limit)));
      poll = std::make_shared<held_poll>(ioc);
      poll->deadline = clock_type::now() + std::chrono::seconds(timeout);
      poll->limit = static_cast<std::size_t>(limit);
      pending = poll;
    }
    for (;;) {
      poll->timer.expires_at(poll->deadline);
      (void)co_await poll->timer.async_wait(asio::as_tuple(asio::use_awaitable));
      std::lock_guard lock(mutex);
      if (!poll->ended.empty()) co_return error_reply(409, poll->ended);
      if (!queue.empty() || clock_type::now() >= poll->deadline) {
        if (pending == poll) pending.reset();
        bump();
        co_return ok_body(collect(poll->limit));
      }
      // Woken with nothing to give (e.g. the update was dropped meanwhile): keep holding.
    }
  }

  static reply ok_body(std::string body) { return {200, std::move(body), "application/json", {}, reply::mode::answer}; }

  // ---- the other methods (mutex held) ----

  reply call_method(const std::string& method, const json& params) {
    if (method == "getme") {
      ojson u = bot_user();
      u["can_join_groups"] = true;
      u["can_read_all_group_messages"] = false;
      u["supports_inline_queries"] = false;
      u["can_connect_to_business"] = false;
      u["has_main_web_app"] = false;
      return ok_reply(u);
    }
    if (method == "deletewebhook") return delete_webhook(params);
    if (method == "setwebhook") {
      const std::string url = str_arg(params, "url").value_or("");
      if (url.empty()) return delete_webhook(params);
      if (!starts_with(to_lower(url), "https://")) {
        return bad_request("bad webhook: An HTTPS URL must be provided for webhook");
      }
      const std::string description = url == webhook_url ? "Webhook is already set" : "Webhook was set";
      webhook_url = url;
      if (bool_arg(params, "drop_pending_updates")) queue.clear();
      end_pending(terminated_by_set_webhook);
      return ok_reply(true, description);
    }
    if (method == "getwebhookinfo") {
      ojson info;
      info["url"] = webhook_url;
      info["has_custom_certificate"] = false;
      info["pending_update_count"] = queue.size();
      return ok_reply(info);
    }
    if (method == "sendmessage") return send_message(params);
    if (method == "editmessagetext") return edit_message_text(params);
    if (method == "sendmessagedraft") return send_message_draft(params);
    if (method == "sendchataction") return send_chat_action(params);
    if (method == "setmycommands") return set_my_commands(params);
    if (method == "getmycommands") return ok_reply(ojson(commands));
    if (method == "deletemycommands") {
      commands = json::array();
      return ok_reply(true);
    }
    if (method == "deletemessage") return delete_message(params);
    return error_reply(404, "Not Found");
  }

  reply delete_webhook(const json& params) {
    // BOTAPI-SRV Client.cpp:16058
    const std::string description = webhook_url.empty() ? "Webhook is already deleted" : "Webhook was deleted";
    webhook_url.clear();
    if (bool_arg(params, "drop_pending_updates")) queue.clear();
    return ok_reply(true, description);
  }

  // chat_id: an integer; "@username" names a chat the fake cannot know.
  std::variant<std::int64_t, reply> chat_arg(const json& params) {
    if (!str_arg(params, "chat_id") || str_arg(params, "chat_id")->empty()) return bad_request("chat_id is empty");
    const auto id = int_arg(params, "chat_id");
    if (!id || *id == 0) return bad_request("chat not found");
    return *id;
  }

  struct checked_text {
    std::optional<reply> error;
    std::string text;
    std::string visible;
    std::string parse_mode;
    ojson entities = ojson::array();
  };

  // `text` and `parse_mode` as TDLib checks them: parsed, trimmed, then 1..4096 characters.
  // The fake counts UTF-16 code units where TDLib counts code points (MessageContent.cpp):
  // stricter for text above U+FFFF, and exactly the rule the gateway promises to keep.
  static checked_text check_text(const json& params, bool allow_empty) {
    checked_text out;
    const auto text = str_arg(params, "text");
    if (!text || (text->empty() && !allow_empty)) {
      out.error = bad_request("message text is empty");
      return out;
    }
    out.text = *text;
    // BOTAPI-SRV Client.cpp:11307-11324: raw text is limited before any parsing.
    if (out.text.size() > 32768) {
      out.error = bad_request("text is too long");
      return out;
    }
    out.parse_mode = str_arg(params, "parse_mode").value_or("");
    const std::string mode = to_lower(out.parse_mode);
    if (mode == "html") {
      parsed_text p = parse_html(out.text);
      if (!p.error.empty()) {
        out.error = bad_request("can't parse entities: " + p.error);
        return out;
      }
      out.visible = std::move(p.text);
      out.entities = std::move(p.entities);
    } else if (mode.empty() || mode == "none") {
      out.visible = out.text;
      if (const auto e = json_arg(params, "entities"); e && e->is_array()) out.entities = ojson(*e);
    } else if (mode == "markdownv2" || mode == "markdown") {
      out.visible = out.text;  // accepted but not parsed: the fake checks HTML only
    } else {
      out.error = bad_request("unsupported parse_mode");
      return out;
    }
    trim_text(out.visible, out.entities);
    const std::size_t length = utf16_length(out.visible);
    if (length == 0 && !allow_empty) {
      out.error = bad_request("message text is empty");
    } else if (length > 4096) {
      out.error = bad_request("message is too long");
    }
    return out;
  }

  message_record record_of(std::int64_t chat, std::int64_t message_id, const checked_text& t, const json& params) {
    message_record m;
    m.chat_id = chat;
    m.message_id = message_id;
    m.text = t.text;
    m.visible_text = t.visible;
    m.parse_mode = t.parse_mode;
    m.entities = json(t.entities);
    m.params = params;
    m.time = clock_type::now();
    return m;
  }

  reply send_message(const json& params) {
    auto chat_or = chat_arg(params);
    if (auto* r = std::get_if<reply>(&chat_or)) return *r;
    const std::int64_t chat = std::get<std::int64_t>(chat_or);
    checked_text t = check_text(params, false);
    if (t.error) return *t.error;

    // reply_parameters (Bot API 7.0) wins over the legacy reply_to_message_id (BOTAPI-SRV
    // Client.cpp:9388-9395).
    std::optional<std::int64_t> reply_to;
    bool without_reply = bool_arg(params, "allow_sending_without_reply");
    if (const auto rp = json_arg(params, "reply_parameters"); rp && rp->is_object()) {
      reply_to = int_arg(*rp, "message_id");
      without_reply = bool_arg(*rp, "allow_sending_without_reply");
    } else {
      reply_to = int_arg(params, "reply_to_message_id");
    }
    const stored_message* original = nullptr;
    if (reply_to) {
      const auto it = messages.find({chat, *reply_to});
      if (it != messages.end()) {
        original = &it->second;
      } else if (!without_reply) {
        return bad_request("message to be replied not found");
      }
    }

    const std::int64_t id = ++last_message_id[chat];
    ojson m;
    m["message_id"] = id;
    m["from"] = bot_user();
    m["chat"] = chat_for(chat);
    m["date"] = unix_now();
    if (original != nullptr) m["reply_to_message"] = original->message;
    m["text"] = t.visible;
    if (!t.entities.empty()) m["entities"] = t.entities;
    json markup;
    if (const auto rm = json_arg(params, "reply_markup")) {
      markup = *rm;
      if (markup.contains("inline_keyboard")) m["reply_markup"] = ojson(markup);
    }
    messages[{chat, id}] = stored_message{m, true, markup};

    message_record rec = record_of(chat, id, t, params);
    if (original != nullptr) rec.reply_to = reply_to;
    sent.push_back(std::move(rec));
    return ok_reply(m);
  }

  reply edit_message_text(const json& params) {
    auto chat_or = chat_arg(params);
    if (auto* r = std::get_if<reply>(&chat_or)) return *r;
    const std::int64_t chat = std::get<std::int64_t>(chat_or);
    const auto id = int_arg(params, "message_id");
    if (!id) return bad_request("message identifier is not specified");
    checked_text t = check_text(params, false);
    if (t.error) return *t.error;
    const auto it = messages.find({chat, *id});
    if (it == messages.end()) return bad_request("message to edit not found");
    stored_message& stored = it->second;
    if (!stored.from_bot) return bad_request("message can't be edited");
    const json markup = json_arg(params, "reply_markup").value_or(json());
    const ojson old_entities = stored.message.value("entities", ojson::array());
    if (stored.message.value("text", std::string()) == t.visible && old_entities == t.entities &&
        stored.reply_markup == markup) {
      // BOTAPI-SRV Client.cpp:108-111
      return bad_request(
          "message is not modified: specified new message content and reply markup are exactly the same as a current "
          "content and reply markup of the message");
    }
    stored.message["text"] = t.visible;
    if (t.entities.empty()) {
      stored.message.erase("entities");
    } else {
      stored.message["entities"] = t.entities;
    }
    stored.message["edit_date"] = unix_now();
    stored.reply_markup = markup;
    edited.push_back(record_of(chat, *id, t, params));
    return ok_reply(stored.message);
  }

  reply send_message_draft(const json& params) {
    auto chat_or = chat_arg(params);
    if (auto* r = std::get_if<reply>(&chat_or)) return *r;
    const std::int64_t chat = std::get<std::int64_t>(chat_or);
    // Drafts exist in private chats only; groups are refused with TDLib's code (as reported by
    // clients; not checked against the server's source).
    if (chat < 0) return bad_request("TEXTDRAFT_PEER_INVALID");
    const auto draft_id = int_arg(params, "draft_id");
    if (!draft_id || *draft_id == 0) return bad_request("draft_id must be non-zero");  // the fake's wording
    // Bot API 10.0: an empty text shows a "Thinking…" placeholder.
    checked_text t = check_text(params, true);
    if (t.error) return *t.error;
    message_record rec = record_of(chat, 0, t, params);
    rec.draft_id = *draft_id;
    drafts.push_back(std::move(rec));
    return ok_reply(true);
  }

  reply send_chat_action(const json& params) {
    auto chat_or = chat_arg(params);
    if (auto* r = std::get_if<reply>(&chat_or)) return *r;
    const std::string action = str_arg(params, "action").value_or("");
    static const char* const valid[] = {"typing",         "upload_photo",    "record_video",      "upload_video",
                                        "record_voice",   "upload_voice",    "upload_document",   "choose_sticker",
                                        "find_location",  "record_video_note", "upload_video_note"};
    if (std::none_of(std::begin(valid), std::end(valid), [&](const char* v) { return action == v; })) {
      return bad_request("wrong parameter action in request");
    }
    actions.push_back({std::get<std::int64_t>(chat_or), action, clock_type::now()});
    return ok_reply(true);
  }

  // Limits from the docs (BotCommand: 1-32 of [a-z0-9_], description 1-256, at most 100);
  // the error strings are TDLib's codes as clients report them.
  reply set_my_commands(const json& params) {
    const auto list = json_arg(params, "commands");
    if (!list || !list->is_array()) return bad_request("can't parse commands JSON object");
    if (list->size() > 100) return bad_request("BOT_COMMANDS_TOO_MUCH");
    json stored = json::array();
    for (const auto& c : *list) {
      const std::string command = c.is_object() ? c.value("command", std::string()) : std::string();
      const std::string description = c.is_object() ? c.value("description", std::string()) : std::string();
      const bool command_ok = !command.empty() && command.size() <= 32 &&
                              std::all_of(command.begin(), command.end(), [](char ch) {
                                return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
                              });
      if (!command_ok) return bad_request("BOT_COMMAND_INVALID");
      if (description.empty() || utf16_length(description) > 256) {
        return bad_request("BOT_COMMAND_DESCRIPTION_INVALID");
      }
      stored.push_back(json{{"command", command}, {"description", description}});
    }
    commands = std::move(stored);
    return ok_reply(true);
  }

  reply delete_message(const json& params) {
    auto chat_or = chat_arg(params);
    if (auto* r = std::get_if<reply>(&chat_or)) return *r;
    const std::int64_t chat = std::get<std::int64_t>(chat_or);
    const auto id = int_arg(params, "message_id");
    if (!id) return bad_request("message identifier is not specified");
    if (messages.erase({chat, *id}) == 0) return bad_request("message to delete not found");
    deletions.emplace_back(chat, *id);
    return ok_reply(true);
  }
};

// ---- public interface ---------------------------------------------------------------------

fake_telegram::fake_telegram(std::string token, fake_telegram_options options) : impl_(std::make_unique<impl>()) {
  impl& m = *impl_;
  m.token = std::move(token);
  m.options = std::move(options);
  m.next_update_id = m.options.first_update_id;
  m.bot_id = 7000000001;
  if (const auto colon = m.token.find(':'); colon != std::string::npos) {
    std::int64_t id = 0;
    const auto [end, ec] = std::from_chars(m.token.data(), m.token.data() + colon, id);
    if (ec == std::errc{} && end == m.token.data() + colon && id > 0) m.bot_id = id;
  }
  if (m.options.tls) {
    m.tls.emplace(asio::ssl::context::tls_server);
    m.tls->use_certificate_chain(asio::buffer(m.options.tls->cert_pem));
    m.tls->use_private_key(asio::buffer(m.options.tls->key_pem), asio::ssl::context::pem);
  }
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  m.acceptor.open(ep.protocol());
  m.acceptor.set_option(tcp::acceptor::reuse_address(true));
  m.acceptor.bind(ep);
  m.acceptor.listen();
  m.port = m.acceptor.local_endpoint().port();
  asio::co_spawn(m.ioc, m.accept_loop(), asio::detached);
  m.thread = std::thread([&m] { m.ioc.run(); });
}

fake_telegram::~fake_telegram() {
  impl_->ioc.stop();
  impl_->thread.join();
}

std::string fake_telegram::base_url() const {
  return std::string(impl_->tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(impl_->port);
}

std::string fake_telegram::method_url(std::string_view method) const {
  return base_url() + "/bot" + impl_->token + "/" + std::string(method);
}

unsigned short fake_telegram::port() const { return impl_->port; }
const std::string& fake_telegram::token() const { return impl_->token; }
std::int64_t fake_telegram::bot_id() const { return impl_->bot_id; }

std::int64_t fake_telegram::push_message(std::int64_t user_id, std::int64_t chat_id, std::string text,
                                         std::string chat_type) {
  ojson from;
  from["id"] = user_id;
  from["is_bot"] = false;
  from["first_name"] = "Test";
  from["last_name"] = "User";
  from["username"] = "user" + std::to_string(user_id);
  from["language_code"] = "en";
  ojson chat;
  chat["id"] = chat_id;
  if (chat_type == "private") {
    chat["first_name"] = "Test";
    chat["last_name"] = "User";
    chat["username"] = "user" + std::to_string(user_id);
  } else {
    chat["title"] = "openclawd test group";
  }
  chat["type"] = chat_type;
  ojson message;
  message["message_id"] = nullptr;  // numbered by push(), which holds the lock
  message["from"] = from;
  message["chat"] = chat;
  message["date"] = unix_now();
  message["text"] = text;
  if (ojson e = incoming_entities(text); !e.empty()) message["entities"] = e;
  ojson update;
  update["message"] = message;
  return push_update(json(update));
}

std::int64_t fake_telegram::push_update(nlohmann::json update_without_id) {
  impl& m = *impl_;
  std::int64_t id = 0;
  {
    std::lock_guard lock(m.mutex);
    ojson update;
    update["update_id"] = 0;
    std::string type;
    for (auto& [k, v] : update_without_id.items()) {
      if (k == "update_id") continue;
      if (type.empty()) type = k;
      update[k] = ojson(v);
    }
    if (!m.wanted(type)) return 0;
    id = m.next_update_id++;
    update["update_id"] = id;
    // A new message without a message_id (or with null) gets the chat's next one, and a date.
    for (const char* key : {"message", "channel_post", "business_message"}) {
      if (!update.contains(key) || !update[key].is_object()) continue;
      ojson& msg = update[key];
      if (msg.contains("chat") && msg["chat"].contains("id") && (!msg.contains("message_id") || msg["message_id"].is_null())) {
        msg["message_id"] = m.last_message_id[msg["chat"]["id"].get<std::int64_t>()] + 1;
      }
      if (!msg.contains("date")) msg["date"] = unix_now();
    }
    m.learn(json(update));
    m.enqueue(id, dump(update));
    m.bump();
  }
  m.wake_poll();
  return id;
}

void fake_telegram::push_raw_updates(std::string_view json_text) {
  json parsed = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) throw std::invalid_argument("push_raw_updates: not JSON");
  std::size_t start = skip_ws(json_text, 0);
  if (parsed.is_object()) {
    if (!parsed.contains("result") || !parsed["result"].is_array()) {
      throw std::invalid_argument("push_raw_updates: an object without a \"result\" array");
    }
    start = member_value(json_text, start, "result");
  } else if (!parsed.is_array()) {
    throw std::invalid_argument("push_raw_updates: neither an array nor a getUpdates response");
  }
  const std::vector<std::string> elements = array_elements(json_text, start);
  impl& m = *impl_;
  {
    std::lock_guard lock(m.mutex);
    for (const auto& raw : elements) {
      const json u = json::parse(raw);
      if (!u.is_object() || !u.contains("update_id")) throw std::invalid_argument("push_raw_updates: no update_id");
      const auto id = u["update_id"].get<std::int64_t>();
      if (id < m.confirmed) continue;  // already confirmed: the server has forgotten it
      m.learn(u);
      m.enqueue(id, raw);
      m.next_update_id = std::max(m.next_update_id, id + 1);
    }
    m.bump();
  }
  m.wake_poll();
}

void fake_telegram::inject(std::string_view method, telegram_fault f) {
  std::lock_guard lock(impl_->mutex);
  impl_->faults[to_lower(method)].push_back(f);
  impl_->bump();
}

std::size_t fake_telegram::faults_left(std::string_view method) const {
  std::lock_guard lock(impl_->mutex);
  const auto it = impl_->faults.find(to_lower(method));
  return it == impl_->faults.end() ? 0 : it->second.size();
}

void fake_telegram::set_webhook_active(bool active) {
  impl& m = *impl_;
  std::lock_guard lock(m.mutex);
  m.webhook_url = active ? "https://example.invalid/openclawd-webhook" : "";
  if (active) {
    // The held poll's timer belongs to the fake's thread: end the poll there.
    asio::post(m.ioc, [&m] {
      std::lock_guard inner(m.mutex);
      m.end_pending(terminated_by_set_webhook);
      m.bump();
    });
  }
  m.bump();
}

bool fake_telegram::webhook_active() const {
  std::lock_guard lock(impl_->mutex);
  return !impl_->webhook_url.empty();
}

namespace {
std::vector<message_record> for_chat(const std::vector<message_record>& all, std::int64_t chat) {
  std::vector<message_record> out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out), [&](const message_record& m) { return m.chat_id == chat; });
  return out;
}
}  // namespace

std::vector<message_record> fake_telegram::sent(std::int64_t chat_id) const {
  std::lock_guard lock(impl_->mutex);
  return for_chat(impl_->sent, chat_id);
}

std::vector<message_record> fake_telegram::all_sent() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->sent;
}

std::size_t fake_telegram::sent_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->sent.size();
}

std::vector<message_record> fake_telegram::sent_since(std::size_t first) const {
  std::lock_guard lock(impl_->mutex);
  if (first >= impl_->sent.size()) return {};
  return {impl_->sent.begin() + static_cast<std::ptrdiff_t>(first), impl_->sent.end()};
}

std::vector<message_record> fake_telegram::edits(std::int64_t chat_id) const {
  std::lock_guard lock(impl_->mutex);
  return for_chat(impl_->edited, chat_id);
}

std::vector<message_record> fake_telegram::drafts(std::int64_t chat_id) const {
  std::lock_guard lock(impl_->mutex);
  return for_chat(impl_->drafts, chat_id);
}

std::vector<chat_action_record> fake_telegram::actions(std::int64_t chat_id) const {
  std::lock_guard lock(impl_->mutex);
  std::vector<chat_action_record> out;
  for (const auto& a : impl_->actions) {
    if (a.chat_id == chat_id) out.push_back(a);
  }
  return out;
}

std::vector<std::int64_t> fake_telegram::deleted(std::int64_t chat_id) const {
  std::lock_guard lock(impl_->mutex);
  std::vector<std::int64_t> out;
  for (const auto& [chat, id] : impl_->deletions) {
    if (chat == chat_id) out.push_back(id);
  }
  return out;
}

std::optional<std::string> fake_telegram::message_text(std::int64_t chat_id, std::int64_t message_id) const {
  std::lock_guard lock(impl_->mutex);
  const auto it = impl_->messages.find({chat_id, message_id});
  if (it == impl_->messages.end() || !it->second.message.contains("text")) return std::nullopt;
  return it->second.message["text"].get<std::string>();
}

nlohmann::json fake_telegram::commands() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->commands;
}

std::size_t fake_telegram::calls(std::string_view method) const {
  const std::string key = to_lower(method);
  std::lock_guard lock(impl_->mutex);
  return static_cast<std::size_t>(std::count_if(impl_->calls.begin(), impl_->calls.end(),
                                                [&](const recorded_call& c) { return to_lower(c.method) == key; }));
}

std::vector<recorded_call> fake_telegram::requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->calls;
}

std::int64_t fake_telegram::confirmed_offset() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->confirmed;
}

std::size_t fake_telegram::pending_updates() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->queue.size();
}

bool fake_telegram::pending_poll() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->pending != nullptr;
}

bool fake_telegram::wait_for(const std::function<bool()>& condition, std::chrono::milliseconds deadline) const {
  const auto until = clock_type::now() + deadline;
  for (;;) {
    std::uint64_t seen = 0;
    {
      std::lock_guard lock(impl_->mutex);
      seen = impl_->version;
    }
    if (condition()) return true;
    if (clock_type::now() >= until) return false;
    std::unique_lock lock(impl_->mutex);
    // Woken by every change of the fake's state. The 50 ms cap only matters for conditions that
    // also read something outside the fake (a daemon's log, a process): those get re-checked too.
    impl_->changed.wait_until(lock, std::min(until, clock_type::now() + std::chrono::milliseconds(50)),
                              [&] { return impl_->version != seen; });
  }
}

}  // namespace openclawd::test
