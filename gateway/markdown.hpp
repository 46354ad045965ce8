// How a model's Markdown becomes Telegram HTML, plain text, or terminal text: one reading (the
// CommonMark parser cmark-gfm, with GitHub's table, strikethrough and autolink extensions) and one
// walk over its syntax tree with three outputs. Pure functions, no I/O, no state.
//
// Telegram's side (splitting into messages, html_problem(), sanitize_utf8) stays in
// gateway/telegram/format.hpp, whose markdown_to_html/markdown_to_plain call these; its header
// states what Telegram accepts and what the HTML output guarantees.
//
// The reading is CommonMark's, with three choices for what models write:
//   - raw HTML (`<b>`, `<script>`) is text, shown as written (escaped in HTML); GitHub's
//     tagfilter is not needed because no tag ever passes through;
//   - a single line break inside a paragraph is kept as a line break (models mean one);
//   - emphasis that CommonMark pairs is rendered, including across lines of one paragraph and
//     inside words with `*` (2*3*4 reads as 2, italic 3, 4: CommonMark's rule, not ours).
// What each construct becomes:
//   heading → a bold line; `-`/`*`/`+` items → "• " and ordered items their number and `.` or
//   `)` (nested lists indented under their item's text); block quote → <blockquote> (quotes in
//   quotes flattened; plain text prefixes "> "); fenced or indented code → <pre> (with
//   <code class="language-x"> when the info string names a plausible language), in a quote
//   <code> (Telegram allows no <pre> there); inline code <code>; emphasis <i>, strong <b>,
//   strikethrough <s>; thematic break "———"; image → a link with its alt text as the link's text;
//   link → <a href> only for http, https, tg and mailto targets, otherwise "text (url)"
//   unlinked; no link or code inside a link.
//   Citations: a link whose text is a bracketed number (`[[1]](https://…)`) is `<a>[1]</a>` in
//   HTML, and just "[1]" in plain and terminal text, where the answer's sources list carries the
//   URLs (every other link there prints "text (url)").
//   Tables: aligned in monospace under a dashed header rule when that fits `width` columns
//   (display width: East Asian wide characters and emoji count 2), as <pre> in HTML with the
//   cells' formatting dropped; otherwise as a list, one block per row: the first cell bold, then
//   one "header: value" line per other cell.
// Blocks are separated by one line break, or by a blank line where the source had one.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace openclawd::gateway {

// A table aligned in monospace goes out as a <pre> block only up to this many columns. A
// Telegram message bubble on a phone held upright (360-412 dp wide, default text size) shows
// 36-45 characters of <pre> text per line before it wraps or scrolls sideways, and a wrapped
// table is unreadable: 40 fits the common phones; a wider table becomes the list form.
inline constexpr std::size_t phone_table_columns = 40;

// Telegram HTML (the subset in gateway/telegram/format.hpp). Leading and trailing whitespace is
// trimmed. Ill-formed UTF-8 becomes U+FFFD.
std::string markdown_to_telegram_html(std::string_view markdown);

// The same reading as text without markup: links "text (url)" (a citation "[1]" alone), bullets
// "• ", rules "———", quote lines prefixed "> ", code blocks their content, tables aligned or
// listed for `table_width` columns.
std::string markdown_to_plain_text(std::string_view markdown, std::size_t table_width = phone_table_columns);

// Plain text for a terminal `width` columns wide (tables aligned or listed to fit it). With
// `ansi`, headings and strong text are bold, emphasis italic and strikethrough struck through
// (SGR escapes); without it the result equals the plain text. Control characters that the model
// wrote (an ESC that could move the cursor or retitle the window) are replaced by U+FFFD either
// way.
std::string markdown_to_terminal(std::string_view markdown, std::size_t width, bool ansi);

// For rendering a stream block by block: the length of the longest prefix of `markdown` that
// ends after a blank line outside a fenced code block (0 when there is none). What comes before
// that blank line is complete: the rest of the stream cannot change how it reads, except for
// link reference definitions further down, which models do not write. A fence is any line
// starting, after any indentation, with ``` or ~~~ (closed by a run of the same character at
// least as long), so that a blank line in a code block never cuts it.
std::size_t complete_blocks_length(std::string_view markdown);

// Columns that `utf8` takes in a monospace font: East Asian wide and fullwidth characters and
// emoji 2, combining marks, joiners and variation selectors 0, everything else 1.
std::size_t display_width(std::string_view utf8);

}  // namespace openclawd::gateway
