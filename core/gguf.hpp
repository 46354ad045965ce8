// GGUF (llama.cpp's model file format, version 3): a bounded reader of the header, metadata and
// tensor table, used to check a model and estimate its RAM before llama-server is started; and a
// writer of tiny models for tests and demos (no model can be downloaded on the build machines),
// with a toy vocabulary or a model family's real one. Free functions over files with no shared
// state: safe from any thread.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace openclawd::core {

// A metadata array, summarised: its element type (GGUF type id) and length. Integer arrays of at
// most gguf_max_kept_array elements keep their values (per-layer head counts use them).
struct gguf_array {
  std::uint32_t element_type = 0;
  std::uint64_t length = 0;
  std::vector<std::int64_t> integers;
};

inline constexpr std::uint64_t gguf_max_kept_array = 4096;

// One metadata value. Unsigned integers that fit are stored as int64; larger ones as uint64.
using gguf_value = std::variant<std::int64_t, std::uint64_t, double, bool, std::string, gguf_array>;

struct gguf_info {
  std::uint32_t version = 0;
  std::uint64_t file_size = 0;
  std::uint64_t tensor_count = 0;
  std::uint64_t alignment = 32;        // general.alignment
  std::uint64_t tensor_data_offset = 0;  // where tensor data starts in the file
  std::uint64_t tensor_data_bytes = 0;   // sum of the tensors' sizes (types ggml knows)

  std::string architecture;  // general.architecture, e.g. "llama"
  std::string name;          // general.name, may be empty
  std::optional<std::uint32_t> file_type;  // general.file_type (0 F32, 1 F16, 7 Q8_0, ...)

  // <architecture>.* hyperparameters; 0 when the file does not say.
  std::uint64_t context_length = 0;
  std::uint64_t embedding_length = 0;
  std::uint64_t block_count = 0;
  std::uint64_t head_count = 0;
  std::uint64_t head_count_kv = 0;  // defaults to head_count, as in llama.cpp; max if per-layer
  std::optional<std::uint64_t> key_length;    // <arch>.attention.key_length
  std::optional<std::uint64_t> value_length;  // <arch>.attention.value_length
  std::uint64_t vocab_size = 0;  // length of tokenizer.ggml.tokens

  // Every key. Strings longer than gguf_max_kept_string are skipped (not stored).
  std::map<std::string, gguf_value, std::less<>> metadata;

  // Any integer (or bool) scalar; nullopt when absent, another type, or beyond int64.
  std::optional<std::int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
};

inline constexpr std::uint64_t gguf_max_kept_string = 16u << 20;

// Reads and validates the header, every metadata pair and the tensor table of a GGUF v2/v3 file,
// and checks that the tensor data lies inside the file (catches truncated downloads); it never
// reads tensor data. Every length is bounds-checked against the file size, so hostile or
// truncated files fail with errc::gguf_invalid and, if `why` is given, a reason such as
// "truncated: metadata key 12 needs 8 bytes at offset 4711, file has 4715".
result<gguf_info> read_gguf_info(const std::filesystem::path& path, std::string* why = nullptr);

// Bytes of llama.cpp's default (f16) KV cache for `ctx` tokens:
//   ctx * block_count * head_count_kv * (key_length + value_length) * 2
// with key/value length defaulting to embedding_length / head_count. Returns 0 when the file
// lacks the needed hyperparameters, and saturates at UINT64_MAX rather than overflow.
std::uint64_t estimate_kv_cache_bytes(const gguf_info& info, int ctx);

// The same, for models with sliding-window attention (Gemma 2/3/4 and others), as llama-server
// allocates it: the sliding-window layers hold their window (plus a batch) unless --swa-full,
// and llama-server keeps context checkpoints of those layers (--ctx-checkpoints, 32 per slot at
// most, one per 8192 tokens: --checkpoint-min-step) so that a prompt can be reused past them.
struct kv_cache_estimate {
  std::uint64_t bytes = 0;             // the cache itself
  std::uint64_t checkpoint_bytes = 0;  // the checkpoints, at most
  std::uint64_t sliding_window = 0;    // tokens; 0: no sliding-window layers
  std::uint64_t swa_layers = 0;        // layers that use the window
};
kv_cache_estimate estimate_kv_cache(const gguf_info& info, int ctx, bool swa_full);

// --- Tiny models ------------------------------------------------------------------------------
// (written by core/tiny_model.cpp)
//
// Every kind but random is a chain: the blocks leave the residual stream alone (attn_output and
// ffn_down are zero), so the last hidden state is the current token's embedding, which encodes
// the token that must come next; output.weight maps it to that token with a logit ~60 above any
// other, so llama-server's default sampling is deterministic.
//
// random:   random weights (deterministic from the seed); gibberish replies, never a byte or
//           control token (so never an early stop, and never invalid UTF-8); with a real
//           vocabulary only normal tokens that are whole UTF-8 text.
// unused50: always emits the unused token (<unused50>; with a real vocabulary the family's, see
//           tiny_model_options::unused_token) until max_tokens.
// hello:    answers "Hello, world!" then the end-of-turn token (</s>; a real vocabulary's eot,
//           else its eos) after any prompt (finish_reason "stop").
// story:    answers an endless plain-text story after any prompt, never the end of turn:
//           max_tokens stops it (finish_reason "length"). Toy vocabulary: tiny_story_text(), over
//           and over; its period is 1272 bytes (174 tokens, ~7.3 bytes each) in four distinct
//           paragraphs, so the degeneration guard lets it run: 1500 tokens give ~10,900
//           characters. Real vocabulary: four other paragraphs, ~670 bytes and ~125 tokens a
//           period, each token used once a period (separators may differ by family; the file's
//           openclawd.tiny.text has the period).
// think:    (a vocabulary with <think> and </think>, e.g. Qwen3) answers "<think>" + a short
//           thought + "</think>" + "\n\n" + "Hello, world!" + end of turn; after a prompt that
//           already ends in "</think>\n\n" (a thinking template with enable_thinking false) it
//           answers "Hello, world!" at once.
// Every file but random's carries its answer, or one period of it, as openclawd.tiny.text.
enum class tiny_model_kind { random, unused50, hello, story, think };

std::string_view to_string(tiny_model_kind kind) noexcept;
std::optional<tiny_model_kind> parse_tiny_model_kind(std::string_view text) noexcept;

enum class tiny_model_arch {
  llama,   // 2 blocks
  gemma3,  // 6 blocks, the 6th global, the others sliding-window (llama.cpp's gemma3 pattern);
           // q/k norms and post-attention/post-FFN norms; embeddings scaled by sqrt(n_embd)
};

struct tokenizer_vocab;  // core/tokenizer_import.hpp

struct tiny_model_options {
  std::uint64_t seed = 1;
  std::uint32_t context_length = 32768;  // <arch>.context_length (n_ctx_train)
  // A family's real vocabulary and chat template (import_tokenizer) instead of the toy
  // SentencePiece one; not owned, must outlive the call. token_embd and output are then F16.
  const tokenizer_vocab* vocab = nullptr;
  // Type the family's unused tokens (tokenizer_vocab::unused_ids and unused_token) USER_DEFINED,
  // as some exports and builds do: llama-server then streams them as text. Default CONTROL, as
  // real Gemma GGUFs: a model stuck on them streams no content at all.
  bool unused_as_text = false;
  // The token unused50 emits with a real vocabulary; empty: the first present of <unused50>
  // (Gemma), <|reserved_special_token_50|> (Llama 3), <SPECIAL_50> (Mistral tekken),
  // <|vision_pad|> (Qwen3, which reserves none: a vision placeholder no text chat produces).
  std::string unused_token{};
  std::string chat_template{};  // non-empty: replaces the vocabulary's template
  tiny_model_arch arch = tiny_model_arch::llama;
  std::uint32_t sliding_window = 512;  // gemma3: <arch>.attention.sliding_window
  std::uint32_t embedding_length = 0;  // 0: 64 with the toy vocabulary, 16 with a real one
};

// Writes a tiny model to `path`, atomically: a temporary file in the same folder is renamed over
// `path`. Tensor data is streamed. With the toy vocabulary: a ~0.6 MB llama-architecture F32
// model (n_embd 64, 2 blocks, 4 heads, SentencePiece vocabulary with byte tokens, <unused0..99>
// and a ChatML chat template; the story kind's vocabulary also holds its 174 story tokens,
// ~0.75 MB). With a real vocabulary: n_embd 16, F16 embeddings, ~23 MB for Gemma's 262K tokens.
result<void> write_tiny_model(const std::filesystem::path& path, tiny_model_kind kind,
                              const tiny_model_options& options = {}, std::string* why = nullptr);

// One period of what the story model writes, exactly as llama-server returns it: four
// paragraphs, each ending in ".\n\n"; the answer is this text repeated (cut by max_tokens).
// Starts "Once upon a time, in a small harbor town".
const std::string& tiny_story_text();

// Token ids of the tiny models' vocabulary that tests may want to check against /tokenize.
inline constexpr int tiny_token_unk = 0;
inline constexpr int tiny_token_bos = 1;
inline constexpr int tiny_token_eos = 2;
inline constexpr int tiny_token_unused0 = 259;  // <unused0>; <unusedN> is tiny_token_unused0 + N

}  // namespace openclawd::core
