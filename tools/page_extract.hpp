// Readable text from a fetched page, for a model: the main text of an HTML page (a
// Readability-style scoring over libxml2's DOM), plain text, Markdown, JSON, or a PDF's text
// (poppler's C++ API). The charset comes from the Content-Type header, a BOM or <meta>, and
// libxml2/ICU decode it. Text a browser would not show (hidden by CSS or attributes, scripts,
// templates) never comes out, so instructions hidden there never reach a model. Pure
// functions on bytes: no I/O, any thread. Hostile input (huge, deeply nested, broken markup)
// is bounded in time and memory. Fuzzed (fuzz/fuzz_page_extract.cpp).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace openclawd::tools {

enum class extract_status {
  ok,                // text holds the readable text
  unsupported_type,  // not HTML, text, Markdown, JSON or PDF (an image, a zip): politely declined
  blocked,           // a bot challenge or "access denied" page (Cloudflare's "Just a moment...")
  needs_javascript,  // the page is an empty shell that renders with JavaScript
  empty,             // nothing readable
  unreadable,        // a PDF that cannot be opened (truncated, encrypted), a charset we cannot decode
};
std::string_view to_string(extract_status s);

struct extract_options {
  std::size_t max_chars = 50000;  // code points of text kept; a cut is marked "…"
  bool truncated_body = false;    // the fetch stopped at its cap: a PDF then is unreadable
};

struct extracted_page {
  extract_status status = extract_status::ok;
  std::string kind;         // "html", "text", "markdown", "json", "pdf"
  std::string title;        // <title>/og:title/first <h1>, the PDF's title; may be empty
  std::string text;         // UTF-8, paragraphs separated by a blank line, headings and list items on lines of their own
  std::string charset;      // what the bytes were decoded from ("utf-8", "windows-1252")
  bool main_content = false;  // the scoring found an article; false: the whole visible text (fallback)
  bool cut = false;           // text was longer than max_chars
  std::string note;           // not ok: one line for a model ("the page needs JavaScript")
};

// `content_type` is the Content-Type header ("" when absent: sniffed from the bytes);
// `url` is for resolving nothing but kept for messages.
extracted_page extract_page(std::string_view content_type, std::string_view body, std::string_view url,
                            const extract_options& options = {});

}  // namespace openclawd::tools
