// Telegram output formatting: turns the Markdown a model writes into what sendMessage accepts
// with parse_mode=HTML, cuts it into messages, and gives a plain-text rendering for the resend
// after Telegram rejects the markup (400 "can't parse entities"). Pure functions, no I/O, no
// state; safe to call from anywhere. Every function sanitizes its input first (sanitize_utf8),
// because Telegram rejects invalid UTF-8 and models do emit broken bytes (a token split mid
// code point, a truncated stream).
//
// The guarantee that matters: markdown_to_html() output, and every split_html() chunk of it,
// passes html_problem(). Telegram's HTML is small and unforgiving (telegram-ddg.md §A.5), so the
// renderer only ever emits:
//   <b> <i> <s> <code> <a href="..."> <pre> <pre><code class="language-x"> <blockquote>
// with every tag closed in order, all text escaped (&lt; &gt; &amp;; &quot; inside href) and
// these nesting rules (Telegram's own entity rules, made strict):
//   - <pre> and <blockquote> only at the top level, never nested;
//   - nothing inside <code> or <pre> except <pre>'s single <code class=...> child;
//   - no <a> inside <a>, no <code> inside <a> (a link's `code` text is shown unformatted).
//
// The Markdown is read and rendered by gateway/markdown.hpp (cmark-gfm: CommonMark plus GitHub's
// tables, strikethrough and autolinks; its header lists what each construct becomes). Raw HTML
// in the Markdown is text. Links keep only http, https, tg and mailto targets; any other target
// (javascript:, file:, a relative path) renders as its text followed by " (url)", unlinked.
//
// Splitting (split_html / split_plain): Telegram takes 1-4096 characters after entity parsing,
// counted conservatively in UTF-16 units (entity offsets are UTF-16). A chunk's visible text —
// tags removed, an entity counted as the one character it stands for — is at most `limit`
// UTF-16 units. The cut goes, in this order of preference, at the last
//   1. paragraph break: a blank line, or a line break next to the start or end of a <pre> or
//      <blockquote>,
//   2. line break,
//   3. space,
// that leaves the chunk at least half the limit long; when none does, the text is cut hard at
// the limit between two code points. A cut is never inside a tag, an entity, a UTF-8 sequence
// or a surrogate pair. The whitespace at the cut is dropped (inside <pre>, the indentation of
// the line after the cut is kept), as is leading and trailing whitespace of the whole text. Tags
// open at the cut are closed at the end of the chunk and reopened, with the same attributes, at
// the start of the next. No chunk is empty or all whitespace; empty input gives no chunks.
// A single character wider than the limit (an emoji, limit 1) still gets a chunk of its own.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace openclawd::gateway::telegram {

// Replaces every ill-formed UTF-8 sequence (stray continuation bytes, overlong forms,
// surrogates, code points above U+10FFFF, truncated sequences) with U+FFFD, one per maximal
// ill-formed subpart (the Unicode "best practice"). Valid input comes back unchanged.
std::string sanitize_utf8(std::string_view bytes);

// UTF-16 code units of `utf8` (a code point above U+FFFF counts 2). Ill-formed input counts
// as what sanitize_utf8 makes of it: utf16_length(x) == utf16_length(sanitize_utf8(x)).
std::size_t utf16_length(std::string_view utf8);

// Model Markdown → Telegram HTML (see the header comment). Leading and trailing whitespace is
// trimmed. Always well-formed: html_problem() of the result is empty.
std::string markdown_to_html(std::string_view markdown);

// The same reading with the markers removed, for sending without parse_mode: links become
// "text (url)" (a citation "[1]" stays "[1]"), bullets "• ", rules "———", quote lines keep a
// "> " prefix (plain text has no other way to show them), code blocks their content, tables
// aligned or listed as in HTML.
std::string markdown_to_plain(std::string_view markdown);

// Cuts `html` (as made by markdown_to_html) into messages of at most `limit` visible UTF-16
// units (a limit of 0 counts as 1). Other input is handled without crashing and is cut with the
// same care, but only well-formed input gives well-formed chunks.
std::vector<std::string> split_html(std::string_view html, std::size_t limit = 4096);

// The same for plain text (no tags, no entities): for markdown_to_plain() output.
std::vector<std::string> split_plain(std::string_view text, std::size_t limit = 4096);

// A strict check of Telegram HTML as this module emits it: valid UTF-8; only the tags and
// attributes above, properly nested and all closed; `<` and `>` only in tags; `&` only in
// &lt; &gt; &amp; &quot; or a numeric entity of a valid code point; href with an allowed scheme.
// Returns a description of the first problem ("byte 12: <pre> inside <b>"), or nothing. For
// tests, fuzzers and debug checks; stricter than Telegram (it also rejects markup Telegram
// would accept but this module never emits).
std::optional<std::string> html_problem(std::string_view html);

}  // namespace openclawd::gateway::telegram
