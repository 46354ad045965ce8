// DuckDuckGo result pages → search_result. libxml2's HTML parser builds the tree (it
// recovers from any malformed markup and caps nesting at 256 levels); this file walks it
// iteratively, in document order, so neither a deep nor a huge page can exhaust the stack.
//
// Selectors (docs/search.md has the markup and its sources):
//   html layout: a.result__a (title + href) inside div.result; .result__snippet; ads are
//                div.result--ad blocks or contain button.badge--ad
//   lite layout: a.result-link (title + href); td.result-snippet in a following row;
//                sponsored rows carry a "result-sponsored" class
//   challenge:   #challenge-form, [data-testid=anomaly-modal], .anomaly-modal*, or a form
//                posting to anomaly.js
//   no results:  .no-results, or the text "No results." / "No more results."
#include "tools/ddg_parser.hpp"

#include "net/url.hpp"

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <set>

namespace openclawd::tools {
namespace {

// ---------------------------------------------------------------------------
// UTF-8

// Length of the valid UTF-8 sequence at s[i], or 0 (Unicode 15 table 3-7: no overlongs,
// no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const std::size_t left = s.size() - i;
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) { return b(k) >= lo && b(k) <= hi; };
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && cont(1) ? 2 : 0;
  if (c == 0xE0) return left >= 3 && cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return left >= 3 && cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return left >= 3 && cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c == 0xF0) return left >= 4 && cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return left >= 4 && cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return left >= 4 && cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

// The longest prefix of valid UTF-8 text that fits in max_bytes.
std::string_view utf8_prefix(std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut);
}

// ---------------------------------------------------------------------------
// Text

bool is_space_at(std::string_view s, std::size_t i, std::size_t& len) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
    len = 1;
    return true;
  }
  if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA0) {  // &nbsp;
    len = 2;
    return true;
  }
  return false;
}

// Appends `text` to `out` with runs of whitespace as one space, no leading space, controls
// dropped; stops at max_bytes. Returns false once full.
bool append_collapsed(std::string& out, std::string_view text, std::size_t max_bytes) {
  for (std::size_t i = 0; i < text.size();) {
    if (out.size() >= max_bytes) return false;
    std::size_t len = 0;
    if (is_space_at(text, i, len)) {
      if (!out.empty() && out.back() != ' ') out += ' ';
      i += len;
      continue;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) {
      ++i;
      continue;
    }
    const std::size_t n = std::max<std::size_t>(1, utf8_sequence(text, i));
    if (out.size() + n > max_bytes) return false;
    out.append(text.substr(i, n));
    i += n;
  }
  return true;
}

void trim_back(std::string& s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
}

std::string_view content_of(const xmlNode* n) {
  return n->content != nullptr ? std::string_view(reinterpret_cast<const char*>(n->content)) : std::string_view{};
}

// The next node in document order within `root`'s subtree; `descend` false skips n's children.
const xmlNode* next_node(const xmlNode* n, const xmlNode* root, bool descend = true) {
  if (descend && n->type == XML_ELEMENT_NODE && n->children != nullptr) return n->children;
  while (n != nullptr && n != root) {
    if (n->next != nullptr) return n->next;
    n = n->parent;
  }
  return nullptr;
}

// The visible text of an element: its text descendants, whitespace collapsed, capped.
std::string text_of(const xmlNode* element, std::size_t max_bytes) {
  std::string out;
  for (const xmlNode* n = element->children; n != nullptr;) {
    bool descend = true;
    if (n->type == XML_ELEMENT_NODE) {
      const auto name = std::string_view(reinterpret_cast<const char*>(n->name));
      descend = name != "script" && name != "style";  // code, not text a reader sees
    } else if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
      if (!append_collapsed(out, content_of(n), max_bytes)) break;
    }
    n = next_node(n, element, descend);
  }
  trim_back(out);
  return out;
}

// ---------------------------------------------------------------------------
// Elements and attributes

std::string_view name_of(const xmlNode* n) { return reinterpret_cast<const char*>(n->name); }

// An attribute's value, or empty. HTML attribute values are one text node.
std::string_view attr(const xmlNode* n, const char* name) {
  for (const xmlAttr* a = n->properties; a != nullptr; a = a->next) {
    if (a->name != nullptr && std::strcmp(reinterpret_cast<const char*>(a->name), name) == 0) {
      return a->children != nullptr ? content_of(a->children) : std::string_view{};
    }
  }
  return {};
}

template <class Pred>
bool any_class(const xmlNode* n, Pred pred) {
  std::string_view cls = attr(n, "class");
  while (!cls.empty()) {
    const auto start = cls.find_first_not_of(" \t\r\n\f");
    if (start == std::string_view::npos) break;
    cls.remove_prefix(start);
    const auto end = cls.find_first_of(" \t\r\n\f");
    if (pred(cls.substr(0, end))) return true;
    if (end == std::string_view::npos) break;
    cls.remove_prefix(end);
  }
  return false;
}

bool has_class(const xmlNode* n, std::string_view token) {
  return any_class(n, [&](std::string_view t) { return t == token; });
}

// Markup sits a few levels deep at most; a bounded climb keeps nested junk cheap.
constexpr int max_climb = 24;

bool is_result_block(const xmlNode* n) {
  return any_class(n, [](std::string_view t) {
    return t == "result" || t == "web-result" || t == "results_links" || t == "results_links_deep" ||
           t.starts_with("result--");
  });
}

const xmlNode* enclosing_block(const xmlNode* n) {
  int depth = 0;
  for (const xmlNode* p = n->parent; p != nullptr && p->type == XML_ELEMENT_NODE && depth < max_climb;
       p = p->parent, ++depth) {
    if (is_result_block(p)) return p;
  }
  return nullptr;
}

bool is_inside(const xmlNode* n, const xmlNode* ancestor) {
  int depth = 0;
  for (const xmlNode* p = n->parent; p != nullptr && depth < max_climb; p = p->parent, ++depth) {
    if (p == ancestor) return true;
  }
  return false;
}

// Lite marks sponsored rows on the <tr>; html marks the whole block.
bool in_sponsored_row(const xmlNode* n) {
  int depth = 0;
  for (const xmlNode* p = n->parent; p != nullptr && p->type == XML_ELEMENT_NODE && depth < max_climb;
       p = p->parent, ++depth) {
    if (any_class(p, [](std::string_view t) { return t.find("sponsored") != std::string_view::npos; })) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// The walk

struct candidate {
  std::string title;
  std::string href;
  std::string snippet;
  const xmlNode* block = nullptr;  // html layout: the div.result holding it; lite: none
  bool ad = false;
};

std::string challenge_marker(const xmlNode* n) {
  if (attr(n, "id") == "challenge-form") return "form#challenge-form";
  if (attr(n, "data-testid") == "anomaly-modal") return "[data-testid=anomaly-modal]";
  if (any_class(n, [](std::string_view t) { return t.starts_with("anomaly-modal"); })) return ".anomaly-modal";
  if (name_of(n) == "form" && attr(n, "action").find("anomaly.js") != std::string_view::npos) {
    return "form[action*=anomaly.js]";
  }
  return {};
}

bool is_no_results_text(std::string_view text) {
  if (text.size() > 64) return false;
  std::string collapsed;
  append_collapsed(collapsed, text, 64);
  trim_back(collapsed);
  return collapsed == "No results." || collapsed == "No more results.";
}

struct doc_deleter {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
struct ctxt_deleter {
  void operator()(htmlParserCtxt* c) const { htmlFreeParserCtxt(c); }
};

void init_libxml_once() {
  // xmlInitParser is idempotent, but only thread-safe once it has run: run it once.
  static const bool done = [] {
    xmlInitParser();
    return true;
  }();
  (void)done;
}

}  // namespace

std::string_view to_string(page_kind kind) {
  switch (kind) {
    case page_kind::results: return "results";
    case page_kind::no_results: return "no_results";
    case page_kind::challenge: return "challenge";
    case page_kind::unrecognized: return "unrecognized";
  }
  return "unrecognized";
}

std::string sanitize_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size();) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') {
      out += ' ';
      ++i;
    } else if (const std::size_t n = utf8_sequence(bytes, i); n > 0) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

bool is_ad_or_internal_url(std::string_view url) {
  auto u = net::parse_url(url);
  if (!u) return false;
  const bool ddg = u->host == "duckduckgo.com" || u->host.ends_with(".duckduckgo.com");
  if (ddg && (u->target.starts_with("/y.js") || u->target.starts_with("/l/"))) return true;
  if ((u->host == "www.google.com" || u->host == "google.com") && u->target.starts_with("/search")) return true;
  return false;
}

namespace {
// Schemes are case-insensitive and lowercase is canonical (RFC 3986, 3.1). net::parse_url
// accepts "httP://"; the result says "http://", so two spellings of a link are one result.
void lowercase_scheme(std::string& link) {
  const auto colon = std::min(link.find(':'), link.size());
  for (std::size_t i = 0; i < colon; ++i)
    if (link[i] >= 'A' && link[i] <= 'Z') link[i] = static_cast<char>(link[i] - 'A' + 'a');
}
}  // namespace

std::optional<std::string> decode_result_href(std::string_view href, std::size_t max_bytes) {
  // Attribute values may carry stray whitespace; a URL never does.
  while (!href.empty() && (href.front() == ' ' || href.front() == '\n' || href.front() == '\t')) href.remove_prefix(1);
  while (!href.empty() && (href.back() == ' ' || href.back() == '\n' || href.back() == '\t')) href.remove_suffix(1);
  if (href.empty() || href.size() > 4 * max_bytes) return std::nullopt;
  std::string link;
  if (href.starts_with("//")) {
    link = "https:" + std::string(href);  // scheme-relative
  } else if (href.starts_with("/")) {
    link = "https://duckduckgo.com" + std::string(href);  // relative to the results page
  } else {
    link = std::string(href);
  }
  auto u = net::parse_url(link);
  if (!u) return std::nullopt;
  const bool ddg = u->host == "duckduckgo.com" || u->host.ends_with(".duckduckgo.com");
  if (ddg && (u->target.starts_with("/l/?") || u->target.starts_with("/l?"))) {
    // The redirect: the target is the uddg parameter, percent-encoded once; rut is a token.
    std::string_view query = std::string_view(u->target).substr(u->target.find('?') + 1);
    std::optional<std::string> target;
    while (!query.empty()) {
      const auto amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      if (pair.starts_with("uddg=")) {
        target = net::percent_decode(pair.substr(5));
        break;
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
    if (!target) return std::nullopt;
    if (target->starts_with("//")) target->insert(0, "https:");
    link = std::move(*target);
    if (!net::parse_url(link)) return std::nullopt;
  }
  if (link.size() > max_bytes) return std::nullopt;
  lowercase_scheme(link);
  return link;
}

parse_result parse_ddg_results(std::string_view html, const parse_limits& limits) {
  init_libxml_once();
  parse_result out;
  const std::size_t cap = std::min<std::size_t>(limits.max_input_bytes, INT_MAX / 4);
  if (html.size() > cap) {
    out.truncated = true;
    html = utf8_prefix(html, cap);
  }
  // libxml2 would switch the rest of the page to Latin-1 at the first invalid byte; cleaning
  // the bytes first keeps every valid character as it is.
  const std::string clean = sanitize_utf8(html);
  if (clean.empty()) return out;

  std::unique_ptr<htmlParserCtxt, ctxt_deleter> ctxt(htmlNewParserCtxt());
  if (!ctxt) return out;
  constexpr int options = HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET |
                          HTML_PARSE_NOIMPLIED | HTML_PARSE_COMPACT;
  std::unique_ptr<xmlDoc, doc_deleter> doc(
      htmlCtxtReadMemory(ctxt.get(), clean.data(), static_cast<int>(clean.size()), nullptr, "UTF-8", options));
  if (!doc) return out;

  std::vector<candidate> found;
  bool no_results_marker = false;
  bool anchors_seen = false;
  const xmlNode* root = reinterpret_cast<const xmlNode*>(doc.get());
  for (const xmlNode* n = root->children; n != nullptr; n = next_node(n, root)) {
    if (n->type == XML_TEXT_NODE) {
      if (!no_results_marker && found.empty() && is_no_results_text(content_of(n))) no_results_marker = true;
      continue;
    }
    if (n->type != XML_ELEMENT_NODE) continue;
    if (out.block_marker.empty()) out.block_marker = challenge_marker(n);
    if (has_class(n, "no-results")) no_results_marker = true;

    if (name_of(n) == "a" && (has_class(n, "result__a") || has_class(n, "result-link"))) {
      anchors_seen = true;
      if (found.size() >= limits.max_results * 4) continue;  // ads and junk included: a generous bound
      candidate c;
      c.title = text_of(n, limits.max_title_bytes);
      c.href = std::string(attr(n, "href"));
      c.block = enclosing_block(n);
      c.ad = (c.block != nullptr && any_class(c.block, [](std::string_view t) { return t.starts_with("result--ad"); })) ||
             in_sponsored_row(n);
      found.push_back(std::move(c));
      continue;
    }
    if (found.empty()) continue;
    candidate& cur = found.back();
    const bool mine = cur.block == nullptr || is_inside(n, cur.block);
    if (!mine) continue;
    if (cur.snippet.empty() && (has_class(n, "result__snippet") || has_class(n, "result-snippet"))) {
      cur.snippet = text_of(n, limits.max_snippet_bytes);
    } else if (has_class(n, "badge--ad")) {
      cur.ad = true;
    }
  }

  if (!out.block_marker.empty()) {
    out.kind = page_kind::challenge;
    return out;
  }
  std::set<std::string> seen;
  for (candidate& c : found) {
    if (out.results.size() >= limits.max_results) break;
    auto url = decode_result_href(c.href, limits.max_url_bytes);
    if (c.ad || (url && is_ad_or_internal_url(*url))) {
      ++out.ads_skipped;
      continue;
    }
    if (!url || c.title.empty()) {
      ++out.invalid_skipped;
      continue;
    }
    if (!seen.insert(*url).second) continue;
    // The URL came out of percent-decoding: make it valid UTF-8 like the text fields.
    out.results.push_back(search_result{std::move(c.title), sanitize_utf8(*url), std::move(c.snippet)});
  }
  if (!out.results.empty()) {
    out.kind = page_kind::results;
  } else if (no_results_marker || anchors_seen) {
    out.kind = page_kind::no_results;
  }
  return out;
}

}  // namespace openclawd::tools
