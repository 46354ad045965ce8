// A model family's real tokenizer, read from Hugging Face's files (tokenizer.json and
// tokenizer_config.json) into what a GGUF file carries: the tokens with their types and scores or
// merges, the special token ids and the chat template. It follows what llama.cpp's converter
// (convert_hf_to_gguf.py, gguf-py/gguf/vocab.py) writes, so that llama-server tokenizes, renders
// templates and stops as it does with the family's real exports. Used by openclawd-make-model to
// give tiny test models a real vocabulary. Pure computation over two files; no shared state.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace openclawd::core {

// llama.cpp's token types (llama_token_type), the values of tokenizer.ggml.token_type.
enum class gguf_token_type : std::int32_t {
  normal = 1,
  unknown = 2,
  control = 3,        // never rendered as text by llama-server; matched only with parse_special
  user_defined = 4,   // always matched in text before tokenizing, rendered as its text
  unused = 5,
  byte = 6,           // <0xNN>, SentencePiece's byte fallback
};

struct tokenizer_vocab {
  // tokenizer.ggml.model: "llama" for SentencePiece-style BPE with byte fallback (Gemma; scores
  // instead of merges), "gpt2" for byte-level BPE (Qwen, Llama 3, Mistral's tekken).
  std::string model;
  std::string pre;  // tokenizer.ggml.pre ("qwen2", "llama-bpe", "tekken"); gpt2 only

  std::vector<std::string> tokens;   // by id, as GGUF stores them ("▁world", "Ġworld")
  std::vector<std::int32_t> types;   // gguf_token_type per token
  std::vector<float> scores;         // llama: per token (see import_tokenizer); gpt2: empty
  std::vector<std::string> merges;   // gpt2: "left right" by rank; llama: empty
  // Tokens of the family's "unused"/reserved kind (<unusedN>, <|reserved_special_token_N|>,
  // <SPECIAL_N>): typed CONTROL, as real Gemma GGUFs type <unusedN> (llama.cpp#12784). A writer may
  // retype them USER_DEFINED, as some exports and builds do (they are then streamed as text).
  std::vector<std::uint32_t> unused_ids;

  std::optional<std::uint32_t> bos, eos, eot, unk, pad;
  bool add_bos = false;
  bool add_eos = false;
  std::optional<bool> add_space_prefix;  // llama only
  std::string chat_template;             // tokenizer_config.json's, may be empty
  std::string tokenizer_class;           // tokenizer_config.json's, e.g. "GemmaTokenizer"

  std::optional<std::uint32_t> find(std::string_view token) const;  // by stored text; linear
};

struct tokenizer_import_options {
  std::string pre;  // tokenizer.ggml.pre to write; empty: inferred from the pre-tokenizer regex
};

// Reads DIR/tokenizer.json (streamed through a SAX parser: a 33 MB file is never held as a DOM)
// and DIR/tokenizer_config.json. What is written, by tokenizer kind:
// - SentencePiece-style (BPE with byte_fallback and a ByteFallback decoder): model "llama";
//   score = -rank of the first merge that makes the token, and -(merges + 1) for tokens no merge
//   makes (single characters, specials), so llama.cpp's SentencePiece merging, which joins the
//   best-scoring pair first, follows the BPE ranks; <0xNN> BYTE, the unk token UNKNOWN;
//   add_space_prefix only if the normalizer prepends "▁".
// - byte-level BPE: model "gpt2", the merges ("a b"; the new [a, b] form is joined as the
//   converter does), pre from the pre-tokenizer's regex unless given.
// - added tokens (both kinds): special, or looking special as the converter decides (<|...|>,
//   <unusedN>, <mask>, ...) -> CONTROL; others USER_DEFINED with "▁" written as a space; ids no
//   token has become [PADn] UNUSED.
// - bos/eos/unk/pad: tokenizer_config.json's *_token looked up among the added tokens;
//   add_bos/add_eos from its add_*_token, else from a TemplateProcessing post-processor. Without
//   a bos_token, <|endoftext|> if present (what Qwen's config.json names). eot: the first of
//   <end_of_turn>, <|eot_id|>, <|im_end|> present (llama.cpp would guess it from the text, in no
//   fixed order when several are present).
// Fails with errc::tokenizer_invalid and, if `why` is given, a reason.
result<tokenizer_vocab> import_tokenizer(const std::filesystem::path& dir,
                                         const tokenizer_import_options& options = {},
                                         std::string* why = nullptr);

}  // namespace openclawd::core
