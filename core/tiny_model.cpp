// The tiny-model writer declared in core/gguf.hpp: a toy SentencePiece vocabulary or a family's
// real one (core/tokenizer_import.hpp), deterministic weights per kind, streamed to a file that is
// renamed into place.

#include "core/gguf.hpp"
#include "core/tokenizer_import.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace openclawd::core {
namespace {

// GGUF metadata value types and the two ggml tensor types written here.
enum : std::uint32_t { type_u32 = 4, type_i32 = 5, type_f32 = 6, type_bool = 7, type_string = 8, type_array = 9 };
enum : std::uint32_t { ggml_f32 = 0, ggml_f16 = 1 };

constexpr std::array<char, 4> magic = {'G', 'G', 'U', 'F'};
constexpr std::uint64_t alignment = 32;
const std::string sp_space = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

// Serialises the header (metadata and tensor table) in memory: ~15 KB for a toy model, a few MB
// for a real vocabulary (its tokens and merges).
class header_builder {
 public:
  void u32(std::uint32_t v) { for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<char>(v >> (8 * i))); }
  void u64(std::uint64_t v) { for (int i = 0; i < 8; ++i) bytes_.push_back(static_cast<char>(v >> (8 * i))); }
  void f32(float v) { u32(std::bit_cast<std::uint32_t>(v)); }
  void str(std::string_view s) { u64(s.size()); bytes_.append(s); }

  void kv_u32(std::string_view key, std::uint32_t v) { key_type(key, type_u32); u32(v); }
  void kv_f32(std::string_view key, float v) { key_type(key, type_f32); f32(v); }
  void kv_bool(std::string_view key, bool v) { key_type(key, type_bool); bytes_.push_back(v ? 1 : 0); }
  void kv_str(std::string_view key, std::string_view v) { key_type(key, type_string); str(v); }
  void kv_strings(std::string_view key, const std::vector<std::string>& v) {
    key_type(key, type_array);
    u32(type_string);
    u64(v.size());
    for (const auto& s : v) str(s);
  }
  void kv_f32s(std::string_view key, const std::vector<float>& v) {
    key_type(key, type_array);
    u32(type_f32);
    u64(v.size());
    for (float x : v) f32(x);
  }
  void kv_i32s(std::string_view key, const std::vector<std::int32_t>& v) {
    key_type(key, type_array);
    u32(type_i32);
    u64(v.size());
    for (auto x : v) u32(static_cast<std::uint32_t>(x));
  }

  std::string& bytes() { return bytes_; }
  std::uint64_t kv_count() const { return kv_count_; }

 private:
  void key_type(std::string_view key, std::uint32_t type) {
    str(key);
    u32(type);
    ++kv_count_;
  }
  std::string bytes_;
  std::uint64_t kv_count_ = 0;
};

constexpr auto tok_normal = static_cast<std::int32_t>(gguf_token_type::normal);
constexpr auto tok_unknown = static_cast<std::int32_t>(gguf_token_type::unknown);
constexpr auto tok_control = static_cast<std::int32_t>(gguf_token_type::control);
constexpr auto tok_user_defined = static_cast<std::int32_t>(gguf_token_type::user_defined);
constexpr auto tok_byte = static_cast<std::int32_t>(gguf_token_type::byte);

// --- The toy vocabulary ----------------------------------------------------------------------

struct toy_vocabulary {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<std::int32_t> types;
  std::set<std::string> seen;

  void add(std::string text, float score, std::int32_t type) {
    if (!seen.insert(text).second) return;
    tokens.push_back(std::move(text));
    scores.push_back(score);
    types.push_back(type);
  }
  int id(std::string_view text) const {
    auto it = std::find(tokens.begin(), tokens.end(), text);
    return it == tokens.end() ? -1 : static_cast<int>(it - tokens.begin());
  }
};

// The toy story model's text: plain ASCII, four paragraphs (so no line repeats twice in a row).
const char* const story_paragraphs[] = {
    "Once upon a time, in a small harbor town by the northern sea, there lived an old lighthouse "
    "keeper named Tomas. Every evening he climbed the narrow stairs, polished the great lens, and "
    "lit the lamp before the fishing boats came home. The town was quiet in winter, but in summer "
    "the streets filled with travelers, painters and children who wanted to see the light.",
    "One stormy night the wind broke a window at the top of the tower. Rain poured across the "
    "floor, and the flame began to flicker. Tomas wrapped his coat around the lamp, held it "
    "steady with both hands, and waited for morning. Far out on the water, a little boat saw the "
    "light and turned safely toward the harbor.",
    "In the spring a girl named Lina came to help him. She counted the ships, wrote their names "
    "in a blue notebook, and learned to read the clouds. Together they repaired the window, "
    "painted the railing white, and planted tomatoes in the garden behind the keeper's house.",
    "Years later, when Tomas grew too tired for the stairs, Lina became the keeper. She still "
    "lights the lamp every evening, and she still writes the names of the ships in a notebook. "
    "People say that on clear nights you can see two lights on the cliff, one from the tower and "
    "one from a small window where an old man sits reading.",
};

// The toy story's tokens in order, one period. Each word is a token "▁word" (a paragraph's first
// word has no "▁", its last one carries "\n\n"); a word already used becomes a phrase token with
// the words after it ("▁the▁great"), so that every token occurs once per period and so has one
// successor: the model is then a plain chain, current token -> next token.
std::vector<std::string> story_tokens() {
  std::vector<std::string> pieces;
  for (std::string_view paragraph : story_paragraphs) {
    std::size_t start = 0;
    while (start < paragraph.size()) {
      std::size_t end = std::min(paragraph.find(' ', start), paragraph.size());
      std::string piece = (start == 0 ? std::string() : sp_space) +
                          std::string(paragraph.substr(start, end - start));
      if (end == paragraph.size()) piece += "\n\n";
      pieces.push_back(std::move(piece));
      start = end + 1;
    }
  }
  std::vector<std::string> tokens;
  std::set<std::string> used;
  std::string token;
  for (const std::string& piece : pieces) {
    token += piece;
    if (used.insert(token).second) tokens.push_back(std::exchange(token, {}));
  }
  if (!token.empty()) tokens.back() += token;  // the chain builder checks the tokens are distinct
  return tokens;
}

// <unk> <s> </s>, 256 byte tokens, <unused0..99>, ChatML markers, "▁", printable ASCII, then a
// few words with and without the "▁" prefix. SentencePiece builds a word by merging adjacent
// pieces that are themselves in the vocabulary, so every prefix of a word is a token too;
// longer pieces score higher so the longest match wins. The story kind appends its tokens
// (without their prefixes: prompts are not meant to tokenize into them).
toy_vocabulary make_toy_vocabulary(tiny_model_kind kind) {
  toy_vocabulary v;
  v.add("<unk>", 0, tok_unknown);
  v.add("<s>", 0, tok_control);
  v.add("</s>", 0, tok_control);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    v.add(name, 0, tok_byte);
  }
  // USER_DEFINED, like some exports' <unusedN>: matched in text, printed as text.
  for (int i = 0; i < 100; ++i) v.add("<unused" + std::to_string(i) + ">", 0, tok_user_defined);
  v.add("<|im_start|>", 0, tok_control);
  v.add("<|im_end|>", 0, tok_control);
  v.add(sp_space, -1000, tok_normal);
  for (char c = '!'; c <= '~'; ++c) v.add(std::string(1, c), -1000, tok_normal);
  static const char* const words[] = {
      "Hello", "Hi", "world", "the", "a", "is", "of", "and", "to", "in", "you", "I", "it",
      "what", "how", "are", "assistant", "user", "system", "model", "test", "openclawd",
      "server", "tiny", "words", "random"};
  for (const char* w : words) {
    for (const std::string& word : {sp_space + w, std::string(w)}) {
      // Prefixes by code point; "▁" is the only multi-byte one.
      std::size_t first = word.compare(0, sp_space.size(), sp_space) == 0 ? sp_space.size() : 1;
      for (std::size_t end = first + 1; end <= word.size(); ++end) {
        v.add(word.substr(0, end), static_cast<float>(end) - 100, tok_normal);
      }
    }
  }
  if (kind == tiny_model_kind::story) {
    for (const std::string& t : story_tokens()) v.add(t, static_cast<float>(t.size()) - 100, tok_normal);
  }
  return v;
}

const char* const chatml_template =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] "
    "+ '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";

// --- Real vocabularies: token text and distinct tokenizations ---------------------------------

// The real-vocabulary story: few repeated words and each punctuation mark once, so that a
// tokenization with every token used once per period exists in every family's vocabulary.
const char* const real_story_paragraphs[] = {
    "Once upon a time an old keeper named Tomas lived beside the quiet northern harbor, where every "
    "evening he climbed narrow stairs to polish brass lenses and light his lamp before fishing boats "
    "came home.",
    "One stormy night wind shattered glass near that lantern; rain poured across wooden floors while "
    "our friend shielded its flame with both hands until morning finally arrived!",
    "Far out on dark water sailors aboard little vessels spotted this glow: could anyone doubt they "
    "would follow such hope toward shore?",
    "Years later Lina took charge (people say two lights now shine through clear nights) as another "
    "glows behind some small cottage window next to somebody reading...",
};
// Paragraph separators, tried in order. Byte-level vocabularies have ".\n\n", "!\n\n", ... as
// tokens; Gemma's newline runs are added tokens of their own, one per length.
const char* const story_separators[] = {"\n\n", "\n\n\n", "\n\n\n\n", "\n"};
const char* const think_thought = "The user greets me; I should greet them back.";

// byte-level BPE's byte <-> code point table (GPT-2's bytes_to_unicode): printable Latin-1 bytes
// stand for themselves, the others for U+0100 onwards in byte order.
std::array<int, 324> byte_of_code_point() {
  std::array<int, 324> table;
  table.fill(-1);
  auto printable = [](int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
  int next = 256;
  for (int b = 0; b < 256; ++b) table[static_cast<std::size_t>(printable(b) ? b : next++)] = b;
  return table;
}

// Decodes one UTF-8 code point at s[i] and advances i past it; -1 for a malformed sequence.
long next_code_point(std::string_view s, std::size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  std::size_t n = 0;
  long cp = 0;
  if ((c >> 5) == 0x6) {
    n = 1;
    cp = c & 0x1F;
  } else if ((c >> 4) == 0xE) {
    n = 2;
    cp = c & 0x0F;
  } else if ((c >> 3) == 0x1E) {
    n = 3;
    cp = c & 0x07;
  } else {
    return -1;
  }
  if (i + n >= s.size()) return -1;
  for (std::size_t k = 1; k <= n; ++k) {
    const auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (d & 0x3F);
  }
  static constexpr long min_for_length[] = {0, 0x80, 0x800, 0x10000};
  if (cp < min_for_length[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  i += n + 1;
  return cp;
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    if (next_code_point(s, i) < 0) return false;
  }
  return true;
}

// The text llama-server prints for a token, for the tokens a chain or the random kind may use:
// normal tokens decoded (SentencePiece "▁" -> " ", byte-level code points -> bytes) and
// user-defined ones as they are; nullopt for the rest and for text that is not whole UTF-8.
std::optional<std::string> printed_text(const std::string& model, const std::string& token, std::int32_t type) {
  if (type == tok_user_defined) {
    if (token.empty() || !valid_utf8(token)) return std::nullopt;
    return token;
  }
  if (type != tok_normal) return std::nullopt;
  std::string out;
  if (model == "gpt2") {
    static const auto table = byte_of_code_point();
    for (std::size_t i = 0; i < token.size();) {
      const long cp = next_code_point(token, i);
      if (cp < 0 || cp >= static_cast<long>(table.size()) || table[static_cast<std::size_t>(cp)] < 0) return std::nullopt;
      out.push_back(static_cast<char>(table[static_cast<std::size_t>(cp)]));
    }
  } else {
    for (std::size_t at = 0; at < token.size();) {
      if (token.compare(at, sp_space.size(), sp_space) == 0) {
        out += ' ';
        at += sp_space.size();
      } else {
        out += token[at++];
      }
    }
  }
  if (out.empty() || !valid_utf8(out)) return std::nullopt;
  return out;
}

// Texts llama.cpp makes end-of-generation tokens whatever their type (llama-vocab.cpp: the EOG
// and FIM lists). Some are normal tokens in real vocabularies (Gemma's and Llama 3's "</s>"), so
// the random kind must not sample them either.
bool stops_generation(std::string_view t) {
  static const std::set<std::string_view> texts = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
      "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
      "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
      "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>", "[e~[",
      "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", "<|fim_repo|>", "<|repo_name|>",
      "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>"};
  return texts.count(t) != 0;
}

// Builds a chain of distinct tokens whose printed texts spell the given texts in order: longest
// unused match first, backtracking when a later part finds no unused token.
class chain_builder {
 public:
  chain_builder(const std::unordered_map<std::string, std::uint32_t>& by_text, std::size_t max_len)
      : by_text_(&by_text), max_len_(max_len) {}

  std::vector<std::uint32_t> chain;

  bool add_token(std::uint32_t id) {
    if (!used_.insert(id).second) return false;
    chain.push_back(id);
    return true;
  }

  bool add_text(std::string_view text) {
    steps_ = 0;
    return spell(text, 0);
  }

 private:
  bool spell(std::string_view text, std::size_t at) {
    if (at == text.size()) return true;
    if (++steps_ > 200000) return false;  // a text no distinct tokenization can spell
    for (std::size_t len = std::min(max_len_, text.size() - at); len > 0; --len) {
      auto it = by_text_->find(std::string(text.substr(at, len)));
      if (it == by_text_->end() || used_.count(it->second) != 0) continue;
      used_.insert(it->second);
      chain.push_back(it->second);
      if (spell(text, at + len)) return true;
      chain.pop_back();
      used_.erase(it->second);
    }
    return false;
  }

  const std::unordered_map<std::string, std::uint32_t>* by_text_;
  std::size_t max_len_;
  std::unordered_set<std::uint32_t> used_;
  std::size_t steps_ = 0;
};

// --- Weights ----------------------------------------------------------------------------------

// Deterministic on every platform: mt19937_64 is fully specified; std::*_distribution is not.
class weight_rng {
 public:
  weight_rng(std::uint64_t seed, std::string_view tensor) {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a, so each tensor has its own stream
    for (char c : tensor) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    gen_.seed(seed ^ h);
  }
  // Uniform in [-scale, scale).
  float uniform(float scale) {
    double u = static_cast<double>(gen_() >> 11) * (1.0 / 9007199254740992.0);
    return static_cast<float>((2.0 * u - 1.0) * scale);
  }

 private:
  std::mt19937_64 gen_;
};

// IEEE half precision, rounded to nearest even; the weights written here are far from its limits.
std::uint16_t to_f16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const int exp = static_cast<int>((x >> 23) & 0xFF) - 127 + 15;
  std::uint32_t mant = x & 0x7FFFFFu;
  if (((x >> 23) & 0xFF) == 0xFF) return static_cast<std::uint16_t>(sign | 0x7C00u | (mant ? 0x200u : 0u));
  if (exp >= 31) return static_cast<std::uint16_t>(sign | 0x7C00u);  // overflow: infinity
  if (exp <= 0) {                                                     // subnormal or zero
    if (exp < -10) return static_cast<std::uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - exp;
    std::uint32_t half = mant >> shift;
    const std::uint32_t rest = mant & ((1u << shift) - 1);
    const std::uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
    return static_cast<std::uint16_t>(sign | half);
  }
  std::uint32_t half = (static_cast<std::uint32_t>(exp) << 10) | (mant >> 13);
  const std::uint32_t rest = mant & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // may carry into the exponent
  return static_cast<std::uint16_t>(sign | half);
}

// A tensor is ne1 rows of ne0 floats, generated row by row as it is written.
struct tensor_spec {
  std::string name;
  std::uint64_t ne0 = 0;
  std::uint64_t ne1 = 1;
  bool matrix = true;
  std::uint32_t type = ggml_f32;
  std::function<void(std::uint64_t row, std::vector<float>& out)> fill;

  std::uint64_t bytes() const { return ne0 * ne1 * (type == ggml_f16 ? 2 : 4); }
};

struct file_closer { void operator()(std::FILE* f) const { std::fclose(f); } };

result<void> write_failed(std::string* why, const std::string& what, int error_number) {
  if (why != nullptr) *why = what;
  return boost::system::error_code(error_number != 0 ? error_number : EIO,
                                   boost::system::generic_category());
}

// The smallest s with C(n, s) >= m, and the first m s-subsets of {0..n-1} in lexicographic
// order: each class of a chain gets one as its code. Two codes of the same size share at most
// s - 1 dimensions, so the right output row scores s units and any other at most s - 1.
std::vector<std::vector<std::uint32_t>> make_codes(std::uint32_t n, std::size_t m) {
  for (std::uint32_t s = 1; s <= n; ++s) {
    std::vector<std::vector<std::uint32_t>> codes;
    std::vector<std::uint32_t> pick(s);
    for (std::uint32_t i = 0; i < s; ++i) pick[i] = i;
    for (;;) {
      codes.push_back(pick);
      if (codes.size() == m) return codes;
      // next combination
      std::int64_t i = static_cast<std::int64_t>(s) - 1;
      while (i >= 0 && pick[static_cast<std::size_t>(i)] == n - s + static_cast<std::uint32_t>(i)) --i;
      if (i < 0) break;
      ++pick[static_cast<std::size_t>(i)];
      for (auto j = static_cast<std::size_t>(i) + 1; j < s; ++j) pick[j] = pick[j - 1] + 1;
    }
  }
  return {};
}

}  // namespace

std::string_view to_string(tiny_model_kind kind) noexcept {
  switch (kind) {
    case tiny_model_kind::random: return "random";
    case tiny_model_kind::unused50: return "unused50";
    case tiny_model_kind::hello: return "hello";
    case tiny_model_kind::story: return "story";
    case tiny_model_kind::think: return "think";
  }
  return "random";
}

std::optional<tiny_model_kind> parse_tiny_model_kind(std::string_view text) noexcept {
  for (auto k : {tiny_model_kind::random, tiny_model_kind::unused50, tiny_model_kind::hello,
                 tiny_model_kind::story, tiny_model_kind::think}) {
    if (text == to_string(k)) return k;
  }
  return std::nullopt;
}

const std::string& tiny_story_text() {
  static const std::string text = [] {
    std::string out;
    for (const std::string& token : story_tokens()) {
      for (std::size_t at = 0; at < token.size();) {
        if (token.compare(at, sp_space.size(), sp_space) == 0) {
          out += ' ';
          at += sp_space.size();
        } else {
          out += token[at++];
        }
      }
    }
    return out;
  }();
  return text;
}

result<void> write_tiny_model(const std::filesystem::path& path, tiny_model_kind kind,
                              const tiny_model_options& options, std::string* why) {
  const bool real = options.vocab != nullptr;
  auto fail_with = [&](const std::string& message) { return write_failed(why, message, EINVAL); };

  // The vocabulary as written: the family's (with the unused tokens retyped if asked) or the toy.
  toy_vocabulary toy;
  tokenizer_vocab toy_as_vocab;
  const tokenizer_vocab* vocab = options.vocab;
  if (!real) {
    toy = make_toy_vocabulary(kind);
    toy_as_vocab.model = "llama";
    toy_as_vocab.tokens = toy.tokens;
    toy_as_vocab.scores = toy.scores;
    toy_as_vocab.types = toy.types;
    toy_as_vocab.bos = tiny_token_bos;
    toy_as_vocab.eos = tiny_token_eos;
    toy_as_vocab.unk = tiny_token_unk;
    toy_as_vocab.add_bos = true;
    // Like the recorded test models: "Hello, world!" tokenizes as Hello , ▁world !
    toy_as_vocab.add_space_prefix = false;
    toy_as_vocab.chat_template = chatml_template;
    vocab = &toy_as_vocab;
  }
  const std::vector<std::string>& tokens = vocab->tokens;
  std::vector<std::int32_t> types = vocab->types;
  const auto n_vocab = static_cast<std::uint64_t>(tokens.size());
  if (n_vocab == 0 || types.size() != n_vocab || (!vocab->scores.empty() && vocab->scores.size() != n_vocab)) {
    return fail_with("the vocabulary is empty or inconsistent");
  }

  std::optional<std::uint32_t> unused_id;
  if (real) {
    auto find = [&](std::string_view t) { return vocab->find(t); };
    if (!options.unused_token.empty()) {
      unused_id = find(options.unused_token);
      if (!unused_id) return fail_with("the vocabulary has no token '" + options.unused_token + "'");
    } else {
      for (const char* t : {"<unused50>", "<|reserved_special_token_50|>", "<SPECIAL_50>", "<|vision_pad|>"}) {
        if ((unused_id = find(t))) break;
      }
    }
    if (options.unused_as_text) {
      for (auto id : vocab->unused_ids) types[id] = tok_user_defined;
      if (unused_id) types[*unused_id] = tok_user_defined;
    }
  } else {
    unused_id = static_cast<std::uint32_t>(tiny_token_unused0 + 50);
  }

  // Sizes: the toy model keeps its historic shape; a real vocabulary's model is as narrow as the
  // chains allow, since its two vocabulary-sized matrices are nearly all of the file.
  const std::uint32_t n_embd = options.embedding_length != 0 ? options.embedding_length : (real ? 16 : 64);
  const std::uint32_t n_head = real ? 2 : 4;
  if (n_embd < 8 || n_embd % n_head != 0 || n_embd > 4096) {
    return fail_with("the embedding length must be a multiple of " + std::to_string(n_head) + " from 8 to 4096");
  }
  const bool gemma3 = options.arch == tiny_model_arch::gemma3;
  const std::uint32_t n_head_kv = gemma3 ? 1 : n_head;  // Gemma 3 shares its keys and values
  const std::uint32_t head_dim = n_embd / n_head;
  const std::uint32_t n_ff = 2 * n_embd;
  const std::uint32_t n_layer = gemma3 ? 6 : 2;
  if (gemma3 && options.sliding_window == 0) return fail_with("gemma3 needs a sliding window");
  const std::string arch = gemma3 ? "gemma3" : "llama";
  const std::uint32_t embd_type = real ? ggml_f16 : ggml_f32;
  const std::optional<std::uint32_t> end_of_turn = vocab->eot ? vocab->eot : vocab->eos;

  // --- the chain (every kind but random): distinct tokens, each followed by the next ---
  std::vector<std::uint32_t> chain;
  bool cyclic = false;      // story, unused50: the last token is followed by the first
  std::string answer_text;  // openclawd.tiny.text
  if (kind != tiny_model_kind::random) {
    if (!real) {
      auto id = [&](std::string_view t) { return static_cast<std::uint32_t>(toy.id(t)); };
      switch (kind) {
        case tiny_model_kind::hello:
          chain = {id("Hello"), id(","), id(sp_space + "world"), id("!"), tiny_token_eos};
          answer_text = "Hello, world!";
          break;
        case tiny_model_kind::unused50:
          chain = {*unused_id};
          cyclic = true;
          answer_text = "<unused50>";
          break;
        case tiny_model_kind::story:
          for (const std::string& t : story_tokens()) chain.push_back(id(t));
          cyclic = true;
          answer_text = tiny_story_text();
          break;
        case tiny_model_kind::think:
          return fail_with("think needs a vocabulary with <think> and </think> (--tokenizer)");
        case tiny_model_kind::random:
          break;
      }
      if (std::set<std::uint32_t>(chain.begin(), chain.end()).size() != chain.size()) {
        return fail_with("internal error: a toy chain uses a token twice");
      }
    } else {
      std::unordered_map<std::string, std::uint32_t> by_text;
      by_text.reserve(static_cast<std::size_t>(n_vocab));
      std::size_t max_len = 1;
      for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (auto t = printed_text(vocab->model, tokens[i], types[i])) {
          max_len = std::max(max_len, t->size());
          by_text.emplace(std::move(*t), static_cast<std::uint32_t>(i));  // lowest id wins
        }
      }
      chain_builder b(by_text, max_len);
      auto spell = [&](std::string_view text) -> bool {
        if (!b.add_text(text)) return false;
        answer_text += text;
        return true;
      };
      auto token = [&](std::string_view text) { return vocab->find(text); };
      switch (kind) {
        case tiny_model_kind::hello:
          if (!end_of_turn) return fail_with("the vocabulary has no eos or end-of-turn token");
          if (!spell("Hello, world!") || !b.add_token(*end_of_turn)) {
            return fail_with("cannot spell \"Hello, world!\" with distinct tokens of this vocabulary");
          }
          break;
        case tiny_model_kind::unused50:
          if (!unused_id) return fail_with("the vocabulary has no unused token; name one (--unused-token)");
          b.add_token(*unused_id);
          answer_text = tokens[*unused_id];
          cyclic = true;
          break;
        case tiny_model_kind::story:
          for (const char* paragraph : real_story_paragraphs) {
            bool done = false;
            for (const char* sep : story_separators) {
              chain_builder trial = b;
              if (trial.add_text(std::string(paragraph) + sep)) {
                b = std::move(trial);
                answer_text += std::string(paragraph) + sep;
                done = true;
                break;
              }
            }
            if (!done) return fail_with("cannot spell the story with distinct tokens of this vocabulary");
          }
          cyclic = true;
          break;
        case tiny_model_kind::think: {
          const auto open = token("<think>");
          const auto close = token("</think>");
          if (!open || !close) return fail_with("think needs <think> and </think> tokens (a Qwen3-style vocabulary)");
          if (!end_of_turn) return fail_with("the vocabulary has no eos or end-of-turn token");
          // After "</think>", "\n\n" as the template's enable_thinking=false prompt ends.
          if (!b.add_token(*open) || !spell(think_thought) || !b.add_token(*close) || !spell("\n\n") ||
              !spell("Hello, world!") || !b.add_token(*end_of_turn)) {
            return fail_with("cannot spell the think answer with distinct tokens of this vocabulary");
          }
          answer_text = "<think>" + std::string(think_thought) + "</think>\n\nHello, world!";
          break;
        }
        case tiny_model_kind::random:
          break;
      }
      chain = std::move(b.chain);
    }
  }

  // Classes: a token's embedding is the code of the chain position that must follow it
  // (position 0 for every token outside the chain, e.g. a prompt's last one), and the output row
  // of chain[k] answers code k.
  std::vector<std::vector<std::uint32_t>> codes;
  std::unordered_map<std::uint32_t, std::uint32_t> next_class;  // token -> class of its successor
  std::unordered_map<std::uint32_t, std::uint32_t> answers;     // chain[k] -> k
  float row_weight = 0;
  if (!chain.empty()) {
    codes = make_codes(n_embd, chain.size());
    if (codes.empty()) return fail_with("more chain tokens than codes in " + std::to_string(n_embd) + " dimensions");
    for (std::size_t k = 0; k < chain.size(); ++k) {
      answers[chain[k]] = static_cast<std::uint32_t>(k);
      if (k + 1 < chain.size()) {
        next_class[chain[k]] = static_cast<std::uint32_t>(k + 1);
      } else if (cyclic) {
        next_class[chain[k]] = 0;
      }
    }
    // After RMS norm a code of s ones is sqrt(n / s) in each of its dimensions: the right row
    // scores s * that * weight, a row sharing s - 1 dimensions (s - 1) * ..., all others 0.
    const double s = static_cast<double>(codes.front().size());
    row_weight = static_cast<float>(60.0 / std::sqrt(static_cast<double>(n_embd) / s));
  }

  header_builder h;
  h.kv_str("general.architecture", arch);
  h.kv_str("general.name", "openclawd-tiny-" + std::string(to_string(kind)));
  h.kv_u32("general.file_type", real ? 1 : 0);  // 1: mostly F16
  h.kv_u32("general.alignment", static_cast<std::uint32_t>(alignment));
  h.kv_u32(arch + ".context_length", options.context_length);
  h.kv_u32(arch + ".embedding_length", n_embd);
  h.kv_u32(arch + ".block_count", n_layer);
  h.kv_u32(arch + ".feed_forward_length", n_ff);
  h.kv_u32(arch + ".attention.head_count", n_head);
  h.kv_u32(arch + ".attention.head_count_kv", n_head_kv);
  if (gemma3) {
    h.kv_u32(arch + ".attention.key_length", head_dim);
    h.kv_u32(arch + ".attention.value_length", head_dim);
    h.kv_f32(arch + ".attention.layer_norm_rms_epsilon", 1e-6f);
    h.kv_u32(arch + ".attention.sliding_window", options.sliding_window);
    h.kv_f32(arch + ".rope.freq_base", 1000000.0f);  // the global layers'; sliding ones use 10000
  } else {
    h.kv_u32(arch + ".rope.dimension_count", head_dim);
    h.kv_f32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
  }
  h.kv_u32(arch + ".vocab_size", static_cast<std::uint32_t>(n_vocab));
  h.kv_str("tokenizer.ggml.model", vocab->model);
  if (!vocab->pre.empty()) h.kv_str("tokenizer.ggml.pre", vocab->pre);
  h.kv_strings("tokenizer.ggml.tokens", tokens);
  if (!vocab->scores.empty()) h.kv_f32s("tokenizer.ggml.scores", vocab->scores);
  h.kv_i32s("tokenizer.ggml.token_type", types);
  if (!vocab->merges.empty()) h.kv_strings("tokenizer.ggml.merges", vocab->merges);
  if (vocab->bos) h.kv_u32("tokenizer.ggml.bos_token_id", *vocab->bos);
  if (vocab->eos) h.kv_u32("tokenizer.ggml.eos_token_id", *vocab->eos);
  if (vocab->eot) h.kv_u32("tokenizer.ggml.eot_token_id", *vocab->eot);
  if (vocab->unk) h.kv_u32("tokenizer.ggml.unknown_token_id", *vocab->unk);
  if (vocab->pad) h.kv_u32("tokenizer.ggml.padding_token_id", *vocab->pad);
  h.kv_bool("tokenizer.ggml.add_bos_token", vocab->add_bos);
  h.kv_bool("tokenizer.ggml.add_eos_token", vocab->add_eos);
  if (vocab->add_space_prefix) h.kv_bool("tokenizer.ggml.add_space_prefix", *vocab->add_space_prefix);
  const std::string& chat_template = options.chat_template.empty() ? vocab->chat_template : options.chat_template;
  if (!chat_template.empty()) h.kv_str("tokenizer.chat_template", chat_template);
  if (!answer_text.empty()) h.kv_str("openclawd.tiny.text", answer_text);

  // --- weights, per kind ---
  // For the chains the blocks must not disturb the residual stream, so attn_output and ffn_down
  // are zero (gemma3's post-norms of a zero vector are zero too): the final hidden state is the
  // current token's embedding, and output.weight alone decides the next token. The other block
  // weights stay random (small).
  const bool quiet_blocks = kind != tiny_model_kind::random;

  // random: the last dimension carries a constant, so output rows can push tokens down whatever
  // the context: byte tokens (invalid UTF-8 makes llama-server answer 500) and control tokens
  // (so replies never stop early) are never sampled, nor, with a real vocabulary, anything but a
  // normal token that prints as whole UTF-8 (a byte-level fragment of a character would not) and
  // that llama.cpp does not take for an end of generation by its text.
  const std::uint64_t bias_dim = n_embd - 1;
  std::vector<bool> suppressed;
  if (kind == tiny_model_kind::random) {
    suppressed.resize(static_cast<std::size_t>(n_vocab));
    for (std::size_t t = 0; t < tokens.size(); ++t) {
      suppressed[t] = real ? types[t] != tok_normal || stops_generation(tokens[t]) ||
                                 !printed_text(vocab->model, tokens[t], types[t])
                           : types[t] == tok_byte || types[t] == tok_control || types[t] == tok_unknown;
    }
  }

  std::vector<tensor_spec> tensors;
  const std::uint64_t seed = options.seed;
  auto random_matrix = [&](std::string name, std::uint64_t ne0, std::uint64_t ne1, float scale) {
    auto rng = std::make_shared<weight_rng>(seed, name);
    tensors.push_back({name, ne0, ne1, true, ggml_f32, [rng, scale](std::uint64_t, std::vector<float>& out) {
                         for (float& x : out) x = rng->uniform(scale);
                       }});
  };
  auto constant = [&](std::string name, std::uint64_t ne0, std::uint64_t ne1, bool matrix, float value) {
    tensors.push_back({std::move(name), ne0, ne1, matrix, ggml_f32, [value](std::uint64_t, std::vector<float>& out) {
                         std::fill(out.begin(), out.end(), value);
                       }});
  };

  {
    auto rng = std::make_shared<weight_rng>(seed, "token_embd.weight");
    tensors.push_back({"token_embd.weight", n_embd, n_vocab, true, embd_type,
                       [=, &codes, &next_class](std::uint64_t token, std::vector<float>& out) {
                         if (kind == tiny_model_kind::random) {
                           for (float& x : out) x = rng->uniform(1.0f);
                           out[bias_dim] = 4.0f;
                           return;
                         }
                         std::fill(out.begin(), out.end(), 0.0f);
                         auto it = next_class.find(static_cast<std::uint32_t>(token));
                         for (auto d : codes[it == next_class.end() ? 0 : it->second]) out[d] = 1.0f;
                       }});
  }
  const std::uint64_t q_dim = std::uint64_t{n_head} * head_dim;
  const std::uint64_t kv_dim = std::uint64_t{n_head_kv} * head_dim;
  for (std::uint32_t b = 0; b < n_layer; ++b) {
    const std::string p = "blk." + std::to_string(b) + ".";
    constant(p + "attn_norm.weight", n_embd, 1, false, 1.0f);
    random_matrix(p + "attn_q.weight", n_embd, q_dim, 0.1f);
    random_matrix(p + "attn_k.weight", n_embd, kv_dim, 0.1f);
    random_matrix(p + "attn_v.weight", n_embd, kv_dim, 0.1f);
    if (quiet_blocks) {
      constant(p + "attn_output.weight", q_dim, n_embd, true, 0.0f);
    } else {
      random_matrix(p + "attn_output.weight", q_dim, n_embd, 0.1f);
    }
    if (gemma3) {
      // Norm weights are stored as llama.cpp uses them (the converter already added Gemma's 1).
      constant(p + "attn_q_norm.weight", head_dim, 1, false, 1.0f);
      constant(p + "attn_k_norm.weight", head_dim, 1, false, 1.0f);
      constant(p + "post_attention_norm.weight", n_embd, 1, false, 1.0f);
    }
    constant(p + "ffn_norm.weight", n_embd, 1, false, 1.0f);
    random_matrix(p + "ffn_gate.weight", n_embd, n_ff, 0.1f);
    random_matrix(p + "ffn_up.weight", n_embd, n_ff, 0.1f);
    if (quiet_blocks) {
      constant(p + "ffn_down.weight", n_ff, n_embd, true, 0.0f);
    } else {
      random_matrix(p + "ffn_down.weight", n_ff, n_embd, 0.1f);
    }
    if (gemma3) constant(p + "post_ffw_norm.weight", n_embd, 1, false, 1.0f);
  }
  constant("output_norm.weight", n_embd, 1, false, 1.0f);
  {
    auto rng = std::make_shared<weight_rng>(seed, "output.weight");
    tensors.push_back({"output.weight", n_embd, n_vocab, true, embd_type,
                       [=, &codes, &answers, &suppressed](std::uint64_t token, std::vector<float>& out) {
                         std::fill(out.begin(), out.end(), 0.0f);
                         if (kind == tiny_model_kind::random) {
                           for (float& x : out) x = rng->uniform(1.0f);
                           out[bias_dim] = 0.0f;
                           if (suppressed[token]) {
                             std::fill(out.begin(), out.end(), 0.0f);
                             out[bias_dim] = -40.0f;
                           }
                           return;
                         }
                         auto it = answers.find(static_cast<std::uint32_t>(token));
                         if (it == answers.end()) return;
                         for (auto d : codes[it->second]) out[d] = row_weight;
                       }});
  }

  // Tensor table: offsets are relative to the (aligned) start of the data section.
  header_builder out;
  out.bytes().append(magic.data(), magic.size());
  out.u32(3);
  out.u64(tensors.size());
  out.u64(h.kv_count());
  out.bytes() += h.bytes();
  h.bytes().clear();
  h.bytes().shrink_to_fit();
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    out.str(t.name);
    out.u32(t.matrix ? 2 : 1);
    out.u64(t.ne0);
    if (t.matrix) out.u64(t.ne1);
    out.u32(t.type);
    out.u64(offset);
    offset += (t.bytes() + alignment - 1) / alignment * alignment;
  }
  out.bytes().resize((out.bytes().size() + alignment - 1) / alignment * alignment, '\0');

  // Renaming over a symlink or a device (say /dev/stdout) would replace it, not write through it.
  std::error_code status_ec;
  auto existing = std::filesystem::symlink_status(path, status_ec);
  if (!status_ec && std::filesystem::exists(existing) && !std::filesystem::is_regular_file(existing)) {
    return write_failed(why, path.string() + ": exists and is not a regular file; not replacing it", EEXIST);
  }

  // Write to a temporary file in the same folder, then rename: readers never see half a model.
  std::random_device rd;
  std::filesystem::path tmp = path;
  tmp += ".tmp-" + std::to_string(rd()) + std::to_string(
      std::chrono::steady_clock::now().time_since_epoch().count() & 0xffff);
  std::unique_ptr<std::FILE, file_closer> f(std::fopen(tmp.c_str(), "wb"));
  if (!f) {
    const int e = errno;
    return write_failed(why, tmp.string() + ": cannot create: " + std::generic_category().message(e), e);
  }
  auto fail = [&](const char* what) {
    const int e = errno;
    f.reset();
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    return write_failed(why, tmp.string() + ": " + what + ": " + std::generic_category().message(e), e);
  };
  auto put = [&](const void* data, std::size_t n) {
    return std::fwrite(data, 1, n, f.get()) == n;
  };

  if (!put(out.bytes().data(), out.bytes().size())) return fail("write failed");
  std::vector<float> row;
  std::string le;  // the row in little-endian bytes
  static const char zeros[alignment] = {};
  for (const auto& t : tensors) {
    row.assign(static_cast<std::size_t>(t.ne0), 0.0f);
    const std::size_t width = t.type == ggml_f16 ? 2 : 4;
    le.assign(row.size() * width, '\0');
    for (std::uint64_t r = 0; r < t.ne1; ++r) {
      t.fill(r, row);
      auto* p = reinterpret_cast<unsigned char*>(le.data());
      for (float x : row) {
        const std::uint32_t u = t.type == ggml_f16 ? to_f16(x) : std::bit_cast<std::uint32_t>(x);
        for (std::size_t i = 0; i < width; ++i) *p++ = static_cast<unsigned char>(u >> (8 * i));
      }
      if (!put(le.data(), le.size())) return fail("write failed");
    }
    std::uint64_t pad = (alignment - t.bytes() % alignment) % alignment;
    if (pad != 0 && !put(zeros, static_cast<std::size_t>(pad))) return fail("write failed");
  }
  if (std::fflush(f.get()) != 0) return fail("write failed");
  if (std::fclose(f.release()) != 0) return fail("close failed");  // f is empty now

  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    return write_failed(why, path.string() + ": cannot rename into place: " + ec.message(), ec.value());
  }
  return {};
}

}  // namespace openclawd::core
