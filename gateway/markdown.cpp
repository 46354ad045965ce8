#include "gateway/markdown.hpp"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

namespace openclawd::gateway {

namespace {

enum class target { html, plain, terminal };

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool all_space(std::string_view s) { return std::all_of(s.begin(), s.end(), is_space); }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (lower(s[i]) != prefix[i]) return false;
  return true;
}

// The schemes Telegram opens without surprises; anything else (javascript:, file:, data:, a
// relative path) is shown, not linked.
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
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '+' ||
         c == '#' || c == '.' || c == '-';
}

// "[1]", "[12]": a citation marker.
bool is_citation(std::string_view t) {
  return t.size() >= 3 && t.size() <= 6 && t.front() == '[' && t.back() == ']' &&
         std::all_of(t.begin() + 1, t.end() - 1, [](char c) { return c >= '0' && c <= '9'; });
}

// ---------------------------------------------------------------------------------------------
// Display width

// Decodes the code point at s[i] (valid UTF-8; cmark validated it) and advances i.
char32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto b = [&](std::size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[k])); };
  const char32_t c = b(i);
  std::size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  if (i + n > s.size()) n = s.size() - i;
  char32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (b(i + k) & 0x3F);
  i += n;
  return cp;
}

bool zero_width(char32_t c) {
  return (c >= 0x0300 && c <= 0x036F) || (c >= 0x1AB0 && c <= 0x1AFF) || (c >= 0x1DC0 && c <= 0x1DFF) ||
         (c >= 0x200B && c <= 0x200F) || (c >= 0x20D0 && c <= 0x20FF) || (c >= 0xFE00 && c <= 0xFE0F) ||
         (c >= 0xFE20 && c <= 0xFE2F) || (c >= 0x1F3FB && c <= 0x1F3FF) || (c >= 0xE0000 && c <= 0xE01EF);
}

// East Asian Wide (W) and Fullwidth (F) ranges of Unicode 15's EastAsianWidth.txt, merged, plus
// the emoji that terminals and Telegram draw two columns wide.
bool wide(char32_t c) {
  static constexpr std::pair<char32_t, char32_t> ranges[] = {
      {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},   {0x23F0, 0x23F0},
      {0x23F3, 0x23F3},   {0x25FD, 0x25FE},   {0x2614, 0x2615},   {0x2648, 0x2653},   {0x267F, 0x267F},
      {0x2693, 0x2693},   {0x26A1, 0x26A1},   {0x26AA, 0x26AB},   {0x26BD, 0x26BE},   {0x26C4, 0x26C5},
      {0x26CE, 0x26CE},   {0x26D4, 0x26D4},   {0x26EA, 0x26EA},   {0x26F2, 0x26F3},   {0x26F5, 0x26F5},
      {0x26FA, 0x26FA},   {0x26FD, 0x26FD},   {0x2705, 0x2705},   {0x270A, 0x270B},   {0x2728, 0x2728},
      {0x274C, 0x274C},   {0x274E, 0x274E},   {0x2753, 0x2755},   {0x2757, 0x2757},   {0x2795, 0x2797},
      {0x27B0, 0x27B0},   {0x27BF, 0x27BF},   {0x2B1B, 0x2B1C},   {0x2B50, 0x2B50},   {0x2B55, 0x2B55},
      {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
      {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},   {0xFE30, 0xFE6F},
      {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x16FE0, 0x18CFF}, {0x1B000, 0x1B2FF}, {0x1F004, 0x1F004},
      {0x1F0CF, 0x1F0CF}, {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F200, 0x1F2FF}, {0x1F300, 0x1F64F},
      {0x1F680, 0x1F6FF}, {0x1F7E0, 0x1F7EB}, {0x1F90C, 0x1F9FF}, {0x1FA70, 0x1FAFF}, {0x20000, 0x3FFFD}};
  for (const auto& [lo, hi] : ranges) {
    if (c < lo) return false;
    if (c <= hi) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The tree

struct cmark_deleter {
  void operator()(cmark_node* n) const { cmark_node_free(n); }
};
using document = std::unique_ptr<cmark_node, cmark_deleter>;

document parse(std::string_view markdown) {
  static std::once_flag registered;
  std::call_once(registered, [] { cmark_gfm_core_extensions_ensure_registered(); });
  // VALIDATE_UTF8: ill-formed bytes become U+FFFD, so every string taken from the tree is UTF-8.
  const int options = CMARK_OPT_VALIDATE_UTF8;
  std::unique_ptr<cmark_parser, decltype(&cmark_parser_free)> parser(cmark_parser_new(options), cmark_parser_free);
  for (const char* name : {"table", "strikethrough", "autolink"}) {
    if (cmark_syntax_extension* ext = cmark_find_syntax_extension(name))
      cmark_parser_attach_syntax_extension(parser.get(), ext);
  }
  cmark_parser_feed(parser.get(), markdown.data(), markdown.size());
  return document(cmark_parser_finish(parser.get()));
}

std::string_view literal(cmark_node* n) {
  const char* s = cmark_node_get_literal(n);
  return s ? std::string_view(s) : std::string_view();
}
std::string_view url_of(cmark_node* n) {
  const char* s = cmark_node_get_url(n);
  return s ? std::string_view(s) : std::string_view();
}
bool type_is(cmark_node* n, const char* name) { return std::strcmp(cmark_node_get_type_string(n), name) == 0; }

// The text of a subtree, without any markup, walked without recursion (for subtrees nested too
// deep to render, and for comparing a link's text with its URL).
std::string flat_text(cmark_node* root) {
  std::string out;
  cmark_iter* it = cmark_iter_new(root);
  for (cmark_event_type ev; (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE;) {
    if (ev != CMARK_EVENT_ENTER) continue;
    cmark_node* n = cmark_iter_get_node(it);
    switch (cmark_node_get_type(n)) {
      case CMARK_NODE_TEXT:
      case CMARK_NODE_CODE:
      case CMARK_NODE_HTML_INLINE:
        out += literal(n);
        break;
      case CMARK_NODE_CODE_BLOCK:
      case CMARK_NODE_HTML_BLOCK:
        out += literal(n);
        out += '\n';
        break;
      case CMARK_NODE_SOFTBREAK:
      case CMARK_NODE_LINEBREAK:
      case CMARK_NODE_PARAGRAPH:
      case CMARK_NODE_HEADING:
        if (!out.empty() && out.back() != '\n') out += '\n';
        break;
      default:
        break;
    }
  }
  cmark_iter_free(it);
  return out;
}

// The last source line with content in a block: a list item's end_line counts the blank lines
// after it, which would make every list look loose.
int content_end(cmark_node* n) {
  for (int guard = 0; guard < 10000; ++guard) {
    cmark_node* last = cmark_node_last_child(n);
    if (!last || (cmark_node_get_type(last) & CMARK_NODE_TYPE_MASK) != CMARK_NODE_TYPE_BLOCK) break;
    n = last;
  }
  return cmark_node_get_end_line(n);
}

// ---------------------------------------------------------------------------------------------
// Rendering

// Nesting deeper than this is rendered as flat text: real answers nest two or three deep, and
// the bound keeps the recursion's stack small for adversarial input (`>>>>…`, `*_*_*_…`).
constexpr int max_depth = 16;

struct inline_state {
  bool bold = false;
  bool italic = false;
  bool strike = false;
  bool link = false;
  int depth = 0;
};

// One rendered block. `raw` blocks (<pre>, <blockquote>, code in text) are not indented under a
// list item: their lines are content, not layout.
struct piece {
  std::string text;
  bool raw = false;
  int first_line = 0;
  int last_line = 0;
};

class renderer {
 public:
  renderer(target t, std::size_t width, bool ansi) : t_(t), width_(width), ansi_(ansi && t == target::terminal) {}

  std::string render(cmark_node* doc) {
    const std::string out = join(blocks(doc, false, 0));
    return std::string(trim(out));
  }

 private:
  // ----- text and styles

  void emit(std::string& out, std::string_view s) const {
    if (t_ == target::html) {
      for (char c : s) {
        switch (c) {
          case '<': out += "&lt;"; break;
          case '>': out += "&gt;"; break;
          case '&': out += "&amp;"; break;
          default: out += c;
        }
      }
    } else if (t_ == target::terminal) {
      // C0 controls but tab and newline, DEL and the C1 controls (U+0080-U+009F, C2 80-9F):
      // an ESC or CSI from the model must not reach the terminal.
      for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) {
          out += "\xEF\xBF\xBD";
        } else if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
          out += "\xEF\xBF\xBD";
          ++i;
        } else {
          out += s[i];
        }
      }
    } else {
      out += s;
    }
  }

  void emit_attribute(std::string& out, std::string_view s) const {
    for (char c : s) {
      if (c == '"') {
        out += "&quot;";
      } else {
        emit(out, std::string_view(&c, 1));
      }
    }
  }

  enum class style { bold, italic, strike };

  std::string_view open_code(style s) const {
    if (t_ == target::html) return s == style::bold ? "<b>" : s == style::italic ? "<i>" : "<s>";
    if (ansi_) return s == style::bold ? "\x1b[1m" : s == style::italic ? "\x1b[3m" : "\x1b[9m";
    return {};
  }
  std::string_view close_code(style s) const {
    if (t_ == target::html) return s == style::bold ? "</b>" : s == style::italic ? "</i>" : "</s>";
    if (ansi_) return s == style::bold ? "\x1b[22m" : s == style::italic ? "\x1b[23m" : "\x1b[29m";
    return {};
  }

  // ----- inlines

  void inlines(cmark_node* parent, std::string& out, inline_state st) const {
    if (st.depth > max_depth) {
      emit(out, flat_text(parent));
      return;
    }
    ++st.depth;
    for (cmark_node* n = cmark_node_first_child(parent); n; n = cmark_node_next(n)) inline_node(n, out, st);
  }

  void styled(cmark_node* n, std::string& out, inline_state st, style s) const {
    bool& on = s == style::bold ? st.bold : s == style::italic ? st.italic : st.strike;
    // Bold inside bold (strong text in a heading) adds no second tag.
    const bool tag = !on;
    on = true;
    if (tag) out += open_code(s);
    inlines(n, out, st);
    if (tag) out += close_code(s);
  }

  void inline_node(cmark_node* n, std::string& out, const inline_state& st) const {
    switch (cmark_node_get_type(n)) {
      case CMARK_NODE_TEXT:
      case CMARK_NODE_HTML_INLINE:  // raw HTML from a model is text
        emit(out, literal(n));
        return;
      case CMARK_NODE_SOFTBREAK:  // models mean a line break
      case CMARK_NODE_LINEBREAK:
        out += '\n';
        return;
      case CMARK_NODE_CODE:
        // Telegram's code entity cannot be part of a link.
        if (t_ == target::html && !st.link) {
          out += "<code>";
          emit(out, literal(n));
          out += "</code>";
        } else {
          emit(out, literal(n));
        }
        return;
      case CMARK_NODE_EMPH:
        styled(n, out, st, style::italic);
        return;
      case CMARK_NODE_STRONG:
        styled(n, out, st, style::bold);
        return;
      case CMARK_NODE_LINK:
      case CMARK_NODE_IMAGE:
        link(n, out, st);
        return;
      default:
        if (type_is(n, "strikethrough")) {
          styled(n, out, st, style::strike);
        } else {
          inlines(n, out, st);
        }
        return;
    }
  }

  void link(cmark_node* n, std::string& out, inline_state st) const {
    const std::string_view url = url_of(n);
    const std::string text = flat_text(n);
    if (all_space(text)) {
      emit(out, url);
      return;
    }
    if (t_ == target::html && !st.link && allowed_link(url)) {
      out += "<a href=\"";
      emit_attribute(out, url);
      out += "\">";
      st.link = true;
      inlines(n, out, st);
      out += "</a>";
      return;
    }
    st.link = true;
    inlines(n, out, st);
    // A citation's URL is in the sources list; an autolink's text is its URL already.
    if (url.empty() || (t_ != target::html && is_citation(text))) return;
    if (text == url || url == "http://" + text || url == "mailto:" + text) return;
    emit(out, " (");
    emit(out, url);
    emit(out, ")");
  }

  std::string inline_text(cmark_node* n, inline_state st = {}) const {
    std::string out;
    inlines(n, out, st);
    return out;
  }

  // ----- blocks

  std::string join(const std::vector<piece>& pieces) const {
    std::string out;
    const piece* prev = nullptr;
    for (const piece& p : pieces) {
      if (prev) out += p.first_line > prev->last_line + 1 ? "\n\n" : "\n";
      out += p.text;
      prev = &p;
    }
    return out;
  }

  static piece make(cmark_node* n, std::string text, bool raw = false) {
    return piece{std::move(text), raw, cmark_node_get_start_line(n), content_end(n)};
  }

  std::vector<piece> blocks(cmark_node* parent, bool in_quote, int depth) const {
    std::vector<piece> out;
    for (cmark_node* n = cmark_node_first_child(parent); n; n = cmark_node_next(n)) {
      if (depth > max_depth) {
        const std::string text(trim(flat_text(n)));
        if (!text.empty()) {
          std::string e;
          emit(e, text);
          out.push_back(make(n, std::move(e)));
        }
        continue;
      }
      block(n, in_quote, depth + 1, out);
    }
    return out;
  }

  void block(cmark_node* n, bool in_quote, int depth, std::vector<piece>& out) const {
    switch (cmark_node_get_type(n)) {
      case CMARK_NODE_PARAGRAPH: {
        std::string text = inline_text(n);
        if (!all_space(text)) out.push_back(make(n, std::move(text)));
        return;
      }
      case CMARK_NODE_HEADING: {
        inline_state st;
        st.bold = true;
        const std::string text = inline_text(n, st);
        if (all_space(text)) return;
        out.push_back(make(n, std::string(open_code(style::bold)) + text + std::string(close_code(style::bold))));
        return;
      }
      case CMARK_NODE_THEMATIC_BREAK:
        out.push_back(make(n, "———"));
        return;
      case CMARK_NODE_CODE_BLOCK:
        code_block(n, in_quote, out);
        return;
      case CMARK_NODE_HTML_BLOCK: {
        // Raw HTML from a model is text, shown as written.
        std::string text;
        emit(text, trim(literal(n)));
        if (!text.empty()) out.push_back(make(n, std::move(text)));
        return;
      }
      case CMARK_NODE_BLOCK_QUOTE:
        quote(n, in_quote, depth, out);
        return;
      case CMARK_NODE_LIST:
        list(n, in_quote, depth, out);
        return;
      default:
        if (type_is(n, "table")) {
          table(n, in_quote, out);
        } else {
          for (piece& p : blocks(n, in_quote, depth)) out.push_back(std::move(p));
        }
        return;
    }
  }

  void code_block(cmark_node* n, bool in_quote, std::vector<piece>& out) const {
    std::string_view code = literal(n);
    while (!code.empty() && is_space(code.back())) code.remove_suffix(1);
    // Leading blank lines are noise; the first line's indentation is code.
    while (!code.empty() && code.find('\n') != std::string_view::npos &&
           all_space(code.substr(0, code.find('\n'))))
      code.remove_prefix(code.find('\n') + 1);
    if (all_space(code)) return;
    std::string text;
    if (t_ != target::html) {
      emit(text, code);
      out.push_back(make(n, std::move(text), true));
      return;
    }
    if (in_quote) {  // no <pre> inside <blockquote>
      text = "<code>";
      emit(text, code);
      text += "</code>";
      out.push_back(make(n, std::move(text), true));
      return;
    }
    const char* info_c = cmark_node_get_fence_info(n);
    const std::string_view info = trim(info_c ? std::string_view(info_c) : std::string_view());
    std::string_view language = info.substr(0, std::min(info.size(), info.find_first_of(" \t")));
    if (language.size() > 32 || !std::all_of(language.begin(), language.end(), language_char)) language = {};
    if (language.empty()) {
      text = "<pre>";
    } else {
      text = "<pre><code class=\"language-";
      text += language;
      text += "\">";
    }
    emit(text, code);
    text += language.empty() ? "</pre>" : "</code></pre>";
    out.push_back(make(n, std::move(text), true));
  }

  void quote(cmark_node* n, bool in_quote, int depth, std::vector<piece>& out) const {
    std::vector<piece> inner = blocks(n, true, depth);
    // Telegram cannot nest quotes: a quote in a quote is part of the outer one.
    if (in_quote) {
      for (piece& p : inner) out.push_back(std::move(p));
      return;
    }
    const std::string body = join(inner);
    if (all_space(body)) return;
    if (t_ == target::html) {
      out.push_back(make(n, "<blockquote>" + body + "</blockquote>", true));
      return;
    }
    std::string text;
    std::size_t at = 0;
    while (at <= body.size()) {
      const std::size_t nl = std::min(body.find('\n', at), body.size());
      const std::string_view line = std::string_view(body).substr(at, nl - at);
      if (!text.empty()) text += '\n';
      text += line.empty() ? ">" : "> ";
      text += line;
      at = nl + 1;
    }
    out.push_back(make(n, std::move(text), true));
  }

  // Prefixes a block's lines: the first with `first`, the others with `rest`.
  static std::string indent(std::string_view text, std::string_view first, std::string_view rest) {
    std::string out(first);
    for (char c : text) {
      out += c;
      if (c == '\n') out += rest;
    }
    return out;
  }

  void list(cmark_node* n, bool in_quote, int depth, std::vector<piece>& out) const {
    const bool ordered = cmark_node_get_list_type(n) == CMARK_ORDERED_LIST;
    const char delim = cmark_node_get_list_delim(n) == CMARK_PAREN_DELIM ? ')' : '.';
    long number = cmark_node_get_list_start(n);
    for (cmark_node* item = cmark_node_first_child(n); item; item = cmark_node_next(item), ++number) {
      const std::string marker = ordered ? std::to_string(number) + delim + ' ' : "• ";
      // "• " is two columns, as many as "1." takes before its space: text lines up under text.
      const std::string pad(ordered ? marker.size() : 2, ' ');
      std::vector<piece> inner = blocks(item, in_quote, depth);
      if (inner.empty() || inner.front().raw) {
        piece p = make(item, std::string(trim(marker)));
        p.last_line = p.first_line;
        out.push_back(std::move(p));
      }
      bool first = !inner.empty() && !inner.front().raw;
      for (piece& p : inner) {
        if (!p.raw) {
          p.text = indent(p.text, first ? std::string_view(marker) : std::string_view(pad), pad);
          first = false;
        }
        out.push_back(std::move(p));
      }
    }
  }

  // ----- tables

  struct cell {
    std::string plain;  // for the aligned form, whatever the target
    std::string rich;   // for the list form
    cmark_node* node;
  };

  void table(cmark_node* n, bool in_quote, std::vector<piece>& out) const {
    std::vector<std::vector<cell>> rows;
    std::size_t columns = 0;
    bool has_header = false;
    const renderer plain_renderer(target::plain, width_, false);
    for (cmark_node* r = cmark_node_first_child(n); r; r = cmark_node_next(r)) {
      std::vector<cell> row;
      for (cmark_node* c = cmark_node_first_child(r); c; c = cmark_node_next(c)) {
        std::string plain = plain_renderer.inline_text(c);
        std::replace(plain.begin(), plain.end(), '\n', ' ');
        if (t_ == target::terminal) {
          std::string safe;
          emit(safe, plain);
          plain = std::move(safe);
        }
        row.push_back({std::string(trim(plain)), inline_text(c), c});
      }
      if (rows.empty() && type_is(r, "table_header")) has_header = true;
      columns = std::max(columns, row.size());
      rows.push_back(std::move(row));
    }
    if (rows.empty() || columns == 0) return;
    for (auto& row : rows) row.resize(columns, cell{{}, {}, nullptr});

    std::vector<std::size_t> widths(columns, 0);
    for (const auto& row : rows)
      for (std::size_t c = 0; c < columns; ++c) widths[c] = std::max(widths[c], display_width(row[c].plain));
    std::size_t total = 2 * (columns - 1);
    for (std::size_t w : widths) total += std::max<std::size_t>(w, 1);

    // <pre> cannot go inside a Telegram quote: there the list form always.
    const bool aligned = total <= width_ && !(t_ == target::html && in_quote);
    if (aligned) {
      out.push_back(make(n, aligned_table(n, rows, widths, has_header), true));
    } else {
      std::string text = listed_table(rows, has_header);
      if (!all_space(text)) out.push_back(make(n, std::move(text)));
    }
  }

  std::string aligned_table(cmark_node* n, const std::vector<std::vector<cell>>& rows,
                            const std::vector<std::size_t>& widths, bool has_header) const {
    const std::uint8_t* align = cmark_gfm_extensions_get_table_alignments(n);
    const std::size_t declared = cmark_gfm_extensions_get_table_columns(n);
    std::string text;
    const auto line = [&](const std::vector<cell>& row) {
      std::string l;
      for (std::size_t c = 0; c < row.size(); ++c) {
        const std::size_t w = std::max<std::size_t>(widths[c], 1);
        const std::size_t pad = w - std::min(w, display_width(row[c].plain));
        const char a = align && c < declared ? static_cast<char>(align[c]) : 'l';
        const std::size_t before = a == 'r' ? pad : a == 'c' ? pad / 2 : 0;
        if (c > 0) l += "  ";
        l.append(before, ' ');
        l += row[c].plain;
        l.append(pad - before, ' ');
      }
      while (!l.empty() && l.back() == ' ') l.pop_back();
      return l;
    };
    for (std::size_t r = 0; r < rows.size(); ++r) {
      if (r > 0) text += '\n';
      const std::string l = line(rows[r]);
      if (r == 0 && has_header && ansi_) {
        text += "\x1b[1m" + l + "\x1b[22m";
      } else {
        text += l;
      }
      if (r == 0 && has_header) {
        text += '\n';
        for (std::size_t c = 0; c < widths.size(); ++c) {
          if (c > 0) text += "  ";
          text.append(std::max<std::size_t>(widths[c], 1), '-');
        }
      }
    }
    if (t_ != target::html) return text;
    std::string html = "<pre>";
    emit(html, text);
    html += "</pre>";
    return html;
  }

  std::string listed_table(const std::vector<std::vector<cell>>& rows, bool has_header) const {
    std::string text;
    const std::size_t first_body = has_header && rows.size() > 1 ? 1 : 0;
    const bool headers = has_header && first_body == 1;
    for (std::size_t r = first_body; r < rows.size(); ++r) {
      std::string block;
      const auto& row = rows[r];
      if (row[0].node && !row[0].plain.empty()) {
        inline_state st;
        st.bold = true;
        block += open_code(style::bold);
        block += inline_text(row[0].node, st);
        block += close_code(style::bold);
      }
      for (std::size_t c = 1; c < row.size(); ++c) {
        if (row[c].plain.empty()) continue;
        if (!block.empty()) block += '\n';
        if (headers && !rows[0][c].plain.empty()) {
          emit(block, rows[0][c].plain);
          block += ": ";
        }
        block += row[c].rich;
      }
      if (block.empty()) continue;
      if (!text.empty()) text += "\n\n";
      text += block;
    }
    return text;
  }

  target t_;
  std::size_t width_;
  bool ansi_;
};

std::string render(std::string_view markdown, target t, std::size_t width, bool ansi) {
  const document doc = parse(markdown);
  if (!doc) return {};
  return renderer(t, width, ansi).render(doc.get());
}

}  // namespace

std::string markdown_to_telegram_html(std::string_view markdown) {
  return render(markdown, target::html, phone_table_columns, false);
}

std::string markdown_to_plain_text(std::string_view markdown, std::size_t table_width) {
  return render(markdown, target::plain, table_width, false);
}

std::string markdown_to_terminal(std::string_view markdown, std::size_t width, bool ansi) {
  return render(markdown, target::terminal, width, ansi);
}

std::size_t complete_blocks_length(std::string_view markdown) {
  std::size_t complete = 0;
  char fence_char = 0;
  std::size_t fence_len = 0;
  for (std::size_t at = 0; at < markdown.size();) {
    const std::size_t nl = markdown.find('\n', at);
    if (nl == std::string_view::npos) break;  // the last line is not finished yet
    std::string_view line = markdown.substr(at, nl - at);
    at = nl + 1;
    const std::string_view t = trim(line);
    if (fence_char == 0 && t.empty()) {
      complete = at;
      continue;
    }
    if (t.size() < 3 || (t[0] != '`' && t[0] != '~')) continue;
    std::size_t run = 0;
    while (run < t.size() && t[run] == t[0]) ++run;
    if (run < 3) continue;
    if (fence_char == 0) {
      fence_char = t[0];
      fence_len = run;
    } else if (t[0] == fence_char && run >= fence_len && run == t.size()) {
      fence_char = 0;
    }
  }
  return complete;
}

std::size_t display_width(std::string_view utf8) {
  std::size_t w = 0;
  bool joined = false;  // after a ZWJ, the next emoji is drawn into the one before
  for (std::size_t i = 0; i < utf8.size();) {
    const char32_t c = next_code_point(utf8, i);
    if (c == 0x200D) {
      joined = true;
      continue;
    }
    if (joined) {
      joined = false;
      continue;
    }
    if (zero_width(c)) continue;
    w += wide(c) ? 2 : 1;
  }
  return w;
}

}  // namespace openclawd::gateway
