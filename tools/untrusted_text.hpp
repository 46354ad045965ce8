// Putting text from outside (web pages) in front of a model as data, not instructions: a
// fence with an unguessable nonce, a plain-language marker, length caps, and the text
// itself neutralized so it can neither close the fence nor smuggle in chat-template
// control tokens. Pure functions; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace openclawd::tools {

// Rewrites what could act as markup for the fence or the model's chat template:
//   '<' and '>' become '‹' and '›' (kills <|im_end|>, <start_of_turn>, </s>, our own
//   "<<<" fence lines, HTML), "[INST]"-style bracketed control words become "(INST)",
//   runs of three backticks are broken up, line breaks and other control characters
//   become spaces. The words stay readable.
std::string neutralize_untrusted(std::string_view text);

// At most max_chars Unicode code points of valid UTF-8 `text`, cut on a code point
// boundary; "…" marks a cut (counted in max_chars).
std::string truncate_chars(std::string_view text, std::size_t max_chars);
std::size_t count_chars(std::string_view text);

// 16 random hex digits for a fence: page text cannot guess it, so it cannot fake the end.
std::string make_fence_nonce();

// BEGIN/END lines of a fence: "<<<BEGIN UNTRUSTED {label} {nonce}>>>".
std::string fence_begin(std::string_view label, std::string_view nonce);
std::string fence_end(std::string_view label, std::string_view nonce);

}  // namespace openclawd::tools
