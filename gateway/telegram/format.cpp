#include "gateway/telegram/format.hpp"

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
// Only ASCII counts as a word character for the `*`/`_` rules: treating every non-ASCII byte as
// one would stop `**粗体**` between CJK characters from ever pairing.
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
bool is_ascii_punct(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 0x21 && u <= 0x2F) || (u >= 0x3A && u <= 0x40) || (u >= 0x5B && u <= 0x60) ||
         (u >= 0x7B && u <= 0x7E);
}
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (lower(s[i]) != prefix[i]) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}
std::string_view trim_right(std::string_view s) {
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}
bool all_space(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return is_space(c); });
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

// Telegram only knows \n as a line break; models trained on Windows text emit \r\n.
std::string normalize_newlines(std::string s) {
  if (s.find('\r') == std::string::npos) return s;
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\r') {
      out += s[i];
    } else if (i + 1 >= s.size() || s[i + 1] != '\n') {
      out += '\n';
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Escaping

void append_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      default: out += c;
    }
  }
}

void append_attribute(std::string& out, std::string_view s) {
  for (char c : s) {
    if (c == '"') {
      out += "&quot;";
    } else {
      append_escaped(out, std::string_view(&c, 1));
    }
  }
}

bool allowed_link(std::string_view url) {
  for (std::string_view scheme : {"http://", "https://", "tg://", "mailto:"}) {
    if (starts_with_nocase(url, scheme) && url.size() > scheme.size()) {
      // Control characters and spaces make no sense in a URL and some clients choke on them.
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
// Inline Markdown

enum class mode { html, plain };

struct style {
  bool bold = false;
  bool italic = false;
  bool strike = false;
  bool link = false;
  int depth = 0;
};

// Nesting beyond this renders markers literally: real answers nest two or three deep, and the
// bound keeps adversarial input (`*_*_*_...`) linear.
constexpr int max_depth = 8;

// Bare URLs are atoms: `_` and `*` inside https://example.com/a_b_c are not markers.
// GFM's autolink rule for the end: trailing punctuation and an unbalanced `)` are not part of it.
std::size_t bare_url_end(std::string_view s, std::size_t i, std::size_t e) {
  if (i > 0 && is_alnum(s[i - 1])) return npos;
  const std::string_view rest = s.substr(i, e - i);
  std::size_t start = 0;
  if (rest.starts_with("http://")) {
    start = 7;
  } else if (rest.starts_with("https://")) {
    start = 8;
  } else {
    return npos;
  }
  std::size_t j = i + start;
  while (j < e && !is_space(s[j]) && s[j] != '<' && s[j] != '>' && s[j] != '`') ++j;
  while (j > i + start) {
    const char c = s[j - 1];
    if (c == ')') {
      const std::string_view url = s.substr(i, j - i);
      if (std::count(url.begin(), url.end(), '(') >= std::count(url.begin(), url.end(), ')')) break;
    } else if (std::string_view(".,:;!?*_~'\"]").find(c) == npos) {
      break;
    }
    --j;
  }
  return j > i + start ? j : npos;
}

// Renders the inline Markdown of one line. Openers look for their closer first and recurse into
// what lies between, so every tag it writes is closed, in order, by construction.
class inline_renderer {
 public:
  inline_renderer(std::string_view s, mode m, std::string& out) : s_(s), mode_(m), out_(out) { index(); }

  void render(std::size_t b, std::size_t e, style st) {
    // A closer search from an opener that failed, having scanned up to position z, fails for
    // every later opener before z too (it scans a suffix of the same text, with a stricter
    // start): remembering z per marker keeps `*a *b *c ...` linear.
    std::array<std::size_t, 5> fail_until{};
    std::size_t i = b;
    std::size_t text = b;
    const auto flush = [&](std::size_t upto) {
      emit_text(s_.substr(text, upto - text));
    };
    while (i < e) {
      const char c = s_[i];
      if (c == '\\' && i + 1 < e && is_ascii_punct(s_[i + 1])) {
        flush(i);
        emit_text(s_.substr(i + 1, 1));
        i += 2;
        text = i;
        continue;
      }
      if (c == '`') {
        const std::size_t len = run_length(i, e, '`');
        const std::size_t close = code_close(i, len, e);
        if (close != npos) {
          flush(i);
          emit_code(s_.substr(i + len, close - i - len), st);
          i = close + len;
          text = i;
        } else {
          i += len;
        }
        continue;
      }
      if ((c == '[' || (c == '!' && i + 1 < e && s_[i + 1] == '[')) && st.depth < max_depth) {
        const std::size_t open = c == '!' ? i + 1 : i;
        if (const auto l = link_at(open, e)) {
          flush(i);
          emit_link(*l, st);
          i = l->end;
          text = i;
          continue;
        }
      }
      if (c == 'h') {
        if (const std::size_t end = bare_url_end(s_, i, e); end != npos) {
          i = end;
          continue;
        }
      }
      if (c == '*' || c == '_' || c == '~') {
        const std::size_t len = run_length(i, e, c);
        if (st.depth < max_depth && try_emphasis(i, len, e, st, fail_until, flush, text)) continue;
        i += len;
        continue;
      }
      ++i;
    }
    flush(e);
  }

 private:
  struct link_span {
    std::size_t text_b, text_e;
    std::string_view url;
    std::size_t end;
  };
  struct backtick_run {
    std::size_t pos, len, next_same;  // next_same: index of the next run of the same length
  };

  // Matching brackets and parentheses and the backtick runs of the whole line, computed once so
  // that finding a link or a code span's end is O(1) (an answer can be one 10 KB line).
  void index() {
    match_.assign(s_.size(), npos);
    std::vector<std::size_t> brackets;
    std::vector<std::size_t> parens;
    for (std::size_t i = 0; i < s_.size(); ++i) {
      const char c = s_[i];
      if (c == '\\' && i + 1 < s_.size() && is_ascii_punct(s_[i + 1])) {
        ++i;
      } else if (c == '[') {
        brackets.push_back(i);
      } else if (c == ']' && !brackets.empty()) {
        match_[brackets.back()] = i;
        brackets.pop_back();
      } else if (c == '(') {
        parens.push_back(i);
      } else if (c == ')' && !parens.empty()) {
        match_[parens.back()] = i;
        parens.pop_back();
      } else if (c == '`') {
        const std::size_t len = run_length(i, s_.size(), '`');
        runs_.push_back({i, len, npos});
        i += len - 1;
      }
    }
    std::vector<std::pair<std::size_t, std::size_t>> last;  // (length, run index), tiny
    for (std::size_t k = runs_.size(); k-- > 0;) {
      auto it = std::find_if(last.begin(), last.end(), [&](auto& p) { return p.first == runs_[k].len; });
      if (it != last.end()) {
        runs_[k].next_same = it->second;
        it->second = k;
      } else {
        last.emplace_back(runs_[k].len, k);
      }
    }
  }

  std::size_t run_length(std::size_t i, std::size_t e, char c) const {
    std::size_t j = i;
    while (j < e && s_[j] == c) ++j;
    return j - i;
  }

  // Start of the backtick run closing a code span opened by the run at i, or npos.
  std::size_t code_close(std::size_t i, std::size_t len, std::size_t e) const {
    const auto it = std::lower_bound(runs_.begin(), runs_.end(), i,
                                     [](const backtick_run& r, std::size_t p) { return r.pos < p; });
    if (it == runs_.end() || it->pos != i || it->len != len || it->next_same == npos) return npos;
    const backtick_run& close = runs_[it->next_same];
    return close.pos + close.len <= e ? close.pos : npos;
  }

  std::optional<link_span> link_at(std::size_t i, std::size_t e) const {
    const std::size_t j = match_[i];
    if (j == npos || j + 1 >= e || s_[j + 1] != '(') return std::nullopt;
    const std::size_t q = match_[j + 1];
    if (q == npos || q >= e) return std::nullopt;
    std::string_view url = trim(s_.substr(j + 2, q - j - 2));
    // [text](url "title"): the title is dropped; anything else after a space is not a link.
    if (const std::size_t sp = url.find_first_of(" \t"); sp != npos) {
      const std::string_view title = trim(url.substr(sp));
      if (title.size() < 2 || (title.front() != '"' && title.front() != '\'') || title.back() != title.front())
        return std::nullopt;
      url = url.substr(0, sp);
    }
    if (url.size() >= 2 && url.front() == '<' && url.back() == '>') url = url.substr(1, url.size() - 2);
    if (url.empty()) return std::nullopt;
    return link_span{i + 1, j, url, q + 1};
  }

  // `__init__(self)`, `obj.__dict__`, `if __name__ == ...`: a Python special name, not bold
  // (models explaining Python leave them unquoted often enough, and write bold as `**`).
  bool is_dunder(std::size_t b, std::size_t e) const {
    const std::string_view name = s_.substr(b + 2, e - b - 4);
    if (!std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || is_digit(c) || c == '_'; }))
      return false;
    if ((b > 0 && s_[b - 1] == '.') || (e < s_.size() && (s_[e] == '(' || s_[e] == '.'))) return true;
    for (std::string_view known : {"init", "name", "main", "dict", "doc", "file", "class", "all", "call", "str",
                                   "repr", "len", "iter", "next", "enter", "exit", "eq", "hash", "new", "del",
                                   "slots", "getattr", "getitem", "setattr", "post_init", "version", "future"}) {
      if (name == known) return true;
    }
    return false;
  }

  bool can_open(std::size_t i, std::size_t k, std::size_t e, char ch) const {
    if (i + k >= e || is_space(s_[i + k])) return false;
    return ch == '~' || i == 0 || !is_alnum(s_[i - 1]);
  }

  // Position of the marker (k characters of ch) closing an opener whose content starts at
  // `from`, or npos; `scanned` gets where the search stopped. Code spans, links and bare URLs
  // are skipped whole: a `*` inside them closes nothing. In a closing run longer than k the
  // marker is its last k characters, so `***x***` reads as bold around italic; a run of exactly
  // 2 never closes a single marker. An `_` pair never spans an `_` inside a word: in
  // `_private_var and MAX_VALUE_` the underscores are names, not emphasis.
  std::size_t find_closer(char ch, std::size_t k, std::size_t from, std::size_t e, std::size_t& scanned) const {
    scanned = e;
    std::size_t j = from;
    while (j < e) {
      const char c = s_[j];
      if (c == '\\' && j + 1 < e && is_ascii_punct(s_[j + 1])) {
        j += 2;
      } else if (c == '`') {
        const std::size_t len = run_length(j, e, '`');
        const std::size_t close = code_close(j, len, e);
        j = close != npos ? close + len : j + len;
      } else if (c == '[' && match_[j] != npos) {
        const auto l = link_at(j, e);
        j = l ? l->end : j + 1;
      } else if (const std::size_t url = c == 'h' ? bare_url_end(s_, j, e) : npos; url != npos) {
        j = url;
      } else if (c == ch) {
        const std::size_t len = run_length(j, e, ch);
        const std::size_t end = j + len;
        const bool fits = len >= k && (k == 2 || len != 2);
        const bool flanks = j > from && !is_space(s_[j - 1]) &&
                            (ch == '~' || end >= s_.size() || !is_alnum(s_[end]));
        if (fits && flanks) return end - k;
        if (ch == '_' && j > 0 && is_alnum(s_[j - 1]) && end < s_.size() && is_alnum(s_[end])) {
          scanned = j;
          return npos;
        }
        j = end;
      } else {
        ++j;
      }
    }
    return npos;
  }

  template <class Flush>
  bool try_emphasis(std::size_t& i, std::size_t len, std::size_t e, const style& st,
                    std::array<std::size_t, 5>& fail_until, const Flush& flush, std::size_t& text) {
    const char ch = s_[i];
    const auto attempt = [&](std::size_t kind, std::size_t k) {
      if (i < fail_until[kind] || !can_open(i, k, e, ch)) return false;
      std::size_t scanned = e;
      const std::size_t close = find_closer(ch, k, i + k, e, scanned);
      if (close == npos) {
        fail_until[kind] = scanned;
        return false;
      }
      if (ch == '_' && k == 2 && is_dunder(i, close + 2)) return false;
      flush(i);
      style inner = st;
      ++inner.depth;
      std::string_view tag;
      if (k == 2 && ch != '~') {
        tag = st.bold ? "" : "b";
        inner.bold = true;
      } else if (ch == '~') {
        tag = st.strike ? "" : "s";
        inner.strike = true;
      } else {
        tag = st.italic ? "" : "i";
        inner.italic = true;
      }
      open_tag(tag);
      render(i + k, close, inner);
      close_tag(tag);
      i = close + k;
      text = i;
      return true;
    };
    if (ch == '~') return len >= 2 && attempt(4, 2);
    const std::size_t base = ch == '*' ? 0 : 2;
    if (len >= 2 && attempt(base, 2)) return true;
    return attempt(base + 1, 1);
  }

  void open_tag(std::string_view tag) {
    if (mode_ == mode::plain || tag.empty()) return;
    out_ += '<';
    out_ += tag;
    out_ += '>';
  }
  void close_tag(std::string_view tag) {
    if (mode_ == mode::plain || tag.empty()) return;
    out_ += "</";
    out_ += tag;
    out_ += '>';
  }

  void emit_text(std::string_view t) {
    if (mode_ == mode::html) {
      append_escaped(out_, t);
    } else {
      out_ += t;
    }
  }

  void emit_code(std::string_view code, const style& st) {
    // CommonMark: one space on both sides is padding (so that `` `x` `` can show backticks).
    if (code.size() >= 2 && code.front() == ' ' && code.back() == ' ' && !all_space(code))
      code = code.substr(1, code.size() - 2);
    // Telegram's code entity cannot be part of a link.
    const bool tag = mode_ == mode::html && !st.link;
    if (tag) out_ += "<code>";
    emit_text(code);
    if (tag) out_ += "</code>";
  }

  void emit_link(const link_span& l, const style& st) {
    style inner = st;
    ++inner.depth;
    const std::string_view text = s_.substr(l.text_b, l.text_e - l.text_b);
    if (all_space(text)) {
      emit_text(l.url);
      return;
    }
    if (mode_ == mode::html && !st.link && allowed_link(l.url)) {
      out_ += "<a href=\"";
      append_attribute(out_, l.url);
      out_ += "\">";
      inner.link = true;
      render(l.text_b, l.text_e, inner);
      out_ += "</a>";
      return;
    }
    render(l.text_b, l.text_e, inner);
    if (text != l.url) {
      emit_text(" (");
      emit_text(l.url);
      emit_text(")");
    }
  }

  std::string_view s_;
  mode mode_;
  std::string& out_;
  std::vector<std::size_t> match_;
  std::vector<backtick_run> runs_;
};

void render_inline(std::string_view text, mode m, std::string& out, style st = {}) {
  inline_renderer(text, m, out).render(0, text.size(), st);
}

// ---------------------------------------------------------------------------------------------
// Block Markdown

struct fence {
  std::size_t indent;
  char ch;
  std::size_t len;
  std::string_view language;
};

std::size_t indentation(std::string_view line) {
  std::size_t n = 0;
  while (n < line.size() && (line[n] == ' ' || line[n] == '\t')) ++n;
  return n;
}

std::optional<fence> open_fence(std::string_view line) {
  const std::size_t indent = indentation(line);
  if (indent >= line.size() || (line[indent] != '`' && line[indent] != '~')) return std::nullopt;
  const char ch = line[indent];
  std::size_t len = 0;
  while (indent + len < line.size() && line[indent + len] == ch) ++len;
  if (len < 3) return std::nullopt;
  const std::string_view info = trim(line.substr(indent + len));
  // "```x``` more" on one line is an inline code span (CommonMark: no backtick in the info).
  if (ch == '`' && info.find('`') != npos) return std::nullopt;
  std::string_view language = info.substr(0, info.find_first_of(" \t"));
  if (language.size() > 32 || !std::all_of(language.begin(), language.end(), language_char)) language = {};
  return fence{indent, ch, len, language};
}

bool closes_fence(std::string_view line, const fence& f) {
  const std::string_view t = trim(line);
  return t.size() >= f.len && std::all_of(t.begin(), t.end(), [&](char c) { return c == f.ch; });
}

bool is_rule(std::string_view t) {
  if (t.empty() || (t[0] != '-' && t[0] != '*' && t[0] != '_')) return false;
  std::size_t n = 0;
  for (char c : t) {
    if (c == t[0]) {
      ++n;
    } else if (c != ' ' && c != '\t') {
      return false;
    }
  }
  return n >= 3;
}

// Lines joined with \n, blank lines collapsed to one and dropped at both ends.
class block_writer {
 public:
  void add(std::string_view rendered) {
    if (all_space(rendered)) {
      blank_ = !out_.empty();
      return;
    }
    if (!out_.empty()) out_ += blank_ ? "\n\n" : "\n";
    blank_ = false;
    out_ += out_.empty() ? trim(rendered) : rendered;
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  bool blank_ = false;
};

// One line that is not part of a fence: rule, heading, list item or paragraph text.
std::string render_line(std::string_view line, mode m) {
  std::string out;
  line = trim_right(line);
  const std::size_t indent = indentation(line);
  const std::string_view rest = line.substr(indent);
  if (rest.empty()) return out;
  if (is_rule(rest)) return "———";
  if (rest[0] == '#') {
    std::size_t level = 0;
    while (level < rest.size() && rest[level] == '#') ++level;
    if (level <= 6 && (level == rest.size() || rest[level] == ' ' || rest[level] == '\t')) {
      std::string_view title = trim(rest.substr(level));
      // An optional closing sequence: "## Title ##".
      const std::size_t hashes = title.find_last_not_of('#');
      if (hashes == npos) {
        title = {};
      } else if (hashes + 1 < title.size() && (title[hashes] == ' ' || title[hashes] == '\t')) {
        title = trim(title.substr(0, hashes));
      }
      if (title.empty()) return out;
      style st;
      st.bold = true;
      if (m == mode::html) out += "<b>";
      render_inline(title, m, out, st);
      if (m == mode::html) out += "</b>";
      return out;
    }
  }
  out += line.substr(0, indent);
  if ((rest[0] == '-' || rest[0] == '*' || rest[0] == '+') && rest.size() > 1 &&
      (rest[1] == ' ' || rest[1] == '\t')) {
    out += "• ";
    render_inline(trim(rest.substr(2)), m, out);
    return out;
  }
  std::size_t digits = 0;
  while (digits < rest.size() && is_digit(rest[digits])) ++digits;
  if (digits >= 1 && digits <= 9 && digits + 1 < rest.size() && (rest[digits] == '.' || rest[digits] == ')') &&
      (rest[digits + 1] == ' ' || rest[digits + 1] == '\t')) {
    out += rest.substr(0, digits + 1);
    out += ' ';
    render_inline(trim(rest.substr(digits + 2)), m, out);
    return out;
  }
  render_inline(rest, m, out);
  return out;
}

bool is_quote(std::string_view line) {
  const std::size_t indent = indentation(line);
  return indent <= 3 && indent < line.size() && line[indent] == '>';
}

// "> > text" → "text": nested quotes are flattened (Telegram cannot nest blockquotes).
std::string_view quote_content(std::string_view line) {
  while (is_quote(line)) {
    line.remove_prefix(indentation(line) + 1);
    if (!line.empty() && line[0] == ' ') line.remove_prefix(1);
  }
  return line;
}

std::string render_markdown(std::string_view markdown, mode m) {
  const std::string text = normalize_newlines(sanitize_utf8(markdown));
  std::vector<std::string_view> lines;
  for (std::size_t at = 0; at <= text.size();) {
    const std::size_t nl = std::min(text.find('\n', at), text.size());
    lines.push_back(std::string_view(text).substr(at, nl - at));
    at = nl + 1;
  }

  block_writer w;
  for (std::size_t i = 0; i < lines.size();) {
    if (const auto f = open_fence(lines[i])) {
      std::string code;
      std::size_t j = i + 1;
      for (; j < lines.size() && !closes_fence(lines[j], *f); ++j) {
        std::string_view l = lines[j];
        // Strip the fence's own indentation, so a fence inside a list item reads naturally.
        l.remove_prefix(std::min(f->indent, indentation(l)));
        if (j > i + 1) code += '\n';
        code += l;
      }
      i = j + 1;  // past the closing fence, or past the end when there is none
      while (!code.empty() && is_space(code.back())) code.pop_back();
      if (all_space(code)) continue;
      if (m == mode::plain) {
        w.add(code);
        continue;
      }
      std::string html = f->language.empty() ? "<pre>" : "<pre><code class=\"language-";
      if (!f->language.empty()) {
        html += f->language;
        html += "\">";
      }
      append_escaped(html, code);
      html += f->language.empty() ? "</pre>" : "</code></pre>";
      w.add(html);
      continue;
    }
    if (is_quote(lines[i])) {
      std::vector<std::string> quoted;
      for (; i < lines.size() && is_quote(lines[i]); ++i) quoted.push_back(render_line(quote_content(lines[i]), m));
      while (!quoted.empty() && all_space(quoted.back())) quoted.pop_back();
      const auto first = std::find_if(quoted.begin(), quoted.end(), [](auto& q) { return !all_space(q); });
      if (first == quoted.end()) continue;
      std::string block = m == mode::html ? "<blockquote>" : "";
      for (auto it = first; it != quoted.end(); ++it) {
        if (it != first) block += '\n';
        if (m == mode::plain) block += it->empty() ? ">" : "> ";
        block += *it;
      }
      if (m == mode::html) block += "</blockquote>";
      w.add(block);
      continue;
    }
    w.add(render_line(lines[i], m));
    ++i;
  }
  return w.take();
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

std::string markdown_to_html(std::string_view markdown) { return render_markdown(markdown, mode::html); }

std::string markdown_to_plain(std::string_view markdown) { return render_markdown(markdown, mode::plain); }

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
