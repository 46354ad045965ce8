#include "core/tokenizer_import.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace openclawd::core {

std::optional<std::uint32_t> tokenizer_vocab::find(std::string_view token) const {
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] == token) return static_cast<std::uint32_t>(i);
  }
  return std::nullopt;
}

namespace {

using json = nlohmann::json;

// No real vocabulary comes near this; it bounds what a hostile file can make us allocate.
constexpr std::uint64_t max_token_id = 1u << 24;

const std::string sp_space = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space
const std::string bl_space = "\xC4\xA0";      // U+0120 "Ġ", byte-level BPE's space

// Builds a json value from SAX events: for the small parts of tokenizer.json (added tokens,
// normalizer, pre-tokenizer, post-processor, decoder), which are read as a DOM.
class json_builder {
 public:
  explicit json_builder(json& target) : target_(target) {}
  bool done() const { return started_ && stack_.empty(); }

  void start(json value) {
    json* slot = place(std::move(value));
    stack_.push_back(slot);
  }
  void value(json value) { place(std::move(value)); }
  void key(std::string k) { key_ = std::move(k); }
  void end() { stack_.pop_back(); }

 private:
  json* place(json value) {
    if (!started_) {
      started_ = true;
      target_ = std::move(value);
      return &target_;
    }
    json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    json& slot = parent[key_];
    slot = std::move(value);
    return &slot;
  }

  json& target_;
  std::vector<json*> stack_;
  std::string key_;
  bool started_ = false;
};

// Streams tokenizer.json. model.vocab and model.merges, nearly all of the file, go straight into
// vectors; every other member is kept as a small DOM in `root` (top level) or `model` (inside
// "model"). Depth 1 is the root object, 2 its members' values, 3 the model's members' values.
class tokenizer_json_sax {
 public:
  json root = json::object();
  json model = json::object();
  std::vector<std::string> vocab;  // by id; empty strings are ids no token has
  std::vector<bool> vocab_set;
  std::vector<std::string> merges;
  std::string error;

  bool null() { return scalar(nullptr); }
  bool boolean(bool v) { return scalar(v); }
  bool number_integer(json::number_integer_t v) {
    if (in_vocab_ && depth_ == 3 && !capture_) {
      if (v < 0) return fail("negative id for token '" + key_ + "'");
      return vocab_entry(static_cast<std::uint64_t>(v));
    }
    return scalar(v);
  }
  bool number_unsigned(json::number_unsigned_t v) {
    if (in_vocab_ && depth_ == 3 && !capture_) return vocab_entry(v);
    return scalar(v);
  }
  bool number_float(json::number_float_t v, const std::string&) { return scalar(v); }
  bool binary(json::binary_t&) { return fail("binary values are not JSON"); }

  bool string(std::string& v) {
    if (!capture_ && in_merges_) {
      if (depth_ == 3) {
        merges.push_back(std::move(v));  // old form: "a b"
        return true;
      }
      if (depth_ == 4) {
        pair_.push_back(std::move(v));
        return true;
      }
    }
    return scalar(std::move(v));
  }

  bool key(std::string& k) {
    if (capture_) {
      capture_->key(std::move(k));
    } else {
      key_ = std::move(k);
    }
    return true;
  }

  bool start_object(std::size_t) { return open(true); }
  bool start_array(std::size_t) { return open(false); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) {
    return fail("not valid JSON at byte " + std::to_string(position) + ": " + ex.what());
  }

 private:
  bool fail(std::string message) {
    if (error.empty()) error = std::move(message);
    return false;
  }

  bool vocab_entry(std::uint64_t id) {
    if (id >= max_token_id) return fail("token id " + std::to_string(id) + " is out of range");
    const auto i = static_cast<std::size_t>(id);
    if (i >= vocab.size()) {
      vocab.resize(i + 1);
      vocab_set.resize(i + 1, false);
    }
    if (vocab_set[i]) return fail("two tokens have id " + std::to_string(id));
    vocab[i] = key_;
    vocab_set[i] = true;
    return true;
  }

  // Where a value at the current depth belongs when it is not vocab or merges.
  json* slot_for_value() {
    if (depth_ == 1) return &root[key_];
    if (depth_ == 2 && in_model_) return &model[key_];
    return nullptr;  // deeper inside something we do not keep
  }

  template <class V>
  bool scalar(V&& v) {
    if (capture_) {
      capture_->value(json(std::forward<V>(v)));
      return true;
    }
    if (depth_ == 0) return fail("tokenizer.json is not an object");
    if (json* slot = slot_for_value()) *slot = json(std::forward<V>(v));
    return true;
  }

  bool open(bool object) {
    if (capture_) {
      capture_->start(object ? json::object() : json::array());
      ++depth_;
      return true;
    }
    ++depth_;
    if (depth_ == 1) return object ? true : fail("tokenizer.json is not an object");
    if (depth_ == 2 && key_ == "model") {
      if (!object) return fail("\"model\" is not an object");
      in_model_ = true;
      return true;
    }
    if (depth_ == 3 && in_model_ && key_ == "vocab") {
      if (!object) return fail("\"model.vocab\" is not an object");
      in_vocab_ = true;
      return true;
    }
    if (depth_ == 3 && in_model_ && key_ == "merges") {
      if (object) return fail("\"model.merges\" is not an array");
      in_merges_ = true;
      return true;
    }
    if (depth_ == 4 && in_merges_) {
      if (object) return fail("a merge is an object");
      pair_.clear();
      return true;
    }
    --depth_;  // the slot is named at the parent's depth
    json* slot = slot_for_value();
    ++depth_;
    capture_target_ = slot != nullptr ? slot : &ignored_;
    capture_ = std::make_unique<json_builder>(*capture_target_);
    capture_depth_ = depth_;
    capture_->start(object ? json::object() : json::array());
    return true;
  }

  bool close() {
    if (capture_) {
      capture_->end();
      if (depth_ == capture_depth_) {
        capture_.reset();
        ignored_ = nullptr;
      }
      --depth_;
      return true;
    }
    if (depth_ == 4 && in_merges_) {
      // New form since transformers 4.45: ["a", "b"]. A space inside a part is written as
      // U+0120, as gguf-py's SpecialVocab does, so that "a b" still splits at the one space.
      if (pair_.size() != 2) return fail("merge " + std::to_string(merges.size()) + " is not a pair");
      std::string joined;
      for (std::size_t p = 0; p < 2; ++p) {
        if (p == 1) joined += ' ';
        for (char c : pair_[p]) {
          if (c == ' ') {
            joined += bl_space;
          } else {
            joined += c;
          }
        }
      }
      merges.push_back(std::move(joined));
    } else if (depth_ == 3 && in_vocab_) {
      in_vocab_ = false;
    } else if (depth_ == 3 && in_merges_) {
      in_merges_ = false;
    } else if (depth_ == 2 && in_model_) {
      in_model_ = false;
    }
    --depth_;
    return true;
  }

  int depth_ = 0;
  std::string key_;
  bool in_model_ = false;
  bool in_vocab_ = false;
  bool in_merges_ = false;
  std::vector<std::string> pair_;
  std::unique_ptr<json_builder> capture_;
  json* capture_target_ = nullptr;
  json ignored_;
  int capture_depth_ = 0;
};

result<tokenizer_vocab> invalid(std::string* why, const std::string& reason) {
  if (why != nullptr) *why = reason;
  return make_error_code(errc::tokenizer_invalid);
}

bool bool_or(const json& j, const char* key, bool fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

std::string string_or(const json& j, const char* key, std::string fallback = {}) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// A tokenizer_config.json token entry: a string, or an AddedToken object with "content".
std::optional<std::string> config_token(const json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  return std::nullopt;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool has_affixes(std::string_view s, std::string_view prefix, std::string_view suffix) {
  return s.size() >= prefix.size() + suffix.size() && s.substr(0, prefix.size()) == prefix &&
         s.substr(s.size() - suffix.size()) == suffix;
}

// <unusedN> (Gemma), <|reserved_special_token_N|> (Llama 3), <SPECIAL_N> (Mistral's tekken).
bool is_unused_kind(std::string_view s) {
  for (auto [prefix, suffix] : {std::pair<std::string_view, std::string_view>{"<unused", ">"},
                                {"<|reserved_special_token_", "|>"},
                                {"<SPECIAL_", ">"}}) {
    if (has_affixes(s, prefix, suffix) &&
        all_digits(s.substr(prefix.size(), s.size() - prefix.size() - suffix.size()))) {
      return true;
    }
  }
  return false;
}

// convert_hf_to_gguf.py's does_token_look_special: added tokens some models mark as not special
// that ought to be control tokens.
bool looks_special(std::string_view s) {
  if (s == "<pad>" || s == "<mask>" || s == "<2mass>" || s == "[@BOS@]") return true;
  if (has_affixes(s, "<|", "|>")) return true;
  if (has_affixes(s, "<\xEF\xBD\x9C", "\xEF\xBD\x9C>")) return true;  // <｜...｜> (DeepSeek)
  return has_affixes(s, "<unused", ">");
}

bool is_byte_token(std::string_view s) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); };
  return s.size() == 6 && s.substr(0, 3) == "<0x" && hex(s[3]) && hex(s[4]) && s[5] == '>';
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// Every "type" value anywhere inside `j`.
void collect_types(const json& j, std::vector<std::string>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "type" && it->is_string()) out.push_back(it->get<std::string>());
      collect_types(*it, out);
    }
  } else if (j.is_array()) {
    for (const auto& e : j) collect_types(e, out);
  }
}

// Every {"Regex": "..."} pattern anywhere inside `j`.
void collect_regexes(const json& j, std::vector<std::string>& out) {
  if (j.is_object()) {
    auto r = j.find("Regex");
    if (r != j.end() && r->is_string()) out.push_back(r->get<std::string>());
    for (const auto& e : j) collect_regexes(e, out);
  } else if (j.is_array()) {
    for (const auto& e : j) collect_regexes(e, out);
  }
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The pre-tokenizer regexes llama.cpp implements under each tokenizer.ggml.pre name, as the
// families' tokenizer.json files spell them (llama-vocab.cpp has the same expressions).
struct known_pre {
  const char* name;
  const char* regex;
};
constexpr known_pre known_pres[] = {
    {"llama-bpe",
     R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re"},
    {"qwen2",
     R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re"},
    {"tekken",
     R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re"},
};

// add_bos/add_eos from a TemplateProcessing post-processor (alone or in a Sequence), as
// gguf-py's SpecialVocab reads them: a leading special token that is the bos adds bos.
void template_processing_adds(const json& pp, const std::string& bos, const std::string& eos,
                              std::optional<bool>& add_bos, std::optional<bool>& add_eos) {
  if (!pp.is_object()) return;
  if (string_or(pp, "type") == "Sequence") {
    auto it = pp.find("processors");
    if (it != pp.end() && it->is_array()) {
      for (const auto& p : *it) template_processing_adds(p, bos, eos, add_bos, add_eos);
    }
    return;
  }
  if (string_or(pp, "type") != "TemplateProcessing") return;
  auto single = pp.find("single");
  if (single == pp.end() || !single->is_array() || single->size() < 2) return;
  auto special_id = [](const json& item) {
    auto st = item.find("SpecialToken");
    return st != item.end() ? string_or(*st, "id") : std::string();
  };
  const std::string first = special_id(single->front());
  const std::string last = special_id(single->back());
  if (!first.empty()) add_bos = first == bos;
  if (!last.empty()) add_eos = last == eos;
}

result<tokenizer_vocab> import_impl(const std::filesystem::path& dir, const tokenizer_import_options& options,
                                    std::string* why) {
  const auto json_path = dir / "tokenizer.json";
  const auto config_path = dir / "tokenizer_config.json";

  tokenizer_json_sax sax;
  {
    struct closer { void operator()(std::FILE* f) const { std::fclose(f); } };
    std::unique_ptr<std::FILE, closer> f(std::fopen(json_path.c_str(), "rb"));
    if (!f) return invalid(why, json_path.string() + ": cannot open");
    const bool ok = json::sax_parse(f.get(), &sax);
    if (!ok) return invalid(why, json_path.string() + ": " + (sax.error.empty() ? "unreadable" : sax.error));
  }

  json config;
  {
    struct closer { void operator()(std::FILE* f) const { std::fclose(f); } };
    std::unique_ptr<std::FILE, closer> f(std::fopen(config_path.c_str(), "rb"));
    if (!f) return invalid(why, config_path.string() + ": cannot open");
    config = json::parse(f.get(), nullptr, false);
    if (!config.is_object()) return invalid(why, config_path.string() + ": not a JSON object");
  }

  const std::string where = json_path.string() + ": ";
  if (string_or(sax.model, "type") != "BPE") {
    return invalid(why, where + "model type '" + string_or(sax.model, "type") +
                            "' is not supported (only BPE: SentencePiece-style or byte-level)");
  }
  if (sax.vocab.empty()) return invalid(why, where + "model.vocab is empty");

  std::vector<std::string> decoder_types, pre_types;
  collect_types(sax.root["decoder"], decoder_types);
  collect_types(sax.root["pre_tokenizer"], pre_types);
  const bool byte_fallback = bool_or(sax.model, "byte_fallback", false);

  tokenizer_vocab v;
  if (byte_fallback && contains(decoder_types, "ByteFallback")) {
    v.model = "llama";
  } else if (!byte_fallback && (contains(decoder_types, "ByteLevel") || contains(pre_types, "ByteLevel"))) {
    v.model = "gpt2";
  } else {
    return invalid(why, where + "neither SentencePiece-style BPE (byte_fallback and a ByteFallback "
                                "decoder) nor byte-level BPE (a ByteLevel decoder)");
  }
  v.tokenizer_class = string_or(config, "tokenizer_class");

  // Tokens by id: the model's vocabulary, then the added tokens (which may add ids past it).
  const json& added = sax.root["added_tokens"];
  std::size_t n_tokens = sax.vocab.size();
  if (added.is_array()) {
    for (const auto& a : added) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_unsigned() || !a.contains("content") ||
          !a["content"].is_string()) {
        return invalid(why, where + "an added token lacks an id or content");
      }
      const auto id = a["id"].get<std::uint64_t>();
      if (id >= max_token_id) return invalid(why, where + "added token id " + std::to_string(id) + " is out of range");
      n_tokens = std::max(n_tokens, static_cast<std::size_t>(id) + 1);
    }
  }
  v.tokens.resize(n_tokens);
  v.types.assign(n_tokens, static_cast<std::int32_t>(gguf_token_type::normal));
  std::vector<bool> present(n_tokens, false);
  const std::string unk_text = string_or(sax.model, "unk_token");
  for (std::size_t i = 0; i < sax.vocab.size(); ++i) {
    if (!sax.vocab_set[i]) continue;
    present[i] = true;
    v.tokens[i] = std::move(sax.vocab[i]);
    if (v.model == "llama") {
      if (is_byte_token(v.tokens[i])) v.types[i] = static_cast<std::int32_t>(gguf_token_type::byte);
      if (!unk_text.empty() && v.tokens[i] == unk_text) v.types[i] = static_cast<std::int32_t>(gguf_token_type::unknown);
    }
  }
  sax.vocab.clear();
  sax.vocab.shrink_to_fit();

  std::unordered_map<std::string, std::uint32_t> added_ids;  // content -> id, first wins
  if (added.is_array()) {
    for (const auto& a : added) {
      const auto id = static_cast<std::size_t>(a["id"].get<std::uint64_t>());
      std::string content = a["content"].get<std::string>();
      added_ids.emplace(content, static_cast<std::uint32_t>(id));
      present[id] = true;
      const bool special = bool_or(a, "special", false);
      gguf_token_type type;
      if (v.model == "llama" && !unk_text.empty() && content == unk_text) {
        type = gguf_token_type::unknown;
      } else if (is_unused_kind(content)) {
        type = gguf_token_type::control;
        v.unused_ids.push_back(static_cast<std::uint32_t>(id));
      } else if (special || looks_special(content)) {
        type = gguf_token_type::control;
      } else {
        // llama.cpp matches user-defined tokens in the raw text, where a space is still a space.
        type = gguf_token_type::user_defined;
        content = replace_all(std::move(content), sp_space, " ");
      }
      v.tokens[id] = std::move(content);
      v.types[id] = static_cast<std::int32_t>(type);
    }
  }
  for (std::size_t i = 0; i < n_tokens; ++i) {
    if (!present[i]) {
      v.tokens[i] = "[PAD" + std::to_string(i) + "]";
      v.types[i] = static_cast<std::int32_t>(gguf_token_type::unused);
    }
  }

  // llama.cpp refuses a vocabulary with a token twice.
  {
    std::unordered_map<std::string_view, std::size_t> seen;
    seen.reserve(n_tokens);
    for (std::size_t i = 0; i < n_tokens; ++i) {
      auto [it, inserted] = seen.emplace(v.tokens[i], i);
      if (!inserted) {
        return invalid(why, where + "token '" + v.tokens[i] + "' has ids " + std::to_string(it->second) +
                                " and " + std::to_string(i) + " (llama.cpp refuses duplicate tokens)");
      }
    }
  }

  if (v.model == "llama") {
    // score = -rank of the first merge that makes the token; tokens no merge makes get a score
    // below every merge's, so they never win a pair over a merge.
    std::unordered_map<std::string_view, std::uint32_t> ids;
    ids.reserve(n_tokens);
    for (std::size_t i = 0; i < n_tokens; ++i) ids.emplace(v.tokens[i], static_cast<std::uint32_t>(i));
    const float never = -static_cast<float>(sax.merges.size() + 1);
    v.scores.assign(n_tokens, never);
    std::vector<bool> scored(n_tokens, false);
    std::string joined;
    for (std::size_t rank = 0; rank < sax.merges.size(); ++rank) {
      const std::string& m = sax.merges[rank];
      const auto space = m.find(' ', 1);
      if (space == std::string::npos) return invalid(why, where + "merge " + std::to_string(rank) + " has no space");
      joined.assign(m, 0, space);
      joined.append(m, space + 1);
      // A part that held a space was written with U+0120; SentencePiece tokens have "▁" there.
      auto it = ids.find(joined);
      if (it != ids.end() && !scored[it->second]) {
        scored[it->second] = true;
        v.scores[it->second] = -static_cast<float>(rank);
      }
    }
    sax.merges.clear();
    sax.merges.shrink_to_fit();
    // The normalizer decides whether a leading "▁" is added (Llama 2's Prepend); Gemma's only
    // replaces spaces.
    bool prepends = false;
    std::vector<json> stack{sax.root["normalizer"]};
    while (!stack.empty()) {
      json n = std::move(stack.back());
      stack.pop_back();
      if (string_or(n, "type") == "Prepend" && string_or(n, "prepend") == sp_space) prepends = true;
      if (n.is_object() && n.contains("normalizers") && n["normalizers"].is_array()) {
        for (const auto& e : n["normalizers"]) stack.push_back(e);
      }
    }
    v.add_space_prefix = prepends;
  } else {
    v.merges = std::move(sax.merges);
    if (!options.pre.empty()) {
      v.pre = options.pre;
    } else {
      std::vector<std::string> regexes;
      collect_regexes(sax.root["pre_tokenizer"], regexes);
      for (const auto& k : known_pres) {
        if (contains(regexes, k.regex)) {
          v.pre = k.name;
          break;
        }
      }
      if (v.pre.empty()) {
        return invalid(why, where + "cannot tell tokenizer.ggml.pre from the pre-tokenizer (" +
                                std::to_string(regexes.size()) + " regex(es), tokenizer class '" +
                                v.tokenizer_class + "'): pass the name llama.cpp knows it by (--pre)");
      }
    }
  }

  // Special tokens, as gguf-py's SpecialVocab finds them: tokenizer_config.json's text, looked up
  // among the added tokens.
  auto added_id = [&](const std::optional<std::string>& text) -> std::optional<std::uint32_t> {
    if (!text) return std::nullopt;
    auto it = added_ids.find(*text);
    return it == added_ids.end() ? std::nullopt : std::optional<std::uint32_t>(it->second);
  };
  const auto bos_text = config_token(config, "bos_token");
  const auto eos_text = config_token(config, "eos_token");
  v.bos = added_id(bos_text);
  if (!bos_text) v.bos = added_id(std::string("<|endoftext|>"));  // Qwen's config.json names it
  v.eos = added_id(eos_text);
  v.unk = added_id(config_token(config, "unk_token"));
  v.pad = added_id(config_token(config, "pad_token"));
  for (const char* t : {"<end_of_turn>", "<|eot_id|>", "<|im_end|>"}) {
    if (auto id = added_id(std::string(t))) {
      v.eot = id;
      break;
    }
  }

  std::optional<bool> add_bos, add_eos;
  template_processing_adds(sax.root["post_processor"], bos_text.value_or(""), eos_text.value_or(""), add_bos, add_eos);
  if (auto it = config.find("add_bos_token"); it != config.end() && it->is_boolean()) add_bos = it->get<bool>();
  if (auto it = config.find("add_eos_token"); it != config.end() && it->is_boolean()) add_eos = it->get<bool>();
  v.add_bos = add_bos.value_or(false);
  v.add_eos = add_eos.value_or(false);

  if (auto it = config.find("chat_template"); it != config.end()) {
    if (it->is_string()) {
      v.chat_template = it->get<std::string>();
    } else if (it->is_array()) {  // [{"name": "default", "template": ...}, ...]
      for (const auto& t : *it) {
        if (string_or(t, "name") == "default") v.chat_template = string_or(t, "template");
      }
    }
  }
  return v;
}

}  // namespace

result<tokenizer_vocab> import_tokenizer(const std::filesystem::path& dir,
                                         const tokenizer_import_options& options, std::string* why) {
  // The checks above read only what they tested; anything they missed in a malformed file
  // surfaces as the library's exception, which must not cross this module's edge.
  try {
    return import_impl(dir, options, why);
  } catch (const std::exception& e) {
    return invalid(why, (dir / "tokenizer.json").string() + ": " + e.what());
  }
}

}  // namespace openclawd::core
