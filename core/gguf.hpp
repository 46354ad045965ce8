// GGUF (llama.cpp's model file format, version 3): a bounded reader of the header, metadata and
// tensor table, used to check a model and estimate its RAM before llama-server is started; and a
// writer of tiny llama-architecture models for tests and demos (no model can be downloaded on the
// build machines). Free functions over files with no shared state: safe from any thread.
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

// --- Tiny models ------------------------------------------------------------------------------

// random:   random weights (deterministic from the seed); gibberish replies, rarely EOS.
// unused50: always emits <unused50> (the story's broken model) until max_tokens.
// hello:    answers "Hello, world!" then </s> after any prompt (finish_reason "stop").
// story:    answers an endless plain-ASCII story (tiny_story_text(), over and over) after any
//           prompt, never </s>: max_tokens stops it (finish_reason "length"). Its period is
//           1272 bytes (174 tokens, ~7.3 bytes each) in four distinct paragraphs, so the
//           degeneration guard lets it run: 1500 tokens give ~10,900 characters.
enum class tiny_model_kind { random, unused50, hello, story };

std::string_view to_string(tiny_model_kind kind) noexcept;
std::optional<tiny_model_kind> parse_tiny_model_kind(std::string_view text) noexcept;

struct tiny_model_options {
  std::uint64_t seed = 1;
  std::uint32_t context_length = 32768;  // llama.context_length (n_ctx_train)
};

// Writes a ~0.6 MB llama-architecture F32 model (n_embd 64, 2 blocks, 4 heads, SentencePiece
// vocabulary with byte tokens, <unused0..99> and a ChatML chat template) to `path`, atomically:
// a temporary file in the same folder is renamed over `path`. Tensor data is streamed. The story
// kind's vocabulary also holds its 174 story tokens (~0.75 MB).
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
