// The degeneration guard: watches one streamed model answer and decides when to abort it — a
// forbidden pattern (Gemma's endless `<unused50>`, llama.cpp #12433), the same short cycle or line
// repeated many times, or output past a cap. Pure computation, no I/O. One guard per stream,
// owned by the code reading that stream; not thread-safe. Cost: a few instructions per byte of
// normal text (about 10 ms per MB fed in token-sized pieces), independent of how it is split.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace openclawd::gateway {

struct degeneration_config {
  // Regular expressions (ECMAScript) that must not appear in the output. The default matches
  // Gemma-style `<unusedN>` special tokens; it is matched by a hand-written scanner (O(1) per
  // byte). Patterns with no regex metacharacters use a substring search. Anything else runs
  // std::regex over the last `pattern_window` bytes every `regex_stride` new bytes: slow
  // (std::regex), so keep custom regexes few.
  std::vector<std::string> patterns{"<unused\\d+>"};
  // Pattern matches (all patterns together) that abort. More than one, so that an answer that
  // merely mentions such a token (a user asking about this very bug) survives; a degenerate
  // model reaches 3 within 3 tokens.
  int max_pattern_hits = 3;
  // The longest cycle, in bytes, the repetition check looks for (1..512). 64 covers a short
  // phrase; loops of whole sentences are caught by max_line_repeats or the length cap instead.
  // (The check samples every 16 bytes, so it reports at most 15 bytes after the threshold.)
  int max_cycle = 64;
  // A cycle of at most max_cycle bytes repeated this many times in a row at the end of the
  // output aborts ("the the the ...", "ababab", "<unused50><unused50>..."), once the repeated
  // stretch is also at least min_repeat_bytes long. 0 disables the cycle check.
  int max_repeats = 20;
  // The floor on the repeated stretch, so that short periods need long runs: legitimate text has
  // runs like a 40-column "|---|---|" rule, 24 spaces of indentation or an 80-character "=====",
  // but not 256 bytes of one tiny cycle. With the defaults: "\n" x256, "the " x64, a 10-byte
  // token x26, a 40-byte phrase x20.
  std::size_t min_repeat_bytes = 256;
  // The same non-blank line this many times in a row (blank lines between them ignored) aborts:
  // catches loops too long for max_cycle. Tables and code rarely repeat a whole line 16 times in
  // a row (an empty template table with 16 identical rows would). 0 disables.
  int max_line_repeats = 16;
  // Output longer than this many characters (UTF-8 code points) aborts; 0 = no cap. ~4000
  // tokens: longer than any chat answer the subagent (8K context) should give, shorter than a
  // runaway that fills its context. Set it per request (the orchestrator's decision is tiny).
  std::size_t max_chars = 16000;
  // Output longer than this many tokens (as counted by the caller, see feed()) aborts; 0 = no
  // cap. Requests should also carry `max_tokens`, which stops the server itself.
  std::size_t max_tokens = 0;
  // Tokens generated in a row without one visible byte (as told by generated()) that abort:
  // real Gemma exports type <unusedNN> as control tokens, which llama-server does not render,
  // so a model stuck on them streams nothing at all until max_tokens. A normal stream shows a
  // piece for nearly every token (a UTF-8 character split over byte tokens takes up to 4, a
  // partial stop word a few). 0 disables.
  std::size_t max_invisible_run = 32;
  // The longest text a custom regex may match (bytes), and how often it runs (every this many
  // new bytes, and at finish()). Literal patterns and the default pattern are checked at once.
  std::size_t pattern_window = 256;
  std::size_t regex_stride = 256;
};

// Empty when `config` is usable, else what is wrong with it (for config validation: the guard's
// constructor throws std::invalid_argument on a config this rejects).
std::string validate(const degeneration_config& config);

enum class degeneration_reason {
  none,        // keep streaming
  pattern,     // a configured pattern appeared max_pattern_hits times
  repetition,  // a short cycle or a whole line repeated too often
  too_long,    // the character or token cap was passed
  invisible,   // tokens generated without visible text (control tokens)
  empty,       // the stream ended with no answer text at all
};

std::string_view to_string(degeneration_reason reason) noexcept;

struct degeneration_verdict {
  degeneration_reason reason = degeneration_reason::none;
  // For logs, `status` and the user, e.g. "repeated special token <unused50> (3 times)",
  // "the same 7-character sequence \"abcdefg\" repeated 40 times",
  // "output exceeded 16000 characters".
  std::string message;

  bool abort() const noexcept { return reason != degeneration_reason::none; }
};

class degeneration_guard {
 public:
  explicit degeneration_guard(degeneration_config config = {});
  ~degeneration_guard();
  degeneration_guard(degeneration_guard&&) noexcept;
  degeneration_guard& operator=(degeneration_guard&&) noexcept;
  degeneration_guard(const degeneration_guard&) = delete;
  degeneration_guard& operator=(const degeneration_guard&) = delete;

  // Feeds the next piece of output (any split, even inside a UTF-8 sequence) and returns the
  // verdict so far. `tokens` is how many tokens the piece holds when the caller knows it
  // (llama-server streams one token per chunk, so 1 per content delta); it only feeds max_tokens.
  // Once the verdict is abort it stays so, and further input is ignored.
  const degeneration_verdict& feed(std::string_view delta, std::size_t tokens = 0);
  // A thinking model's reasoning: checked like the answer (patterns, cycles, caps), but it is
  // not answer text (finish() wants some of that).
  const degeneration_verdict& feed_reasoning(std::string_view delta, std::size_t tokens = 0);
  // The server's count of tokens generated so far for this stream (GET /slots while it runs,
  // `timings.predicted_n` at its end). Tokens that came with no piece of text in between count
  // toward max_invisible_run.
  const degeneration_verdict& generated(std::uint64_t total_tokens);
  // End of the stream: runs the custom regexes over the bytes not yet checked, and aborts
  // (`empty`, or `invisible` when `generated` tokens came) when no answer text but white space
  // was fed: an empty answer is never sent or stored.
  const degeneration_verdict& finish(std::optional<std::uint64_t> generated = std::nullopt);
  const degeneration_verdict& verdict() const noexcept;

  std::uint64_t bytes_seen() const noexcept;
  std::uint64_t chars_seen() const noexcept;
  std::uint64_t tokens_seen() const noexcept;

  // Forget the output seen so far (the same config), e.g. before a retry.
  void reset();

 private:
  struct state;
  std::unique_ptr<state> s_;
};

// llama-server's `logit_bias` in its array form, banning each token up front:
// [[id, false], ...] (false = never sample). Negative ids are skipped, duplicates kept once.
// Token ids are per model (`POST /tokenize` on the node tells them), e.g. 32052 is <unused50>
// in the tiny test model.
nlohmann::json logit_bias_ban(std::span<const std::int32_t> token_ids);

}  // namespace openclawd::gateway
