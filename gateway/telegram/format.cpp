#include "gateway/telegram/format.hpp"

#include "gateway/markdown.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

namespace openclawd::gateway::telegram {

namespace {

constexpr std::size_t npos = std::string_view::npos;

// ---------------------------------------------------------------------------------------------
// Characters

unsigned char byte_at(std::string_view s, std::size_t i) { return static_cast<unsigned char>(s[i]); }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (lower(s[i]) != prefix[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// UTF-8

// The length of the well-formed sequence at s[i], or 0 when it is ill-formed; then `bad` is the
// length of its maximal ill-formed subpart (the bytes one U+FFFD replaces). Ranges from the
// Unicode standard's table of well-formed byte sequences (Table 3-7), which is what excludes
// overlong forms (C0, C1, E0 80-9F, F0 80-8F), surrogates (ED A0-BF) and > U+10FFFF (F4 90+).
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::size_t& bad) {
  const unsigned char c = byte_at(s, i);
  if (c < 0x80) return 1;
  std::size_t need = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c == 0xE0) {
    need = 2, lo = 0xA0;
  } else if (c == 0xED) {
    need = 2, hi = 0x9F;
  } else if (c >= 0xE1 && c <= 0xEF) {
    need = 2;
  } else if (c == 0xF0) {
    need = 3, lo = 0x90;
  } else if (c == 0xF4) {
    need = 3, hi = 0x8F;
  } else if (c >= 0xF1 && c <= 0xF3) {
    need = 3;
  } else {
    bad = 1;
    return 0;
  }
  for (std::size_t k = 1; k <= need; ++k) {
    if (i + k >= s.size()) {
      bad = k;
      return 0;
    }
    const unsigned char b = byte_at(s, i + k);
    const bool ok = k == 1 ? (b >= lo && b <= hi) : (b & 0xC0) == 0x80;
    if (!ok) {
      bad = k;
      return 0;
    }
  }
  return need + 1;
}

// Sequence length from the lead byte alone: only for text already known to be valid.
std::size_t utf8_length_of_lead(unsigned char c) {
  if (c < 0x80) return 1;
  if (c < 0xE0) return 2;
  if (c < 0xF0) return 3;
  return 4;
}

// ---------------------------------------------------------------------------------------------
// What html_problem() accepts in attributes

bool allowed_link(std::string_view url) {
  for (std::string_view scheme : {"http://", "https://", "tg://", "mailto:"}) {
    if (starts_with_nocase(url, scheme) && url.size() > scheme.size()) {
      return std::none_of(url.begin(), url.end(),
                          [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F; });
    }
  }
  return false;
}

bool language_char(char c) {
  return is_alnum(c) || c == '_' || c == '+' || c == '#' || c == '.' || c == '-';
}

// ---------------------------------------------------------------------------------------------
// Splitting

enum class token_kind : std::uint8_t { unit, open, close, other_tag };

// The input cut into what may not be split: one visible character (a code point or an entity)
// or one tag.
struct token {
  std::size_t b, e;
  token_kind kind;
  std::uint8_t weight;  // UTF-16 units of a visible character
  bool space;
  bool newline;
};

std::string_view tag_name(std::string_view s, const token& t) {
  std::size_t b = t.b + 1;
  if (t.kind == token_kind::close) ++b;
  std::size_t e = b;
  while (e < t.e && (is_alnum(s[e]) || s[e] == '-')) ++e;
  return s.substr(b, e - b);
}

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

bool is_block_tag(std::string_view s, const token& t) {
  if (t.kind != token_kind::open && t.kind != token_kind::close) return false;
  const std::string_view n = tag_name(s, t);
  return same_name(n, "pre") || same_name(n, "blockquote");
}

// Length of the entity at s[i] ('&'), or 0 when it is not one; `weight` gets its UTF-16 width.
std::size_t entity_length(std::string_view s, std::size_t i, std::uint8_t& weight) {
  std::size_t j = i + 1;
  while (j < s.size() && j - i <= 12 && (is_alnum(s[j]) || s[j] == '#')) ++j;
  if (j >= s.size() || s[j] != ';' || j == i + 1) return 0;
  weight = 1;
  if (s[i + 1] == '#') {
    const bool hex = j > i + 2 && (s[i + 2] == 'x' || s[i + 2] == 'X');
    std::uint32_t v = 0;
    for (std::size_t k = i + (hex ? 3 : 2); k < j; ++k) {
      const char c = lower(s[k]);
      const std::uint32_t d = is_digit(c) ? static_cast<std::uint32_t>(c - '0')
                              : (hex && c >= 'a' && c <= 'f') ? static_cast<std::uint32_t>(c - 'a' + 10)
                                                              : 99;
      if (d == 99) return 0;
      v = std::min<std::uint32_t>(v * (hex ? 16 : 10) + d, 0x110000);
    }
    if (v > 0xFFFF && v <= 0x10FFFF) weight = 2;
  }
  return j + 1 - i;
}

std::vector<token> tokenize(std::string_view s, bool html) {
  std::vector<token> out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (html && c == '<') {
      // A tag runs to the next '>' unless a '<' comes first; the renderer escapes both inside
      // attribute values, so quotes need no tracking (and the scan stays linear).
      const std::size_t j = s.find_first_of("<>", i + 1);
      const bool named = i + 1 < s.size() && (is_alpha(s[i + 1]) || (s[i + 1] == '/' && i + 2 < s.size() && is_alpha(s[i + 2])));
      if (j != npos && s[j] == '>' && named) {
        const token_kind kind = s[i + 1] == '/' ? token_kind::close
                                : s[j - 1] == '/' ? token_kind::other_tag
                                                  : token_kind::open;
        out.push_back({i, j + 1, kind, 0, false, false});
        i = j + 1;
        continue;
      }
    }
    if (html && c == '&') {
      std::uint8_t weight = 1;
      if (const std::size_t n = entity_length(s, i, weight); n > 0) {
        out.push_back({i, i + n, token_kind::unit, weight, false, false});
        i += n;
        continue;
      }
    }
    const std::size_t n = std::min(utf8_length_of_lead(static_cast<unsigned char>(c)), s.size() - i);
    out.push_back({i, i + n, token_kind::unit, static_cast<std::uint8_t>(n == 4 ? 2 : 1), is_space(c), c == '\n'});
    i += n;
  }
  return out;
}

class splitter {
 public:
  splitter(std::string_view s, std::size_t limit, bool html)
      : s_(s), limit_(std::max<std::size_t>(limit, 1)), tokens_(tokenize(s, html)) {}

  std::vector<std::string> run() {
    std::vector<std::string> chunks;
    std::size_t last = npos;  // the last visible non-space character: the rest is trailing space
    for (std::size_t k = tokens_.size(); k-- > 0;) {
      if (tokens_[k].kind == token_kind::unit && !tokens_[k].space) {
        last = k;
        break;
      }
    }
    if (last == npos) return chunks;
    std::vector<std::size_t> stack;  // open tags (token indices) at the chunk's start
    std::size_t p = skip_cut_space(0, stack);
    while (p <= last) {
      const std::size_t cut = find_cut(p, last);
      const std::size_t end = cut == npos ? tokens_.size() : cut;
      // Whitespace before a hard cut or at the end of the text is dropped too.
      std::size_t tail = std::min(end, last + 1);
      while (tail > p && (tokens_[tail - 1].kind != token_kind::unit || tokens_[tail - 1].space)) --tail;
      std::string chunk = reopen(stack);
      bool visible = false;
      for (std::size_t k = p; k < end; ++k) {
        const token& t = tokens_[k];
        if (t.kind == token_kind::unit) {
          if (k >= tail) continue;
          visible = visible || !t.space;
        } else {
          apply(stack, k);
        }
        chunk.append(s_.substr(t.b, t.e - t.b));
      }
      for (std::size_t k = stack.size(); k-- > 0;) {
        chunk += "</";
        chunk += tag_name(s_, tokens_[stack[k]]);
        chunk += '>';
      }
      if (visible) chunks.push_back(std::move(chunk));
      if (cut == npos) break;
      p = skip_cut_space(cut, stack);
    }
    return chunks;
  }

 private:
  enum boundary { paragraph = 0, line = 1, space = 2 };

  // Where the chunk starting at p ends (a token index), or npos when the rest fits.
  std::size_t find_cut(std::size_t p, std::size_t last) const {
    std::array<std::size_t, 3> best{npos, npos, npos};
    std::size_t w = 0;
    bool after_text = false;
    for (std::size_t k = p; k <= last; ++k) {
      const token& t = tokens_[k];
      if (t.kind != token_kind::unit) continue;
      const bool can_cut = t.space && after_text && 2 * w >= limit_;
      if (w + t.weight > limit_) {
        if (can_cut) best[classify(p, k)] = k;  // the chunk can end right here
        std::size_t cut = npos;
        for (std::size_t b : best) {
          if (b != npos) {
            cut = b;
            break;
          }
        }
        if (cut == npos) cut = hard_cut(p, k);
        // Tags opened just before the cut belong to the next chunk: no empty <b></b> here.
        while (cut > p + 1 && tokens_[cut - 1].kind == token_kind::open) --cut;
        return cut;
      }
      if (can_cut) best[classify(p, k)] = k;
      after_text = !t.space;
      w += t.weight;
    }
    return npos;
  }

  // A cut before token k, where no boundary would do. Steps back a little so that an accent, a
  // skin tone or the rest of a ZWJ emoji sequence stays with its base character (Telegram would
  // accept the split, but the user would see a broken glyph). A character wider than the limit
  // goes alone.
  std::size_t hard_cut(std::size_t p, std::size_t k) const {
    if (k == p) return k + 1;
    const auto unit_before = [&](std::size_t i) {
      while (i > p && tokens_[i - 1].kind != token_kind::unit) --i;
      return i > p ? i - 1 : npos;
    };
    std::size_t cut = k;
    for (int steps = 0; steps < 16; ++steps) {
      const std::size_t prev = unit_before(cut);  // never npos while p is a unit and cut > p
      if (prev == npos) break;
      if (!extends_previous(code_point(tokens_[cut])) && code_point(tokens_[prev]) != 0x200D) return cut;
      if (prev == p) break;
      cut = prev;
    }
    return k;  // the whole chunk is one cluster (or a long one): cut where the limit says
  }

  char32_t code_point(const token& t) const {
    if (t.kind != token_kind::unit) return 0;
    const auto b = [&](std::size_t i) { return static_cast<char32_t>(byte_at(s_, i)); };
    switch (t.e - t.b) {
      case 1: return b(t.b);
      case 2: return ((b(t.b) & 0x1F) << 6) | (b(t.b + 1) & 0x3F);
      case 3: return ((b(t.b) & 0x0F) << 12) | ((b(t.b + 1) & 0x3F) << 6) | (b(t.b + 2) & 0x3F);
      case 4:
        return ((b(t.b) & 0x07) << 18) | ((b(t.b + 1) & 0x3F) << 12) | ((b(t.b + 2) & 0x3F) << 6) |
               (b(t.b + 3) & 0x3F);
      default: return 0;  // an entity
    }
  }

  // Combining marks, joiners, variation selectors, skin tones, keycaps and emoji tag characters:
  // the common code points that belong to the character before them.
  static bool extends_previous(char32_t c) {
    return (c >= 0x0300 && c <= 0x036F) || c == 0x200C || c == 0x200D || (c >= 0xFE00 && c <= 0xFE0F) ||
           c == 0x20E3 || (c >= 0x1F3FB && c <= 0x1F3FF) || (c >= 0xE0020 && c <= 0xE007F);
  }

  // What kind of break the whitespace run starting at token x is.
  boundary classify(std::size_t p, std::size_t x) const {
    bool block = false;
    for (std::size_t k = x; k-- > p && tokens_[k].kind != token_kind::unit;) block = block || is_block_tag(s_, tokens_[k]);
    int newlines = 0;
    for (std::size_t k = x; k < tokens_.size(); ++k) {
      const token& t = tokens_[k];
      if (t.kind == token_kind::unit) {
        if (!t.space) break;
        newlines += t.newline ? 1 : 0;
      } else {
        block = block || is_block_tag(s_, t);
      }
    }
    if (block || newlines >= 2) return paragraph;
    return newlines == 1 ? line : space;
  }

  // From a cut at token c: applies the tags there to `stack` and drops the whitespace; returns
  // where the next chunk's text starts (always a visible character, or the end). Inside <pre>
  // the indentation after the last line break is code, so it is kept.
  std::size_t skip_cut_space(std::size_t c, std::vector<std::size_t>& stack) const {
    std::size_t f = c;
    std::size_t keep = npos;
    for (; f < tokens_.size(); ++f) {
      const token& t = tokens_[f];
      if (t.kind == token_kind::unit && !t.space) break;
      if (t.newline || (t.kind == token_kind::open && same_name(tag_name(s_, t), "pre"))) keep = f + 1;
    }
    std::size_t start = f;
    if (keep != npos && keep < f) {
      std::vector<std::size_t> at_keep = stack;
      for (std::size_t k = c; k < keep; ++k) {
        if (tokens_[k].kind != token_kind::unit) apply(at_keep, k);
      }
      const bool in_pre = std::any_of(at_keep.begin(), at_keep.end(),
                                      [&](std::size_t o) { return same_name(tag_name(s_, tokens_[o]), "pre"); });
      // Start at the first kept space, not at a tag before it: a chunk starts with text.
      std::size_t u = keep;
      while (u < f && tokens_[u].kind != token_kind::unit) ++u;
      if (in_pre) start = u;
    }
    for (std::size_t k = c; k < start; ++k) {
      if (tokens_[k].kind != token_kind::unit) apply(stack, k);
    }
    return start;
  }

  void apply(std::vector<std::size_t>& stack, std::size_t k) const {
    const token& t = tokens_[k];
    if (t.kind == token_kind::open) {
      stack.push_back(k);
    } else if (t.kind == token_kind::close) {
      const std::string_view name = tag_name(s_, t);
      for (std::size_t i = stack.size(); i-- > 0;) {
        if (same_name(tag_name(s_, tokens_[stack[i]]), name)) {
          stack.resize(i);
          break;
        }
      }
    }
  }

  std::string reopen(const std::vector<std::size_t>& stack) const {
    std::string out;
    for (std::size_t k : stack) out.append(s_.substr(tokens_[k].b, tokens_[k].e - tokens_[k].b));
    return out;
  }

  std::string_view s_;
  std::size_t limit_;
  std::vector<token> tokens_;
};

// ---------------------------------------------------------------------------------------------
// Checking

bool allowed_tag(std::string_view n) {
  for (std::string_view t : {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "tg-spoiler", "a",
                             "code", "pre", "blockquote"}) {
    if (n == t) return true;
  }
  return false;
}

std::string at(std::size_t i, std::string_view what) { return "byte " + std::to_string(i) + ": " + std::string(what); }

// Checks the entity at s[i] ('&'); returns its length or 0.
std::size_t valid_entity(std::string_view s, std::size_t i) {
  for (std::string_view named : {"&lt;", "&gt;", "&amp;", "&quot;"}) {
    if (s.substr(i).starts_with(named)) return named.size();
  }
  if (i + 2 >= s.size() || s[i + 1] != '#') return 0;
  const bool hex = s[i + 2] == 'x' || s[i + 2] == 'X';
  std::size_t j = i + (hex ? 3 : 2);
  std::uint32_t v = 0;
  const std::size_t digits_at = j;
  for (; j < s.size() && j - digits_at < 8; ++j) {
    const char c = lower(s[j]);
    if (is_digit(c)) {
      v = v * (hex ? 16 : 10) + static_cast<std::uint32_t>(c - '0');
    } else if (hex && c >= 'a' && c <= 'f') {
      v = v * 16 + static_cast<std::uint32_t>(c - 'a' + 10);
    } else {
      break;
    }
  }
  if (j == digits_at || j >= s.size() || s[j] != ';') return 0;
  if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  return j + 1 - i;
}

// An attribute value between quotes: no '<', '>' or '"', and only valid entities.
std::optional<std::string> value_problem(std::string_view v) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '<' || v[i] == '>') return "unescaped '" + std::string(1, v[i]) + "' in an attribute";
    if (v[i] == '&') {
      const std::size_t n = valid_entity(v, i);
      if (n == 0) return std::string("invalid entity in an attribute");
      i += n - 1;
    }
  }
  return std::nullopt;
}

}  // namespace

std::string sanitize_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0;
  while (i < bytes.size()) {
    std::size_t bad = 0;
    const std::size_t n = utf8_sequence(bytes, i, bad);
    if (n > 0) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      i += bad;
    }
  }
  return out;
}

std::size_t utf16_length(std::string_view utf8) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < utf8.size();) {
    std::size_t bad = 0;
    const std::size_t len = utf8_sequence(utf8, i, bad);
    n += len == 4 ? 2 : 1;  // an ill-formed subpart is one U+FFFD
    i += len > 0 ? len : bad;
  }
  return n;
}

// The reading and rendering live in gateway/markdown.cpp (cmark-gfm); sanitizing first gives
// the Unicode "best practice" replacement (cmark's own check would also catch ill-formed bytes).
std::string markdown_to_html(std::string_view markdown) { return markdown_to_telegram_html(sanitize_utf8(markdown)); }

std::string markdown_to_plain(std::string_view markdown) { return markdown_to_plain_text(sanitize_utf8(markdown)); }

std::vector<std::string> split_html(std::string_view html, std::size_t limit) {
  const std::string s = sanitize_utf8(html);
  return splitter(s, limit, true).run();
}

std::vector<std::string> split_plain(std::string_view text, std::size_t limit) {
  const std::string s = sanitize_utf8(text);
  return splitter(s, limit, false).run();
}

std::optional<std::string> html_problem(std::string_view h) {
  for (std::size_t i = 0; i < h.size();) {
    std::size_t bad = 0;
    const std::size_t n = utf8_sequence(h, i, bad);
    if (n == 0) return at(i, "invalid UTF-8");
    i += n;
  }

  struct element {
    std::string_view name;
    bool code_in_pre = false;  // a <pre>'s <code> child was opened
    bool text = false;         // a <pre> holds text directly
  };
  std::vector<element> open;
  const auto inside = [&](std::string_view name) {
    return std::any_of(open.begin(), open.end(), [&](const element& e) { return e.name == name; });
  };
  const auto text_here = [&]() -> std::optional<std::string> {
    if (!open.empty() && open.back().name == "pre") {
      if (open.back().code_in_pre) return std::string("text in <pre> outside its <code>");
      open.back().text = true;
    }
    return std::nullopt;
  };

  for (std::size_t i = 0; i < h.size();) {
    const char c = h[i];
    if (c == '>') return at(i, "unescaped '>'");
    if (c == '&') {
      const std::size_t n = valid_entity(h, i);
      if (n == 0) return at(i, "'&' that starts no valid entity");
      if (auto p = text_here()) return at(i, *p);
      i += n;
      continue;
    }
    if (c != '<') {
      if (auto p = text_here()) return at(i, *p);
      ++i;
      continue;
    }
    const std::size_t j = h.find_first_of("<>", i + 1);
    if (j == npos || h[j] != '>') return at(i, "unescaped '<'");
    std::string_view tag = h.substr(i + 1, j - i - 1);
    if (tag.starts_with("/")) {
      const std::string_view name = tag.substr(1);
      if (!allowed_tag(name)) return at(i, "unknown closing tag </" + std::string(name) + ">");
      if (open.empty()) return at(i, "</" + std::string(name) + "> closes nothing");
      if (open.back().name != name)
        return at(i, "</" + std::string(name) + "> closes <" + std::string(open.back().name) + ">");
      open.pop_back();
      i = j + 1;
      continue;
    }
    std::size_t k = 0;
    while (k < tag.size() && (is_alnum(tag[k]) || tag[k] == '-')) ++k;
    const std::string_view name = tag.substr(0, k);
    if (!allowed_tag(name)) return at(i, "tag <" + std::string(name) + "> is not allowed");
    const std::string tag_text = "<" + std::string(name) + ">";

    // Attributes: name="value" or a bare name, separated by single spaces.
    std::vector<std::pair<std::string_view, std::optional<std::string_view>>> attrs;
    while (k < tag.size()) {
      if (tag[k] != ' ') return at(i, "malformed tag " + tag_text);
      ++k;
      const std::size_t nb = k;
      while (k < tag.size() && (is_alpha(tag[k]) || tag[k] == '-')) ++k;
      if (k == nb) return at(i, "malformed attribute in " + tag_text);
      const std::string_view attr = tag.substr(nb, k - nb);
      if (k < tag.size() && tag[k] == '=') {
        if (k + 1 >= tag.size() || tag[k + 1] != '"') return at(i, "unquoted attribute in " + tag_text);
        const std::size_t close = tag.find('"', k + 2);
        if (close == npos) return at(i, "unterminated attribute in " + tag_text);
        const std::string_view value = tag.substr(k + 2, close - k - 2);
        if (auto p = value_problem(value)) return at(i, *p);
        attrs.emplace_back(attr, value);
        k = close + 1;
      } else {
        attrs.emplace_back(attr, std::nullopt);
      }
    }

    if (name == "a") {
      if (attrs.size() != 1 || attrs[0].first != "href" || !attrs[0].second)
        return at(i, "<a> needs exactly one href attribute");
      if (!allowed_link(*attrs[0].second)) return at(i, "href with a scheme other than http, https, tg, mailto");
    } else if (name == "code" && !attrs.empty()) {
      const auto& [an, av] = attrs[0];
      const std::string_view prefix = "language-";
      if (attrs.size() != 1 || an != "class" || !av || !av->starts_with(prefix) || av->size() == prefix.size() ||
          !std::all_of(av->begin() + static_cast<std::ptrdiff_t>(prefix.size()), av->end(), language_char))
        return at(i, "<code> allows only class=\"language-x\"");
      if (open.empty() || open.back().name != "pre") return at(i, "<code class> outside <pre>");
    } else if (name == "blockquote" && !attrs.empty()) {
      if (attrs.size() != 1 || attrs[0].first != "expandable" || attrs[0].second)
        return at(i, "<blockquote> allows only the expandable attribute");
    } else if (!attrs.empty()) {
      return at(i, tag_text + " takes no attributes");
    }

    if (!open.empty() && open.back().name == "pre" && name == "code") {
      if (open.back().code_in_pre || open.back().text) return at(i, "<pre> may hold one <code> wrapping all its text");
      open.back().code_in_pre = true;
    } else if (inside("code") || inside("pre")) {
      return at(i, tag_text + " inside <code> or <pre>");
    }
    if ((name == "pre" || name == "blockquote") && !open.empty())
      return at(i, tag_text + " inside <" + std::string(open.back().name) + ">");
    if (inside("a") && (name == "a" || name == "code"))
      return at(i, tag_text + " inside <a>");
    open.push_back({name});
    i = j + 1;
  }
  if (!open.empty()) return "<" + std::string(open.back().name) + "> is never closed";
  return std::nullopt;
}

}  // namespace openclawd::gateway::telegram
