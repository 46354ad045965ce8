// Readable text from fetched bytes (tools/page_extract.hpp, docs/page-extract.md).
//
// One decode path: every charset goes through ICU (ucnv) to UTF-8 first, and libxml2 parses
// that UTF-8 with the document's own charset hints switched off (HTML_PARSE_IGNORE_ENC), so
// the label we chose (header → BOM → <meta> prescan → UTF-8 if valid, else windows-1252) is
// the only one that counts, and the output is valid UTF-8 whatever the bytes were.
//
// Every walk over the DOM is iterative (parent/next pointers, or a flat pre-order vector), so
// no page can blow the stack; libxml2's own nesting limit (256 without HTML_PARSE_HUGE) also
// applies. Per-element figures the scoring needs (text length, link text, commas, counts of
// <p>/<img>/<li>) are computed once, bottom-up, in O(nodes); the scoring itself only walks a
// few ancestors per paragraph. So the work is linear in the page's size.
#include "tools/page_extract.hpp"

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <nlohmann/json.hpp>
#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>
#include <unicode/ucnv.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace openclawd::tools {

std::string_view to_string(extract_status s) {
  switch (s) {
    case extract_status::ok: return "ok";
    case extract_status::unsupported_type: return "unsupported_type";
    case extract_status::blocked: return "blocked";
    case extract_status::needs_javascript: return "needs_javascript";
    case extract_status::empty: return "empty";
    case extract_status::unreadable: return "unreadable";
  }
  return "unknown";
}

namespace {

// Bodies beyond this are read only up to it: the fetcher caps far lower (2 MB), this only
// bounds a direct caller. ICU and libxml2 take int lengths.
constexpr std::size_t max_input_bytes = 32u * 1024 * 1024;
constexpr std::size_t max_title_chars = 300;
constexpr int max_pdf_pages = 200;
// A page whose visible text is shorter than this, with scripts, is a JavaScript shell.
constexpr std::size_t js_shell_chars = 200;
// Bot walls are short pages: a long article that merely mentions Cloudflare is not one.
constexpr std::size_t blocked_max_chars = 3000;
// Readability's charThreshold: an article shorter than this is not trusted.
constexpr std::size_t article_min_chars = 500;

// ---------------------------------------------------------------- strings

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ascii_lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = lower(c);
  return r;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (lower(s[i]) != lower(prefix[i])) return false;
  return true;
}

std::size_t ifind(std::string_view hay, std::string_view needle, std::size_t from = 0) {
  if (needle.empty()) return from;
  for (std::size_t i = from; i + needle.size() <= hay.size(); ++i)
    if (istarts_with(hay.substr(i), needle)) return i;
  return std::string_view::npos;
}

bool icontains(std::string_view hay, std::string_view needle) { return ifind(hay, needle) != std::string_view::npos; }

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (n - i < len) return false;
    const auto c1 = static_cast<unsigned char>(s[i + 1]);
    if (c1 < lo || c1 > hi) return false;
    for (std::size_t k = 2; k < len; ++k) {
      const auto ck = static_cast<unsigned char>(s[i + k]);
      if (ck < 0x80 || ck > 0xBF) return false;
    }
    i += len;
  }
  return true;
}

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

std::size_t count_code_points(std::string_view s) {
  std::size_t n = 0;
  for (char c : s)
    if (!is_continuation(c)) ++n;
  return n;
}

// ---------------------------------------------------------------- final text

// Cuts `text` (valid UTF-8) to at most `max_chars` code points including the "…", on a
// paragraph, line, sentence or word boundary when one is near enough.
bool cap_text(std::string& text, std::size_t max_chars) {
  if (count_code_points(text) <= max_chars) return false;
  if (max_chars == 0) {
    text.clear();
    return true;
  }
  std::size_t keep = max_chars - 1, pos = 0, cps = 0;
  while (pos < text.size() && cps < keep) {
    ++pos;
    while (pos < text.size() && is_continuation(text[pos])) ++pos;
    ++cps;
  }
  std::string_view head(text.data(), pos);
  // A boundary in the last fifth of the kept text; otherwise cut mid-word.
  const std::size_t floor = pos - pos / 5;
  std::size_t cut = pos;
  for (std::string_view sep : {std::string_view("\n\n"), std::string_view("\n"), std::string_view(". "),
                               std::string_view(" ")}) {
    const std::size_t at = head.rfind(sep);
    if (at != std::string_view::npos && at >= floor && at > 0) {
      cut = sep == ". " ? at + 1 : at;
      break;
    }
  }
  text.resize(cut);
  while (!text.empty() && is_space(text.back())) text.pop_back();
  text += "\u2026";
  return true;
}

// Plain text for the model: no control characters but \n (tabs become spaces), no NULs,
// \r\n → \n, spaces at line ends dropped, at most one blank line in a row.
std::string tidy_plain(std::string_view in, bool collapse_spaces) {
  std::string out;
  out.reserve(in.size());
  int newlines = 0;
  bool space = false;
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '\r') {
      if (i + 1 < in.size() && in[i + 1] == '\n') continue;
      c = '\n';
    }
    if (c == '\f' || c == '\v') c = '\n';
    if (c == '\n') {
      space = false;
      ++newlines;
      continue;
    }
    const auto u = static_cast<unsigned char>(c);
    if (c == '\t' || u < 0x20 || u == 0x7F) c = ' ';
    if (c == ' ') {
      if (!collapse_spaces && newlines == 0 && !out.empty()) out += ' ';
      else space = true;
      continue;
    }
    if (!out.empty()) {
      if (newlines >= 2) out += "\n\n";
      else if (newlines == 1) out += '\n';
      else if (space) out += ' ';
    }
    newlines = 0;
    space = false;
    out += c;
  }
  // Spaces kept before a newline (collapse_spaces off) are trimmed line by line.
  if (!collapse_spaces) {
    std::string t;
    t.reserve(out.size());
    for (char c : out) {
      if (c == '\n')
        while (!t.empty() && t.back() == ' ') t.pop_back();
      t += c;
    }
    out = std::move(t);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// ---------------------------------------------------------------- content types

struct media_type {
  std::string mime;     // lower case, no parameters
  std::string charset;  // the charset parameter, as given
};

media_type parse_content_type(std::string_view ct) {
  media_type m;
  const std::size_t semi = ct.find(';');
  m.mime = ascii_lower(trim(ct.substr(0, semi)));
  if (semi == std::string_view::npos) return m;
  std::string_view params = ct.substr(semi + 1);
  while (!params.empty()) {
    const std::size_t next = params.find(';');
    std::string_view p = trim(params.substr(0, next));
    const std::size_t eq = p.find('=');
    if (eq != std::string_view::npos && ascii_lower(trim(p.substr(0, eq))) == "charset") {
      std::string_view v = trim(p.substr(eq + 1));
      if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
        v = v.substr(1, v.size() - 2);
      m.charset = std::string(trim(v));
    }
    if (next == std::string_view::npos) break;
    params.remove_prefix(next + 1);
  }
  return m;
}

enum class kind { html, text, markdown, json, pdf, unsupported };

std::size_t bom_length(std::string_view b, std::string& charset) {
  if (b.size() >= 3 && b.substr(0, 3) == "\xEF\xBB\xBF") {
    charset = "utf-8";
    return 3;
  }
  if (b.size() >= 2 && b.substr(0, 2) == "\xFF\xFE") {
    charset = "utf-16le";
    return 2;
  }
  if (b.size() >= 2 && b.substr(0, 2) == "\xFE\xFF") {
    charset = "utf-16be";
    return 2;
  }
  return 0;
}

bool looks_like_json(std::string_view b) {
  b = trim(b);
  return !b.empty() && (b.front() == '{' || b.front() == '[') && (b.back() == '}' || b.back() == ']');
}

// What the bytes are when the header says nothing useful (absent, or a generic type).
kind sniff(std::string_view body) {
  std::string bom;
  std::string_view b = body.substr(bom_length(body, bom));
  if (!bom.empty() && bom != "utf-8") {
    // UTF-16 text: HTML if it says so in its first characters, text otherwise.
    std::string ascii;
    for (std::size_t i = 0; i < std::min<std::size_t>(b.size(), 512); ++i)
      if (b[i] != '\0') ascii += b[i];
    return icontains(ascii, "<html") || icontains(ascii, "<!doctype html") ? kind::html : kind::text;
  }
  if (b.starts_with("%PDF-")) return kind::pdf;
  std::string_view head = trim(b.substr(0, 1024));
  for (std::string_view tag : {"<!doctype html", "<html", "<head", "<body", "<title", "<div", "<p>", "<meta",
                               "<script", "<h1", "<table", "<a ", "<br", "<!--"})
    if (istarts_with(head, tag)) return kind::html;
  if (istarts_with(head, "<?xml") && icontains(head, "<html")) return kind::html;
  if (looks_like_json(b.substr(0, std::min<std::size_t>(b.size(), max_input_bytes)))) return kind::json;
  // Text if the first bytes have no binary control characters (NUL, most C0).
  std::size_t bad = 0, n = std::min<std::size_t>(b.size(), 4096);
  for (std::size_t i = 0; i < n; ++i) {
    const auto u = static_cast<unsigned char>(b[i]);
    if (u < 0x20 && u != '\n' && u != '\r' && u != '\t' && u != '\f' && u != 0x1B) ++bad;
  }
  return bad * 50 <= n ? kind::text : kind::unsupported;
}

kind classify(const std::string& mime, std::string_view body) {
  if (mime.empty() || mime == "unknown/unknown" || mime == "application/unknown" || mime == "*/*") return sniff(body);
  if (mime == "text/html" || mime == "application/xhtml+xml") return kind::html;
  if (mime == "text/markdown" || mime == "text/x-markdown") return kind::markdown;
  if (mime == "application/json" || mime.ends_with("+json") || mime == "text/json") return kind::json;
  if (mime == "application/pdf" || mime == "application/x-pdf") return kind::pdf;
  // Servers label PDFs (and little else we read) as a download; look at the bytes.
  if (mime == "application/octet-stream" || mime == "binary/octet-stream" || mime == "application/download")
    return body.starts_with("%PDF-") ? kind::pdf : kind::unsupported;
  if (mime.starts_with("text/")) return kind::text;
  if (mime == "application/xml" || mime.ends_with("+xml") || mime == "application/javascript" ||
      mime == "application/x-javascript" || mime == "application/x-yaml" || mime == "application/yaml")
    return kind::text;
  return kind::unsupported;
}

std::string unsupported_note(const std::string& mime) {
  std::string what = mime.empty() ? "binary data" : mime;
  if (mime.starts_with("image/")) return "this link is an image (" + what + "), not a page with text";
  if (mime.starts_with("video/") || mime.starts_with("audio/"))
    return "this link is audio or video (" + what + "), not a page with text";
  if (mime.find("zip") != std::string::npos || mime.find("tar") != std::string::npos ||
      mime.find("compress") != std::string::npos || mime.find("rar") != std::string::npos)
    return "this link is an archive (" + what + "), which is not read";
  return "this link is " + what + ", which is not read (only HTML, text, Markdown, JSON and PDF are)";
}

// ---------------------------------------------------------------- charsets

// WHATWG's label rules where they differ from ICU's: browsers read latin1 and ASCII labels as
// windows-1252 (and so must we, or the pages' curly quotes turn into C1 controls), and GBK
// labels as GB18030, its superset.
std::string canonical_label(std::string_view label) {
  std::string l = ascii_lower(trim(label));
  if (l.size() >= 2 && (l.front() == '"' || l.front() == '\'')) l = l.substr(1, l.size() - 2);
  static const std::array<std::string_view, 14> latin1{"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "l1",
                                                       "us-ascii", "ascii", "ansi_x3.4-1968", "cp1252", "x-cp1252",
                                                       "windows-1252", "cp819", "ibm819", "iso-ir-100"};
  for (std::string_view x : latin1)
    if (l == x) return "windows-1252";
  if (l == "gb2312" || l == "gbk" || l == "x-gbk" || l == "chinese" || l == "csgb2312" || l == "gb_2312-80")
    return "gb18030";
  if (l == "shift_jis" || l == "shift-jis" || l == "sjis" || l == "x-sjis" || l == "ms_kanji" || l == "ms932" ||
      l == "windows-31j" || l == "csshiftjis")
    return "windows-31j";
  if (l == "euc-kr" || l == "ks_c_5601-1987" || l == "cseuckr") return "windows-949";
  if (l == "iso-8859-9" || l == "latin5") return "windows-1254";
  if (l == "tis-620" || l == "iso-8859-11") return "windows-874";
  if (l == "utf8" || l == "unicode-1-1-utf-8") return "utf-8";
  return l;
}

// The HTML5 prescan, simplified: the first <meta charset> or <meta http-equiv="content-type"
// content="…charset=…"> in the first 1024 bytes, skipping comments.
std::string meta_charset(std::string_view b) {
  b = b.substr(0, 1024);
  std::size_t i = 0;
  auto charset_in_content = [](std::string_view content) -> std::string {
    const std::size_t at = ifind(content, "charset");
    if (at == std::string_view::npos) return {};
    std::size_t p = at + 7;
    while (p < content.size() && is_space(content[p])) ++p;
    if (p >= content.size() || content[p] != '=') return {};
    ++p;
    while (p < content.size() && is_space(content[p])) ++p;
    std::size_t end = p;
    if (p < content.size() && (content[p] == '"' || content[p] == '\'')) {
      const char q = content[p++];
      end = content.find(q, p);
      if (end == std::string_view::npos) return {};
    } else {
      while (end < content.size() && !is_space(content[end]) && content[end] != ';') ++end;
    }
    return std::string(content.substr(p, end - p));
  };
  while (i < b.size()) {
    if (b.substr(i).starts_with("<!--")) {
      const std::size_t end = b.find("-->", i + 4);
      if (end == std::string_view::npos) return {};
      i = end + 3;
      continue;
    }
    if (istarts_with(b.substr(i), "<meta") && i + 5 < b.size() && (is_space(b[i + 5]) || b[i + 5] == '/')) {
      std::size_t p = i + 5;
      bool pragma = false;
      std::string charset, content;
      while (p < b.size() && b[p] != '>') {
        while (p < b.size() && (is_space(b[p]) || b[p] == '/')) ++p;
        std::size_t ns = p;
        while (p < b.size() && !is_space(b[p]) && b[p] != '=' && b[p] != '>' && b[p] != '/') ++p;
        std::string name = ascii_lower(b.substr(ns, p - ns));
        while (p < b.size() && is_space(b[p])) ++p;
        std::string value;
        if (p < b.size() && b[p] == '=') {
          ++p;
          while (p < b.size() && is_space(b[p])) ++p;
          if (p < b.size() && (b[p] == '"' || b[p] == '\'')) {
            const char q = b[p++];
            const std::size_t e = b.find(q, p);
            if (e == std::string_view::npos) return {};
            value = std::string(b.substr(p, e - p));
            p = e + 1;
          } else {
            const std::size_t vs = p;
            while (p < b.size() && !is_space(b[p]) && b[p] != '>') ++p;
            value = std::string(b.substr(vs, p - vs));
          }
        }
        if (name.empty() && p < b.size() && b[p] != '>') ++p;  // a stray character
        if (name == "charset" && charset.empty()) charset = value;
        else if (name == "http-equiv") pragma = ascii_lower(trim(value)) == "content-type";
        else if (name == "content") content = value;
      }
      if (!charset.empty()) return std::string(trim(charset));
      if (pragma) {
        std::string c = charset_in_content(content);
        if (!c.empty()) return c;
      }
      i = p;
      continue;
    }
    ++i;
  }
  return {};
}

struct decoded {
  std::string text;     // valid UTF-8
  std::string charset;  // what it was decoded from
  bool ok = false;
};

// `label` must be canonical_label()'d. Malformed bytes become U+FFFD (ICU's default).
decoded decode_with(std::string_view bytes, const std::string& label) {
  decoded d;
  UErrorCode err = U_ZERO_ERROR;
  UConverter* cnv = ucnv_open(label.c_str(), &err);
  if (U_FAILURE(err) || cnv == nullptr) return d;
  std::unique_ptr<UConverter, void (*)(UConverter*)> guard(cnv, ucnv_close);
  err = U_ZERO_ERROR;
  const icu::UnicodeString u(bytes.data(), static_cast<int32_t>(bytes.size()), cnv, err);
  if (U_FAILURE(err)) return d;
  u.toUTF8String(d.text);  // lone surrogates become U+FFFD
  d.charset = label;
  d.ok = true;
  return d;
}

// header charset → BOM → <meta> (HTML only) → UTF-8 if valid → windows-1252. A label ICU does
// not know is skipped (the next rule decides), as browsers do with unknown labels.
decoded decode_body(std::string_view body, const std::string& header_charset, bool html) {
  std::string bom;
  const std::size_t skip = bom_length(body, bom);
  // A BOM wins over the header (the WHATWG encoding sniffing order).
  if (!bom.empty()) {
    decoded d = decode_with(body.substr(skip), bom);
    if (d.ok) return d;
  }
  std::vector<std::string> labels;
  if (!header_charset.empty()) labels.push_back(canonical_label(header_charset));
  if (html) {
    std::string m = meta_charset(body);
    if (!m.empty()) {
      m = canonical_label(m);
      // A <meta> that claims UTF-16 is wrong by construction (we read it as ASCII).
      if (m.starts_with("utf-16")) m = "utf-8";
      // Pages saved or re-served as UTF-8 keep their old <meta charset=gb2312>; bytes that
      // are valid UTF-8 with multi-byte sequences are almost never legacy-encoded text, so
      // they win over a <meta> (never over the header, which the server chose).
      if (m != "utf-8" && valid_utf8(body) &&
          std::any_of(body.begin(), body.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }))
        m = "utf-8";
      labels.push_back(m);
    }
  }
  for (const std::string& l : labels) {
    decoded d = decode_with(body, l);
    if (d.ok) return d;
  }
  return decode_with(body, valid_utf8(body) ? "utf-8" : "windows-1252");
}

// ---------------------------------------------------------------- CSS (the page's own <style>)

struct simple_selector {
  std::string tag;  // empty: any
  std::string id;   // empty: any
  std::vector<std::string> classes;
};

// Parses a compound selector of the form tag, .a, #b, tag.a.b, tag#b.a; anything else
// (combinators, attributes, pseudo-classes) is not understood and matches nothing.
bool parse_simple_selector(std::string_view s, simple_selector& out) {
  s = trim(s);
  if (s.empty()) return false;
  for (char c : s)
    if (is_space(c) || c == '>' || c == '+' || c == '~' || c == '[' || c == ':' || c == '*' || c == '(')
      return false;
  std::size_t i = 0;
  auto ident = [&](std::size_t& p) {
    const std::size_t start = p;
    while (p < s.size() && s[p] != '.' && s[p] != '#') ++p;
    return std::string(s.substr(start, p - start));
  };
  if (s[0] != '.' && s[0] != '#') out.tag = ascii_lower(ident(i));
  while (i < s.size()) {
    const char c = s[i++];
    std::string name = ident(i);
    if (name.empty()) return false;
    if (c == '.') out.classes.push_back(std::move(name));
    else if (!out.id.empty()) return false;
    else out.id = std::move(name);
  }
  // `body {display:none}` is an anti-flicker trick that scripts undo; honouring it would
  // hide every page that uses it.
  if (out.id.empty() && out.classes.empty() && (out.tag == "html" || out.tag == "body")) return false;
  return true;
}

struct style_verdict {
  bool hides = false;
  bool shows = false;  // sets display to something other than none, or visibility:visible
};

double leading_number(std::string_view v, bool& ok) {
  ok = false;
  std::size_t i = 0;
  if (i < v.size() && (v[i] == '-' || v[i] == '+')) ++i;
  const std::size_t digits = i;
  while (i < v.size() && ((v[i] >= '0' && v[i] <= '9') || v[i] == '.')) ++i;
  if (i == digits) return 0;
  ok = true;
  try {
    return std::stod(std::string(v.substr(0, i)));
  } catch (...) {
    ok = false;
    return 0;
  }
}

// Declarations `a: b; c: d` → whether they hide the element. `all_tricks`: also the tricks
// that inline styles use to hide text from people but not from scrapers (zero size or
// opacity, off-screen, clipped); the <style> rules only count display and visibility, because
// classes like `.fade {opacity: 0}` are routinely undone by a script adding another class.
style_verdict judge_declarations(std::string_view decls, bool all_tricks) {
  style_verdict v;
  bool zero_height = false, zero_width = false, overflow_hidden = false;
  while (!decls.empty()) {
    const std::size_t semi = decls.find(';');
    std::string_view d = decls.substr(0, semi);
    decls = semi == std::string_view::npos ? std::string_view() : decls.substr(semi + 1);
    const std::size_t colon = d.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string name = ascii_lower(trim(d.substr(0, colon)));
    std::string value = ascii_lower(trim(d.substr(colon + 1)));
    if (const std::size_t bang = value.find('!'); bang != std::string::npos) value = std::string(trim(value.substr(0, bang)));
    bool num_ok = false;
    const double num = leading_number(value, num_ok);
    if (name == "display") {
      if (value == "none") v.hides = true;
      else v.shows = true;
    } else if (name == "visibility") {
      if (value == "hidden" || value == "collapse") v.hides = true;
      else if (value == "visible") v.shows = true;
    } else if (!all_tricks) {
      continue;
    } else if (name == "font-size" || name == "opacity") {
      if (num_ok && num == 0.0) v.hides = true;
    } else if (name == "height" || name == "max-height") {
      zero_height = num_ok && num == 0.0;
    } else if (name == "width" || name == "max-width") {
      zero_width = num_ok && num == 0.0;
    } else if (name == "overflow") {
      overflow_hidden = value == "hidden" || value == "clip";
    } else if (name == "left" || name == "top" || name == "text-indent" || name == "margin-left") {
      if (num_ok && num <= -999) v.hides = true;  // pushed off-screen
    } else if (name == "clip") {
      if (value.starts_with("rect(0") && value.find_first_of("123456789") == std::string::npos) v.hides = true;
    } else if (name == "clip-path") {
      if (value.starts_with("inset(50%") || value.starts_with("inset(100%") || value == "circle(0)" ||
          value.starts_with("circle(0 "))
        v.hides = true;
    } else if (name == "transform") {
      if (value == "scale(0)" || value.starts_with("scale(0,") || value.starts_with("scale(0 ")) v.hides = true;
    } else if (name == "color") {
      if (value == "transparent") v.hides = true;
    }
  }
  if ((zero_height || zero_width) && overflow_hidden) v.hides = true;
  return v;
}

struct css_rules {
  // Selectors keyed by what an element must have, so that matching is a few hash look-ups.
  std::unordered_map<std::string, std::vector<simple_selector>> hide_by_class, hide_by_id, show_by_class, show_by_id;
  std::unordered_map<std::string, std::vector<simple_selector>> hide_by_tag, show_by_tag;
  std::size_t count = 0;
};

constexpr std::size_t max_css_bytes = 1u << 20;
constexpr std::size_t max_css_selectors = 20000;

void add_selector(css_rules& rules, simple_selector sel, bool hide) {
  auto& by_class = hide ? rules.hide_by_class : rules.show_by_class;
  auto& by_id = hide ? rules.hide_by_id : rules.show_by_id;
  auto& by_tag = hide ? rules.hide_by_tag : rules.show_by_tag;
  ++rules.count;
  if (!sel.id.empty()) by_id[sel.id].push_back(std::move(sel));
  else if (!sel.classes.empty()) by_class[sel.classes.front()].push_back(std::move(sel));
  else by_tag[sel.tag].push_back(std::move(sel));
}

// Top-level rules of one <style> block. At-rule blocks (@media, @supports) are skipped
// whole: whether they apply depends on the screen.
void parse_css(std::string_view css, css_rules& rules, std::size_t& budget) {
  css = css.substr(0, std::min(css.size(), budget));
  budget -= css.size();
  std::string clean;  // without comments
  clean.reserve(css.size());
  for (std::size_t i = 0; i < css.size(); ++i) {
    if (css[i] == '/' && i + 1 < css.size() && css[i + 1] == '*') {
      const std::size_t end = css.find("*/", i + 2);
      if (end == std::string_view::npos) break;
      i = end + 1;
      continue;
    }
    clean += css[i];
  }
  std::string_view s(clean);
  std::size_t i = 0;
  while (i < s.size() && rules.count < max_css_selectors) {
    const std::size_t open = s.find('{', i);
    if (open == std::string_view::npos) break;
    std::string_view prelude = trim(s.substr(i, open - i));
    // The matching close brace, counting nesting.
    std::size_t depth = 1, p = open + 1;
    while (p < s.size() && depth > 0) {
      if (s[p] == '{') ++depth;
      else if (s[p] == '}') --depth;
      ++p;
    }
    std::string_view body = s.substr(open + 1, (depth == 0 ? p - 1 : p) - open - 1);
    i = p;
    // Stray `}` or `;` before the prelude (after an at-rule statement) are not part of it.
    if (const std::size_t cut = prelude.find_last_of(";}"); cut != std::string_view::npos)
      prelude = trim(prelude.substr(cut + 1));
    if (prelude.empty() || prelude.front() == '@' || body.find('{') != std::string_view::npos) continue;
    const style_verdict v = judge_declarations(body, false);
    if (!v.hides && !v.shows) continue;
    while (!prelude.empty()) {
      const std::size_t comma = prelude.find(',');
      simple_selector sel;
      if (parse_simple_selector(prelude.substr(0, comma), sel)) add_selector(rules, std::move(sel), v.hides);
      if (comma == std::string_view::npos) break;
      prelude.remove_prefix(comma + 1);
    }
  }
}

// ---------------------------------------------------------------- DOM helpers

std::string_view name_of(const xmlNode* n) {
  return n->name ? std::string_view(reinterpret_cast<const char*>(n->name)) : std::string_view();
}

std::string attr(const xmlNode* n, const char* name) {
  for (const xmlAttr* a = n->properties; a; a = a->next) {
    if (a->name && std::strcmp(reinterpret_cast<const char*>(a->name), name) == 0) {
      std::string v;
      for (const xmlNode* c = a->children; c; c = c->next)
        if (c->content) v += reinterpret_cast<const char*>(c->content);
      return v;
    }
  }
  return {};
}

bool has_attr(const xmlNode* n, const char* name) {
  for (const xmlAttr* a = n->properties; a; a = a->next)
    if (a->name && std::strcmp(reinterpret_cast<const char*>(a->name), name) == 0) return true;
  return false;
}

// The next node in document order, not descending into `n` when `skip_children`; nullptr
// past `root`'s subtree. Iterative: no recursion, whatever the depth.
xmlNode* next_node(xmlNode* n, const xmlNode* root, bool skip_children) {
  if (!skip_children && n->children && n->type == XML_ELEMENT_NODE) return n->children;
  while (n && n != root) {
    if (n->next) return n->next;
    n = n->parent;
  }
  return nullptr;
}

// The text content of a subtree, whitespace collapsed, at most `cap` bytes.
std::string collapsed_text(xmlNode* root, std::size_t cap = 4096) {
  std::string out;
  bool space = false;
  for (xmlNode* n = root; n && out.size() < cap; n = next_node(n, root, false)) {
    if (n->type != XML_TEXT_NODE && n->type != XML_CDATA_SECTION_NODE) continue;
    if (!n->content) continue;
    for (const char* p = reinterpret_cast<const char*>(n->content); *p && out.size() < cap; ++p) {
      if (is_space(*p)) {
        space = true;
        continue;
      }
      if (space && !out.empty()) out += ' ';
      space = false;
      out += *p;
    }
  }
  // The cap may have cut a character: drop its incomplete tail.
  std::size_t start = out.size();
  while (start > 0 && is_continuation(out[start - 1])) --start;
  if (start > 0) {
    const auto lead = static_cast<unsigned char>(out[start - 1]);
    const std::size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (out.size() - (start - 1) < want) out.resize(start - 1);
  }
  return out;
}

const std::unordered_set<std::string_view>& dropped_tags() {
  // What a browser does not show as text (or shows as a widget, not prose).
  static const std::unordered_set<std::string_view> s{
      "head",   "script", "style",    "template", "noscript", "iframe", "frame",  "frameset", "object",
      "embed",  "applet", "svg",      "canvas",   "math",     "input",  "select", "option",   "optgroup",
      "button", "textarea", "datalist", "audio",  "video",    "picture", "source", "track",   "map",
      "link",   "meta",   "base",     "title",    "dialog",   "param",  "portal", "slot",     "nav",
      "header", "footer", "aside",    "menu",     "img"};
  return s;
}

const std::unordered_set<std::string_view>& block_tags() {
  static const std::unordered_set<std::string_view> s{
      "address", "article", "blockquote", "body", "center", "dd", "details", "div", "dl", "dt", "fieldset",
      "figcaption", "figure", "form", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "main", "ol", "p", "pre",
      "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "caption", "br", "html",
      "hgroup", "legend", "listing", "plaintext", "xmp"};
  return s;
}

bool is_heading(std::string_view t) { return t.size() == 2 && t[0] == 'h' && t[1] >= '1' && t[1] <= '6'; }

bool is_block(std::string_view tag) { return block_tags().contains(tag); }

// readability's DIV_TO_P_ELEMS: a <div> holding none of these reads as a paragraph.
bool div_to_p_block(std::string_view t) {
  return t == "blockquote" || t == "dl" || t == "div" || t == "img" || t == "ol" || t == "p" || t == "pre" ||
         t == "table" || t == "ul" || t == "section" || t == "article" || is_heading(t);
}

// The break an element makes around itself: 3 a blank line, 2 a line, 1 a space (inside a
// table cell, where a line break would split the row), 0 none.
int break_level(std::string_view t, int cell) {
  if (t == "td" || t == "th") return 0;  // cells are joined by " | " on their row's line
  const bool line = t == "li" || t == "tr" || t == "dt" || t == "dd" || t == "br";
  if (!line && !is_block(t)) return 0;
  if (cell > 0) return 1;
  return line ? 2 : 3;
}


bool match_any(std::string_view hay, std::initializer_list<std::string_view> needles) {
  for (std::string_view n : needles)
    if (hay.find(n) != std::string_view::npos) return true;
  return false;
}

// mozilla/readability's regular expressions, as substring lists over the lowercased
// "class id" string (std::regex is far too slow for every element of a large page).
bool unlikely_candidate(std::string_view s) {
  return match_any(s, {"-ad-", "ai2html", "banner", "breadcrumbs", "combx", "comment", "community", "cover-wrap",
                       "disqus", "extra", "footer", "gdpr", "header", "legends", "menu", "related", "remark",
                       "replies", "rss", "shoutbox", "sidebar", "skyscraper", "social", "sponsor", "supplemental",
                       "ad-break", "agegate", "pagination", "pager", "popup", "yom-remote"});
}
bool maybe_candidate(std::string_view s) {
  return match_any(s, {"and", "article", "body", "column", "content", "main", "mathjax", "shadow"});
}
bool positive_name(std::string_view s) {
  return match_any(s, {"article", "body", "content", "entry", "hentry", "h-entry", "main", "page", "pagination",
                       "post", "text", "blog", "story"});
}
bool negative_name(std::string_view s) {
  if (match_any(s, {"-ad-", "hidden", "banner", "combx", "comment", "com-", "contact", "footer", "gdpr",
                    "masthead", "media", "meta", "outbrain", "promo", "related", "scroll", "share", "shoutbox",
                    "sidebar", "skyscraper", "sponsor", "shopping", "tags", "widget"}))
    return true;
  // \bhid\b
  std::size_t at = 0;
  while ((at = s.find("hid", at)) != std::string_view::npos) {
    const bool left = at == 0 || s[at - 1] == ' ';
    const bool right = at + 3 == s.size() || s[at + 3] == ' ';
    if (left && right) return true;
    at += 3;
  }
  return false;
}

bool is_comma(std::uint32_t cp) {
  return cp == 0x2C || cp == 0x60C || cp == 0xFE50 || cp == 0xFE10 || cp == 0xFE11 || cp == 0x2E41 ||
         cp == 0x2E34 || cp == 0x2E32 || cp == 0xFF0C || cp == 0x3001;
}

// ---------------------------------------------------------------- the HTML pipeline

struct node_info {
  xmlNode* node = nullptr;
  std::size_t text_len = 0;  // collapsed text length of the subtree (bytes of UTF-8)
  std::size_t link_len = 0;  // of that, inside <a>
  std::size_t commas = 0;
  std::size_t own_len = 0;  // direct text and inline children without blocks (a div's loose text)
  std::size_t own_commas = 0;
  std::uint32_t p_count = 0, img_count = 0, li_count = 0;
  bool has_block = false;  // a block element below
  bool unlikely = false;   // readability's unlikely-candidate removal (on this node's subtree)
  bool scored = false;
  double score = 0;
  std::string cls_id;  // lower-cased "class id"
};

std::size_t idx(const xmlNode* n) { return reinterpret_cast<std::uintptr_t>(n->_private); }

class html_extractor {
 public:
  html_extractor(std::string_view raw_utf8, const extract_options& opts) : raw_(raw_utf8), opts_(opts) {}

  extracted_page run();

 private:
  void survey();          // title, <style>, signs of bot walls and JS shells
  void drop_invisible();  // what a browser would not show
  void measure();         // per-element figures, bottom-up
  std::vector<xmlNode*> grab_article(bool strip_unlikely, bool weight_classes, double& top_score);
  bool layout_cell(const xmlNode* n, std::string_view t, int cell) const;
  std::string render(const std::vector<xmlNode*>& roots, bool clean, bool weight_classes, std::size_t limit,
                     bool& cut);
  int class_weight(const node_info& i) const;
  bool clean_away(const node_info& i, bool weight_classes) const;
  bool paragraph_wrapper(const xmlNode* div) const;
  double link_density(const node_info& i) const {
    return i.text_len == 0 ? 0.0 : static_cast<double>(i.link_len) / static_cast<double>(i.text_len);
  }
  bool hidden_by_css(xmlNode* n) const;

  std::string_view raw_;
  const extract_options& opts_;
  std::unique_ptr<xmlDoc, void (*)(xmlDoc*)> doc_{nullptr, xmlFreeDoc};
  xmlNode* body_ = nullptr;
  std::vector<node_info> info_;  // by pre-order index, [0] unused
  css_rules css_;
  std::string title_, og_title_, h1_;
  bool noscript_js_ = false, empty_app_root_ = false, challenge_marker_ = false;
  std::size_t scripts_ = 0;
};

void html_extractor::survey() {
  xmlNode* root = xmlDocGetRootElement(doc_.get());
  std::size_t css_budget = max_css_bytes;
  for (xmlNode* n = root; n; n = next_node(n, root, false)) {
    if (n->type != XML_ELEMENT_NODE) continue;
    const std::string_view t = name_of(n);
    if (t == "body" && !body_) body_ = n;
    if (t == "title" && title_.empty()) {
      title_ = collapsed_text(n, 2048);
    } else if (t == "meta" && og_title_.empty()) {
      const std::string prop = ascii_lower(attr(n, "property") + attr(n, "name"));
      if (prop == "og:title" || prop == "twitter:title") og_title_ = std::string(trim(attr(n, "content")));
    } else if (t == "style") {
      parse_css(collapsed_text(n, css_budget), css_, css_budget);
    } else if (t == "noscript") {
      // libxml2 parses <noscript> content as markup; its text tells a JS shell apart.
      const std::string s = collapsed_text(n, 2048);
      if (icontains(s, "javascript") || icontains(s, "enable js")) noscript_js_ = true;
    } else if (t == "script") {
      ++scripts_;
      const std::string src = attr(n, "src");
      if (icontains(src, "challenge-platform") || icontains(src, "captcha-delivery.com") ||
          icontains(src, "/_Incapsula_Resource") || icontains(src, "px-captcha"))
        challenge_marker_ = true;
    } else if (t == "div" || t == "main" || t == "section") {
      const std::string id = attr(n, "id");
      if ((id == "root" || id == "app" || id == "__next" || id == "___gatsby" || id == "__nuxt" || id == "q-app") &&
          collapsed_text(n, 64).empty())
        empty_app_root_ = true;
      if (id == "challenge-form" || id == "challenge-running" || id == "cf-wrapper" || id == "challenge-stage" ||
          id == "cf-challenge-running")
        challenge_marker_ = true;
    } else if (t == "h1" && h1_.empty()) {
      h1_ = collapsed_text(n, 2048);
    } else if (t == "form") {
      if (attr(n, "id") == "challenge-form" || icontains(attr(n, "action"), "__cf_chl")) challenge_marker_ = true;
    }
  }
  // Inline markers of the challenge scripts (they are often inline, not src=).
  const std::string_view head = raw_.substr(0, std::min<std::size_t>(raw_.size(), 256 * 1024));
  if (icontains(head, "window._cf_chl_opt") || icontains(head, "cf-browser-verification") ||
      icontains(head, "cdn-cgi/challenge-platform/h/") || icontains(head, "captcha-delivery.com") ||
      icontains(head, "_Incapsula_Resource"))
    challenge_marker_ = true;
}

bool html_extractor::hidden_by_css(xmlNode* n) const {
  if (css_.count == 0) return false;
  const std::string tag(name_of(n));
  const std::string id = attr(n, "id");
  std::vector<std::string> classes;
  {
    const std::string c = attr(n, "class");
    std::string_view s(c);
    while (!s.empty()) {
      while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
      std::size_t e = 0;
      while (e < s.size() && !is_space(s[e])) ++e;
      if (e > 0) classes.emplace_back(s.substr(0, e));
      s.remove_prefix(e);
      if (classes.size() > 64) break;
    }
  }
  auto matches = [&](const simple_selector& sel) {
    if (!sel.tag.empty() && sel.tag != tag) return false;
    if (!sel.id.empty() && sel.id != id) return false;
    for (const std::string& c : sel.classes)
      if (std::find(classes.begin(), classes.end(), c) == classes.end()) return false;
    return true;
  };
  auto any = [&](const std::unordered_map<std::string, std::vector<simple_selector>>& by_class,
                 const std::unordered_map<std::string, std::vector<simple_selector>>& by_id,
                 const std::unordered_map<std::string, std::vector<simple_selector>>& by_tag) {
    auto in = [&](const auto& map, const std::string& key) {
      const auto it = map.find(key);
      if (it == map.end()) return false;
      for (const simple_selector& sel : it->second)
        if (matches(sel)) return true;
      return false;
    };
    if (!id.empty() && in(by_id, id)) return true;
    for (const std::string& c : classes)
      if (in(by_class, c)) return true;
    return in(by_tag, tag);
  };
  // A later or more specific rule may show it again (`.tab {display:none} .tab.active
  // {display:block}`); without a cascade we let any showing rule win, erring on showing.
  return any(css_.hide_by_class, css_.hide_by_id, css_.hide_by_tag) &&
         !any(css_.show_by_class, css_.show_by_id, css_.show_by_tag);
}

void html_extractor::drop_invisible() {
  xmlNode* root = xmlDocGetRootElement(doc_.get());
  std::vector<xmlNode*> doomed;
  for (xmlNode* n = root; n;) {
    bool drop = false;
    if (n->type == XML_COMMENT_NODE || n->type == XML_PI_NODE || n->type == XML_DTD_NODE) {
      drop = true;
    } else if (n->type == XML_ELEMENT_NODE && n != root && name_of(n) != "body") {
      // <body> itself stays whatever its attributes say: sites set aria-hidden on it while a
      // dialog is open, and the text is still on the screen behind it.
      const std::string_view t = name_of(n);
      if (dropped_tags().contains(t)) drop = true;
      else if (has_attr(n, "hidden")) drop = true;
      else if (ascii_lower(trim(attr(n, "aria-hidden"))) == "true") drop = true;
      else if (const std::string role = ascii_lower(attr(n, "role"));
               role == "navigation" || role == "menu" || role == "menubar" || role == "complementary" ||
               role == "alert" || role == "alertdialog" || role == "dialog" || role == "banner" ||
               role == "contentinfo" || role == "search")
        drop = true;
      else if (has_attr(n, "style") && judge_declarations(attr(n, "style"), true).hides) drop = true;
      else if (hidden_by_css(n)) drop = true;
    }
    if (drop) doomed.push_back(n);
    n = next_node(n, root, drop);
  }
  for (xmlNode* n : doomed) {
    xmlUnlinkNode(n);
    xmlFreeNode(n);
  }
  // The <body> survey() found may have gone with a hidden ancestor (broken markup can put it
  // anywhere): look again.
  body_ = nullptr;
  for (xmlNode* n = root; n && !body_; n = next_node(n, root, false))
    if (n->type == XML_ELEMENT_NODE && name_of(n) == "body") body_ = n;
}

void html_extractor::measure() {
  info_.assign(1, node_info{});
  if (!body_) return;
  // Pre-order numbering (index in _private), then figures bottom-up in reverse order.
  std::vector<std::size_t> parent_of(1, 0);
  for (xmlNode* n = body_; n; n = next_node(n, body_, false)) {
    if (n->type != XML_ELEMENT_NODE && n->type != XML_TEXT_NODE && n->type != XML_CDATA_SECTION_NODE) continue;
    node_info i;
    i.node = n;
    if (n->type == XML_ELEMENT_NODE) {
      const std::string c = attr(n, "class"), id = attr(n, "id");
      i.cls_id = ascii_lower(c.substr(0, 512) + " " + id.substr(0, 256));
    }
    n->_private = reinterpret_cast<void*>(static_cast<std::uintptr_t>(info_.size()));
    parent_of.push_back(n == body_ ? 0 : idx(n->parent));
    info_.push_back(std::move(i));
  }
  for (std::size_t k = info_.size() - 1; k >= 1; --k) {
    node_info& i = info_[k];
    xmlNode* n = i.node;
    if (n->type != XML_ELEMENT_NODE) {
      // Text: collapsed length and commas.
      bool space = true;
      if (n->content) {
        for (const unsigned char* p = n->content; *p; ++p) {
          if (is_space(static_cast<char>(*p))) {
            if (!space) ++i.text_len;
            space = true;
            continue;
          }
          space = false;
          ++i.text_len;
          if (*p == ',') ++i.commas;
          else if (*p >= 0xE0 && p[1] && p[2]) {  // the 3-byte commas (Arabic's is 2 bytes, rare)
            const std::uint32_t cp = ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
            if ((p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 && is_comma(cp)) ++i.commas;
          }
        }
      }
      i.own_len = i.text_len;
      i.own_commas = i.commas;
    } else {
      const std::string_view t = name_of(n);
      if (t == "p") ++i.p_count;
      if (t == "img") ++i.img_count;
      if (t == "li") ++i.li_count;
    }
    if (k == 1 || parent_of[k] == 0) continue;
    node_info& p = info_[parent_of[k]];
    p.text_len += i.text_len;
    p.commas += i.commas;
    p.p_count += i.p_count;
    p.img_count += i.img_count;
    p.li_count += i.li_count;
    const bool child_block = i.node->type == XML_ELEMENT_NODE && (div_to_p_block(name_of(i.node)) || i.has_block);
    p.has_block = p.has_block || child_block;
    if (!child_block) {
      p.own_len += i.node->type == XML_ELEMENT_NODE ? i.text_len : i.own_len;
      p.own_commas += i.commas;
    }
  }
  // Link text: an <a>'s whole text, summed upward (an <a> inside an <a> counts once).
  std::vector<std::size_t> links(info_.size(), 0);
  for (std::size_t k = info_.size() - 1; k >= 1; --k) {
    node_info& i = info_[k];
    if (i.node->type == XML_ELEMENT_NODE && name_of(i.node) == "a") links[k] = i.text_len;
    links[k] = std::min(links[k], i.text_len);
    i.link_len = links[k];
    if (parent_of[k] != 0) links[parent_of[k]] += links[k];
  }
}

int html_extractor::class_weight(const node_info& i) const {
  if (i.node->type != XML_ELEMENT_NODE) return 0;
  int w = 0;
  const std::string c = ascii_lower(attr(i.node, "class")), id = ascii_lower(attr(i.node, "id"));
  if (!c.empty()) {
    if (negative_name(c)) w -= 25;
    if (positive_name(c)) w += 25;
  }
  if (!id.empty()) {
    if (negative_name(id)) w -= 25;
    if (positive_name(id)) w += 25;
  }
  return w;
}

std::vector<xmlNode*> html_extractor::grab_article(bool strip_unlikely, bool weight_classes, double& top_score) {
  top_score = 0;
  for (node_info& i : info_) {
    i.unlikely = false;
    i.scored = false;
    i.score = 0;
  }
  std::vector<std::size_t> candidates;
  auto initialize = [&](node_info& i) {
    i.scored = true;
    const std::string_view t = name_of(i.node);
    double s = 0;
    if (t == "div") s = 5;
    else if (t == "pre" || t == "td" || t == "blockquote") s = 3;
    else if (t == "address" || t == "ol" || t == "ul" || t == "dl" || t == "dd" || t == "dt" || t == "li" ||
             t == "form")
      s = -3;
    else if (is_heading(t) || t == "th")
      s = -5;
    if (weight_classes) s += class_weight(i);
    i.score = s;
    candidates.push_back(idx(i.node));
  };
  for (std::size_t k = 1; k < info_.size(); ++k) {
    node_info& i = info_[k];
    xmlNode* n = i.node;
    if (n->type != XML_ELEMENT_NODE) continue;
    if (n->parent && n->parent->_private && n != body_ && info_[idx(n->parent)].unlikely) {
      i.unlikely = true;
      continue;
    }
    const std::string_view t = name_of(n);
    if (strip_unlikely && t != "body" && t != "a" && unlikely_candidate(i.cls_id) && !maybe_candidate(i.cls_id)) {
      bool in_table_or_code = false;
      for (xmlNode* a = n->parent; a && a != body_; a = a->parent)
        if (name_of(a) == "table" || name_of(a) == "code") {
          in_table_or_code = true;
          break;
        }
      if (!in_table_or_code) {
        i.unlikely = true;
        continue;
      }
    }
    // What readability scores: paragraphs, cells, pre, sections, sub-headings, and divs that
    // hold no block (it turns them into <p>) or loose text (which it wraps in a <p>).
    std::size_t len = 0, commas = 0;
    xmlNode* first_ancestor = n->parent;
    if (t == "p" || t == "pre" || t == "td" || t == "section" || (is_heading(t) && t != "h1")) {
      len = i.text_len;
      commas = i.commas;
    } else if (t == "div" && !i.has_block) {
      len = i.text_len;
      commas = i.commas;
    } else if (t == "div" && i.own_len > 0) {
      len = i.own_len;
      commas = i.own_commas;
      first_ancestor = n;  // the wrapping <p>'s parent is the div itself
    } else {
      continue;
    }
    // readability replaces a <div> that holds nothing but this <p> (and little link text) by the
    // <p>, so the paragraph scores the div's parent. One level, as its top-down walk does.
    if (t == "p" && first_ancestor && first_ancestor->parent && first_ancestor->parent->_private &&
        paragraph_wrapper(first_ancestor))
      first_ancestor = first_ancestor->parent;
    if (len < 25 || !first_ancestor || first_ancestor->type != XML_ELEMENT_NODE || !first_ancestor->_private)
      continue;
    const double content = 1.0 + static_cast<double>(commas) + std::min(std::floor(static_cast<double>(len) / 100.0), 3.0);
    int level = 0;
    for (xmlNode* a = first_ancestor; a && a->type == XML_ELEMENT_NODE && a->_private && level < 5;
         a = a->parent, ++level) {
      if (!a->parent || a->parent->type != XML_ELEMENT_NODE) break;  // readability skips <html>
      node_info& ai = info_[idx(a)];
      if (!ai.scored) initialize(ai);
      const double divider = level == 0 ? 1.0 : level == 1 ? 2.0 : level * 3.0;
      ai.score += content / divider;
      if (a == body_) break;
    }
  }
  // Scale by link density; the best one.
  node_info* top = nullptr;
  for (std::size_t k : candidates) {
    node_info& c = info_[k];
    c.score *= 1.0 - link_density(c);
    if (!top || c.score > top->score) top = &c;
  }
  if (!top || top->node == body_) {
    top_score = top ? top->score : 0;
    return {body_};
  }
  // A page cut into steps or cards puts each part in a small container of its own, so the best
  // candidate is one part. readability's _findBetterTopCandidate: when three or more of the five
  // best candidates score within 75% of the best and share one of its ancestors, that ancestor
  // is the article.
  if (top->score > 0) {
    std::vector<node_info*> best;
    for (std::size_t k : candidates) best.push_back(&info_[k]);
    const std::size_t n_best = std::min<std::size_t>(best.size(), 5);
    std::partial_sort(best.begin(), best.begin() + static_cast<std::ptrdiff_t>(n_best), best.end(),
                      [](const node_info* a, const node_info* b) { return a->score > b->score; });
    std::vector<xmlNode*> alternatives;
    for (std::size_t k = 0; k < n_best; ++k)
      if (best[k] != top && best[k]->score / top->score >= 0.75) alternatives.push_back(best[k]->node);
    if (alternatives.size() >= 3) {
      for (xmlNode* p = top->node->parent; p && p != body_ && p->_private; p = p->parent) {
        int containing = 0;
        for (xmlNode* alt : alternatives)
          for (xmlNode* a = alt->parent; a; a = a->parent)
            if (a == p) {
              ++containing;
              break;
            }
        if (containing >= 3) {
          top = &info_[idx(p)];
          if (!top->scored) initialize(*top);
          break;
        }
      }
    }
  }
  // Climb while the parent scores well enough (readability's parent walk).
  {
    double last = top->score;
    const double threshold = last / 3.0;
    for (xmlNode* p = top->node->parent; p && p != body_ && p->_private; p = p->parent) {
      node_info& pi = info_[idx(p)];
      if (!pi.scored) continue;
      if (pi.score < threshold) break;
      if (pi.score > last) {
        top = &pi;
        break;
      }
      last = pi.score;
    }
  }
  // An only child says nothing its parent does not.
  while (top->node->parent && top->node->parent != body_ && top->node->parent->_private) {
    std::size_t elements = 0;
    for (xmlNode* c = top->node->parent->children; c; c = c->next)
      if (c->type == XML_ELEMENT_NODE) ++elements;
    if (elements != 1) break;
    top = &info_[idx(top->node->parent)];
  }
  top_score = top->score;
  // Siblings that belong to the article.
  std::vector<xmlNode*> article;
  xmlNode* parent = top->node->parent;
  if (!parent || !parent->_private) return {top->node};
  const double threshold = std::max(10.0, top->score * 0.2);
  const std::string top_class = attr(top->node, "class");
  for (xmlNode* s = parent->children; s; s = s->next) {
    if (s->type != XML_ELEMENT_NODE || !s->_private) continue;
    const node_info& si = info_[idx(s)];
    if (si.unlikely) continue;
    bool append = s == top->node;
    if (!append) {
      double bonus = 0;
      if (!top_class.empty() && attr(s, "class") == top_class) bonus = top->score * 0.2;
      if (si.scored && si.score + bonus >= threshold) {
        append = true;
      } else if (name_of(s) == "p" || paragraph_wrapper(s)) {  // a wrapper is the <p> it holds
        const double ld = link_density(si);
        const std::size_t len = si.text_len;
        if (len > 80 && ld < 0.25) {
          append = true;
        } else if (len < 80 && len > 0 && ld == 0.0) {
          const std::string txt = collapsed_text(s, 1024);
          append = txt.find(". ") != std::string::npos || txt.ends_with(".");
        }
      }
    }
    if (append) article.push_back(s);
  }
  return article;
}

// A <div> that readability replaces by the one <p> it holds: nothing else in it (no other
// element, no loose text) and little link text. (test_issue28's story opens with five such divs
// beside the container that holds the rest.)
bool html_extractor::paragraph_wrapper(const xmlNode* div) const {
  if (!div || !div->_private || name_of(div) != "div") return false;
  const node_info& d = info_[idx(div)];
  const xmlNode* only = nullptr;
  for (const xmlNode* c = div->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE) continue;
    if (only) return false;
    only = c;
  }
  return only && name_of(only) == "p" && d.own_len == 0 && link_density(d) < 0.25;
}

// readability's _cleanConditionally, on the figures measured once.
bool html_extractor::clean_away(const node_info& i, bool weight_classes) const {
  const std::string_view t = name_of(i.node);
  if (t != "div" && t != "section" && t != "ul" && t != "ol" && t != "table" && t != "form" && t != "fieldset")
    return false;
  const int weight = weight_classes ? class_weight(i) : 0;
  if (weight < 0) return true;
  if (i.commas >= 10) return false;
  const bool is_list = t == "ul" || t == "ol";
  const double ld = link_density(i);
  const double p = i.p_count, img = i.img_count, li = static_cast<double>(i.li_count) - 100.0;
  if (t == "table") return ld > 0.5;  // data tables stay unless they are link farms
  if (img > 1 && p / img < 0.5) return true;
  if (!is_list && li > p) return true;
  if (!is_list && i.text_len < 25 && (img == 0 || img > 2) && ld > 0) return true;
  if (!is_list && weight < 25 && ld > 0.2) return true;
  if (weight >= 25 && ld > 0.5) return true;
  // No rule on embeds: readability removes the <object>/<embed>/<iframe>s that are not videos
  // before this step and keeps a block with a video, so its embed count never removes text. We
  // never output an embed, so the block's text stays either way.
  return false;
}

class text_sink {
 public:
  explicit text_sink(std::size_t limit) : limit_(limit) {}
  void brk(int level) { pending_ = std::max(pending_, level); }
  void prefix(std::string p) { prefix_ = std::move(p); }
  void text(std::string_view t, bool pre) {
    for (std::size_t k = 0; k < t.size() && !full(); ++k) {
      char c = t[k];
      if (pre) {
        if (c == '\r') continue;
        if (c == '\n') {
          if (pending_ >= 2) continue;  // the block break before the <pre> is the line break
          flush_pending();
          out_ += '\n';
          line_start_ = true;
          continue;
        }
        if (c == '\t' || c == ' ') {
          if (!out_.empty() || !line_start_) {
            flush_pending();
            out_ += ' ';
          }
          continue;
        }
      } else if (is_space(c)) {
        if (!out_.empty()) brk(1);
        continue;
      } else if (c == '\xC2' && k + 1 < t.size() && t[k + 1] == '\xA0') {  // no-break space
        ++k;
        if (!out_.empty()) brk(1);
        continue;
      }
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7F) continue;
      flush_pending();
      out_ += c;
      line_start_ = false;
      if (!is_continuation(c)) ++cps_;
    }
  }
  bool full() const { return cps_ > limit_; }
  std::string take() {
    while (!out_.empty() && is_space(out_.back())) out_.pop_back();
    return std::move(out_);
  }

 private:
  void flush_pending() {
    if (!out_.empty()) {
      if (pending_ >= 3) out_ += "\n\n";
      else if (pending_ == 2) out_ += '\n';
      else if (pending_ == 1 && !line_start_ && !prefix_.starts_with(' ')) out_ += ' ';  // " | " has its own
      if (pending_ >= 2) line_start_ = true;
    }
    pending_ = 0;
    if (!prefix_.empty()) {
      out_ += prefix_;
      cps_ += count_code_points(prefix_);
      prefix_.clear();
    }
  }
  std::string out_;
  std::string prefix_;
  std::size_t limit_, cps_ = 0;
  int pending_ = 0;
  bool line_start_ = true;
};

// A table cell that holds blocks with paragraphs, list items or much text is layout (old sites
// put the whole article in one), so it is rendered as blocks; a cell of a data table (a value,
// perhaps with an image) is joined with its row's others by " | ". Only outside another cell:
// `cell` is the same entering and leaving a layout cell (it is not counted), so both ends
// decide alike.
bool html_extractor::layout_cell(const xmlNode* n, std::string_view t, int cell) const {
  if (cell != 0 || (t != "td" && t != "th") || !n->_private) return false;
  const node_info& i = info_[idx(n)];
  return i.has_block && (i.p_count > 0 || i.li_count > 0 || i.text_len >= 200);
}

std::string html_extractor::render(const std::vector<xmlNode*>& roots, bool clean, bool weight_classes,
                                   std::size_t limit, bool& cut) {
  text_sink sink(limit);
  bool title_heading_skipped = false;
  const std::string& title = !og_title_.empty() ? og_title_ : title_;
  std::vector<int> row_cells;  // cells seen in each open <tr>
  for (xmlNode* root : roots) {
    sink.brk(3);
    int pre = 0, cell = 0;
    xmlNode* n = root;
    while (n && !sink.full()) {
      bool skip = false;
      if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
        if (n->content) sink.text(reinterpret_cast<const char*>(n->content), pre > 0);
      } else if (n->type == XML_ELEMENT_NODE) {
        const std::string_view t = name_of(n);
        const node_info* i = n->_private ? &info_[idx(n)] : nullptr;
        if (i && clean && (i->unlikely || (n != root && clean_away(*i, weight_classes)))) {
          skip = true;
        } else if (is_heading(t) && !title_heading_skipped && (t == "h1" || t == "h2") && !title.empty() &&
                   collapsed_text(n, 1024) == title) {
          skip = true;  // the title is given apart
          title_heading_skipped = true;
        } else if (layout_cell(n, t, cell)) {
          sink.brk(3);  // a page laid out in a table: the cell is a block of blocks, not a value
        } else {
          if (const int block = break_level(t, cell)) sink.brk(block);
          if (t == "li" && cell == 0) sink.prefix("- ");
          if (t == "tr") row_cells.push_back(0);
          if ((t == "td" || t == "th") && !row_cells.empty()) {
            if (row_cells.back()++ > 0) sink.prefix(" | ");
          }
          if (t == "td" || t == "th") ++cell;
          if (t == "pre" || t == "xmp" || t == "listing" || t == "plaintext") ++pre;
        }
      }
      // Advance, leaving elements on the way up.
      if (!skip && n->type == XML_ELEMENT_NODE && n->children) {
        n = n->children;
        continue;
      }
      while (n) {
        if (n->type == XML_ELEMENT_NODE && !skip && layout_cell(n, name_of(n), cell)) {
          sink.brk(3);
        } else if (n->type == XML_ELEMENT_NODE && !skip) {
          const std::string_view t = name_of(n);
          if (t == "td" || t == "th") --cell;
          if (t == "tr" && !row_cells.empty()) row_cells.pop_back();
          if (t == "pre" || t == "xmp" || t == "listing" || t == "plaintext") --pre;
          if (const int block = break_level(t, cell)) sink.brk(block);
        }
        skip = false;
        if (n == root) {
          n = nullptr;
          break;
        }
        if (n->next) {
          n = n->next;
          break;
        }
        n = n->parent;
      }
    }
    row_cells.clear();
    if (sink.full()) break;
  }
  std::string text = sink.take();
  cut = cap_text(text, limit);
  return text;
}

std::string clean_title(std::string t) {
  t = tidy_plain(t, true);
  for (char& c : t)
    if (c == '\n') c = ' ';
  cap_text(t, max_title_chars);
  return t;
}

// HTML5's void elements that libxml2's HTML 4 parser (2.9) does not know as empty: it nests
// everything after `<embed src=…>` inside it, and the extractor would skip that text with the
// embed. A browser closes them at once, so their children move out to follow them. Iterative,
// like every walk here (the nesting can be as deep as the page).
void unnest_void_elements(xmlNode* root) {
  for (xmlNode* n = root; n;) {
    if (n->type == XML_ELEMENT_NODE && n->children) {
      const std::string_view t = name_of(n);
      if (t == "embed" || t == "source" || t == "track" || t == "wbr" || t == "keygen") {
        for (xmlNode* c = n->last; c;) {  // last first, so each lands right after n in order
          xmlNode* prev = c->prev;
          xmlUnlinkNode(c);
          xmlAddNextSibling(n, c);
          c = prev;
        }
      }
    }
    if (n->children && n->type == XML_ELEMENT_NODE) {
      n = n->children;
      continue;
    }
    while (n && n != root && !n->next) n = n->parent;
    n = (n && n != root) ? n->next : nullptr;
  }
}

extracted_page html_extractor::run() {
  extracted_page page;
  page.kind = "html";
  const int options = HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET |
                      HTML_PARSE_IGNORE_ENC | HTML_PARSE_COMPACT;
  doc_.reset(htmlReadMemory(raw_.data(), static_cast<int>(raw_.size()), nullptr, "UTF-8", options));
  if (!doc_ || !xmlDocGetRootElement(doc_.get())) {
    page.status = extract_status::empty;
    page.note = "the page has no readable text";
    return page;
  }
  unnest_void_elements(xmlDocGetRootElement(doc_.get()));
  survey();
  page.title = clean_title(!og_title_.empty() ? og_title_ : !title_.empty() ? title_ : h1_);
  drop_invisible();
  if (!body_) {
    // libxml2 always makes a <body> for content; none means nothing visible.
    page.status = extract_status::empty;
    page.note = "the page has no readable text";
    return page;
  }
  measure();

  bool cut = false;
  // At least a few thousand characters, so that a small max_chars does not make a page look
  // like a JavaScript shell or a bot wall.
  std::string whole = render({body_}, false, false, std::max<std::size_t>(opts_.max_chars, 4096), cut);
  const std::size_t visible = count_code_points(whole);
  const std::string low_title = ascii_lower(title_);
  const bool challenge_title = low_title == "just a moment..." || low_title == "just a moment…" ||
                               low_title.starts_with("attention required! | cloudflare") ||
                               low_title == "access denied" || low_title == "pardon our interruption" ||
                               low_title == "please wait..." || low_title == "ddos-guard" ||
                               low_title.starts_with("you have been blocked") || low_title == "403 forbidden" ||
                               low_title == "request rejected" || low_title == "bot verification";
  const bool challenge_text = icontains(whole.substr(0, 4096), "checking your browser before accessing") ||
                              icontains(whole.substr(0, 4096), "sorry, you have been blocked") ||
                              icontains(whole.substr(0, 4096), "verify you are human") ||
                              icontains(whole.substr(0, 4096), "enable javascript and cookies to continue") ||
                              icontains(whole.substr(0, 4096), "you don't have permission to access") ||
                              icontains(whole.substr(0, 4096), "request unsuccessful. incapsula");
  if (visible < blocked_max_chars && (challenge_title || challenge_marker_ || challenge_text)) {
    page.status = extract_status::blocked;
    page.note = "the site answered with a bot check or an access-denied page instead of the content";
    return page;
  }
  if (visible < js_shell_chars && (noscript_js_ || empty_app_root_ || scripts_ > 0)) {
    page.status = extract_status::needs_javascript;
    page.note = "the page needs JavaScript to show its content";
    return page;
  }
  if (whole.empty()) {
    page.status = extract_status::empty;
    page.note = "the page has no readable text";
    return page;
  }
  // Readability's retries: strict first, then without the unlikely-candidate removal, then
  // without class weights and conditional cleaning.
  struct attempt {
    bool strip, weights, clean;
  };
  for (const attempt a : {attempt{true, true, true}, attempt{false, true, true}, attempt{false, false, false}}) {
    double top = 0;
    const std::vector<xmlNode*> article = grab_article(a.strip, a.weights, top);
    if (article.size() == 1 && article.front() == body_) continue;
    bool acut = false;
    std::string text = render(article, a.clean, a.weights, opts_.max_chars, acut);
    if (count_code_points(text) >= std::min(article_min_chars, visible / 2 + 1) || acut) {
      page.text = std::move(text);
      page.cut = acut;
      page.main_content = true;
      return page;
    }
  }
  page.text = std::move(whole);
  page.cut = cap_text(page.text, opts_.max_chars) || cut;
  return page;
}

// ---------------------------------------------------------------- PDF

void quiet_poppler(const std::string&, void*) {}

extracted_page extract_pdf(std::string_view body, const extract_options& opts) {
  extracted_page page;
  page.kind = "pdf";
  if (opts.truncated_body) {
    page.status = extract_status::unreadable;
    page.note = "the PDF is too large: the download stopped at its size limit, and a partial PDF cannot be read";
    return page;
  }
  static std::once_flag once;
  std::call_once(once, [] { poppler::set_debug_error_function(quiet_poppler, nullptr); });
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(body.data(), static_cast<int>(body.size())));
  if (!doc) {
    page.status = extract_status::unreadable;
    page.note = "the PDF could not be opened (damaged, or encrypted with a password)";
    return page;
  }
  if (doc->is_locked()) {
    page.status = extract_status::unreadable;
    page.note = "the PDF is encrypted with a password";
    return page;
  }
  auto utf8 = [](const poppler::ustring& u) {
    const poppler::byte_array b = u.to_utf8();
    return std::string(b.begin(), b.end());
  };
  page.title = clean_title(utf8(doc->info_key("Title")));
  std::string text;
  const int pages = std::min(doc->pages(), max_pdf_pages);
  for (int k = 0; k < pages && count_code_points(text) <= opts.max_chars; ++k) {
    std::unique_ptr<poppler::page> p(doc->create_page(k));
    if (!p) continue;
    std::string t = tidy_plain(utf8(p->text(poppler::rectf(), poppler::page::non_raw_non_physical_layout)), true);
    if (t.empty()) continue;
    if (!text.empty()) text += "\n\n";
    text += t;
  }
  // Poppler's text is UTF-8 from its own tables; be sure before handing it on.
  if (!valid_utf8(text)) text = decode_with(text, "utf-8").text;
  page.text = tidy_plain(text, true);
  page.cut = cap_text(page.text, opts.max_chars);
  page.charset = "";
  if (page.text.empty()) {
    page.status = extract_status::empty;
    page.note = doc->pages() > 0 ? "the PDF has no text layer (a scan?)" : "the PDF has no pages";
  }
  return page;
}

// ---------------------------------------------------------------- JSON

// nlohmann's dump() recurses once per level; deeper documents are shown as they came.
bool shallow_json(std::string_view s, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

}  // namespace

extracted_page extract_page(std::string_view content_type, std::string_view body, std::string_view url,
                            const extract_options& options) {
  (void)url;
  body = body.substr(0, std::min(body.size(), max_input_bytes));
  const media_type mt = parse_content_type(content_type);
  const kind k = classify(mt.mime, body);
  extracted_page page;
  switch (k) {
    case kind::unsupported:
      page.status = extract_status::unsupported_type;
      page.kind = mt.mime;
      page.note = unsupported_note(mt.mime);
      return page;
    case kind::pdf:
      return extract_pdf(body, options);
    case kind::html: {
      decoded d = decode_body(body, mt.charset, true);
      // libxml2 reads a NUL as the end of its input; browsers drop it.
      std::erase(d.text, '\0');
      html_extractor x(d.text, options);
      page = x.run();
      page.charset = d.charset;
      return page;
    }
    case kind::json: {
      decoded d = decode_body(body, mt.charset, false);
      page.kind = "json";
      page.charset = d.charset;
      nlohmann::ordered_json j;  // the document's own key order
      // Pretty-printing multiplies the size; large documents are shown as they came.
      const bool pretty = d.text.size() <= 4u * 1024 * 1024 && shallow_json(d.text, 64);
      if (pretty) j = nlohmann::ordered_json::parse(d.text, nullptr, false);
      if (pretty && !j.is_discarded() && !j.is_null()) {
        page.text = j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
      } else {
        page.text = tidy_plain(d.text, false);  // invalid (or too deep): as text
      }
      page.cut = cap_text(page.text, options.max_chars);
      break;
    }
    case kind::text:
    case kind::markdown: {
      decoded d = decode_body(body, mt.charset, false);
      page.kind = k == kind::markdown ? "markdown" : "text";
      page.charset = d.charset;
      page.text = tidy_plain(d.text, false);
      page.cut = cap_text(page.text, options.max_chars);
      break;
    }
  }
  if (std::string_view(trim(page.text)).empty() && page.status == extract_status::ok) {
    page.text.clear();
    page.status = extract_status::empty;
    page.note = "the page has no readable text";
  }
  return page;
}

}  // namespace openclawd::tools
