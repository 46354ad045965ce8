// core/tokenizer_import: the hand-made fixtures in tests/fixtures/tokenizers (shaped like Gemma 3,
// Qwen3 and Llama 3.1's files; README there) and broken files; and the tiny-model writer with such
// a vocabulary, read back with the GGUF reader. The families' real files are exercised against
// llama-server in tests/integration/real_vocab_test.cpp.
#include "core/gguf.hpp"
#include "core/tokenizer_import.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace fs = std::filesystem;
using namespace openclawd::core;

namespace {

const fs::path fixtures = fs::path(OPENCLAWD_TEST_FIXTURES) / "tokenizers";
const std::string sp = "\xE2\x96\x81";  // ▁
const std::string bl = "\xC4\xA0";      // Ġ

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("openclawd-tokenizer-test-" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

tokenizer_vocab import_ok(const std::string& name, const tokenizer_import_options& options = {}) {
  std::string why;
  auto v = import_tokenizer(fixtures / name, options, &why);
  INFO("reason: " << why);
  REQUIRE(v.has_value());
  return std::move(*v);
}

std::int32_t type_of(const tokenizer_vocab& v, std::string_view token) {
  auto id = v.find(token);
  REQUIRE(id.has_value());
  return v.types[*id];
}

constexpr auto normal = static_cast<std::int32_t>(gguf_token_type::normal);
constexpr auto unknown = static_cast<std::int32_t>(gguf_token_type::unknown);
constexpr auto control = static_cast<std::int32_t>(gguf_token_type::control);
constexpr auto user_defined = static_cast<std::int32_t>(gguf_token_type::user_defined);
constexpr auto unused = static_cast<std::int32_t>(gguf_token_type::unused);
constexpr auto byte = static_cast<std::int32_t>(gguf_token_type::byte);

// A copy of a fixture with tokenizer.json edited, to test one broken thing at a time.
std::string import_error(const std::string& tokenizer_json, const std::string& config = R"({"eos_token": "<eos>"})") {
  temp_dir dir;
  write_file(dir.path / "tokenizer.json", tokenizer_json);
  write_file(dir.path / "tokenizer_config.json", config);
  std::string why;
  auto v = import_tokenizer(dir.path, {}, &why);
  REQUIRE_FALSE(v.has_value());
  CHECK(v.error() == openclawd::errc::tokenizer_invalid);
  return why;
}

}  // namespace

TEST_CASE("tokenizer_import: SentencePiece-style BPE becomes a llama vocabulary scored by merge rank", "[tokenizer]") {
  const auto v = import_ok("sentencepiece");
  CHECK(v.model == "llama");
  CHECK(v.pre.empty());
  CHECK(v.merges.empty());  // llama.cpp's SentencePiece tokenizer uses scores, not merges
  CHECK(v.tokenizer_class == "GemmaTokenizer");
  // 10 leading tokens, 256 bytes, 20 pieces, and <image_soft_token> past the model's vocabulary.
  REQUIRE(v.tokens.size() == 287);
  CHECK(v.tokens.back() == "<image_soft_token>");
  REQUIRE(v.scores.size() == v.tokens.size());
  REQUIRE(v.types.size() == v.tokens.size());

  // score = -rank of the merge that makes the token; -(merges + 1) where no merge does.
  CHECK(v.scores[*v.find("He")] == -0.0f);
  CHECK(v.scores[*v.find("Hello")] == -3.0f);
  CHECK(v.scores[*v.find(sp + "world")] == -8.0f);
  CHECK(v.scores[*v.find("H")] == -11.0f);
  CHECK(v.scores[*v.find("<bos>")] == -11.0f);

  CHECK(type_of(v, "<0x41>") == byte);
  CHECK(type_of(v, "<unk>") == unknown);
  CHECK(type_of(v, "<bos>") == control);
  CHECK(type_of(v, "<end_of_turn>") == control);
  CHECK(type_of(v, "<image_soft_token>") == control);
  CHECK(type_of(v, "<unused0>") == control);  // not special in the file, CONTROL as real Gemma GGUFs
  CHECK(type_of(v, "<mask>") == control);     // not special either: the converter's "looks special"
  CHECK(type_of(v, "\n") == user_defined);
  CHECK(type_of(v, "Hello") == normal);
  // A user-defined "▁▁" is matched in raw text, where it is two spaces.
  CHECK(type_of(v, "  ") == user_defined);
  CHECK_FALSE(v.find(sp + sp));
  REQUIRE(v.unused_ids.size() == 2);
  CHECK(v.tokens[v.unused_ids[0]] == "<unused0>");

  CHECK(v.bos == 2u);
  CHECK(v.eos == 7u);  // <end_of_turn>, tokenizer_config.json's eos_token
  CHECK(v.eot == 7u);
  CHECK(v.unk == 3u);
  CHECK(v.pad == 0u);
  CHECK(v.add_bos);
  CHECK_FALSE(v.add_eos);
  CHECK(v.add_space_prefix == false);  // the normalizer only replaces spaces
  CHECK_THAT(v.chat_template, Catch::StartsWith("{{ bos_token }}"));
}

TEST_CASE("tokenizer_import: byte-level BPE becomes a gpt2 vocabulary with merges and the pre-tokenizer's name", "[tokenizer]") {
  const auto v = import_ok("byte_level");
  CHECK(v.model == "gpt2");
  CHECK(v.pre == "qwen2");
  CHECK(v.scores.empty());
  REQUIRE(v.merges.size() == 10);
  CHECK(v.merges.front() == "H e");
  CHECK(v.merges[4] == bl + " w");
  CHECK(v.tokens.size() == 29);
  CHECK(type_of(v, bl + "world") == normal);
  CHECK(type_of(v, "<|im_end|>") == control);
  CHECK(type_of(v, "<|vision_pad|>") == control);
  CHECK(type_of(v, "<think>") == user_defined);
  CHECK(v.unused_ids.empty());  // Qwen reserves no <unusedN>-like tokens
  // No bos_token in the config: <|endoftext|>, which Qwen's config.json names as bos.
  CHECK(v.bos == v.find("<|endoftext|>"));
  CHECK(v.eos == v.find("<|im_end|>"));
  CHECK(v.eot == v.find("<|im_end|>"));
  CHECK(v.pad == v.find("<|endoftext|>"));
  CHECK_FALSE(v.unk);
  CHECK_FALSE(v.add_bos);
  CHECK_FALSE(v.add_space_prefix);

  tokenizer_import_options o;
  o.pre = "deepseek-r1-qwen";
  CHECK(import_ok("byte_level", o).pre == "deepseek-r1-qwen");
}

TEST_CASE("tokenizer_import: add_bos from the post-processor, pair merges, gaps and template lists", "[tokenizer]") {
  const auto v = import_ok("byte_level_template");
  CHECK(v.model == "gpt2");
  CHECK(v.pre == "llama-bpe");
  REQUIRE(v.merges.size() == 2);
  CHECK(v.merges[0] == "a b");
  CHECK(v.merges[1] == "a " + bl + "b");  // a space inside a part is written as U+0120
  REQUIRE(v.tokens.size() == 13);
  CHECK(v.tokens[8] == "[PAD8]");
  CHECK(v.types[8] == unused);
  CHECK(v.tokens[9] == "[PAD9]");
  CHECK(v.tokens[7] == " tool");
  CHECK(v.types[7] == user_defined);
  CHECK(v.types[6] == control);
  REQUIRE(v.unused_ids.size() == 1);
  CHECK(v.tokens[v.unused_ids[0]] == "<|reserved_special_token_50|>");
  CHECK(v.bos == 10u);
  CHECK(v.eos == 11u);
  CHECK(v.eot == 11u);
  CHECK(v.add_bos);  // only the TemplateProcessing post-processor says so
  CHECK(v.chat_template == "{{ bos_token }}default");
}

TEST_CASE("tokenizer_import: unusable files fail with a reason", "[tokenizer]") {
  SECTION("missing files") {
    std::string why;
    auto v = import_tokenizer(fixtures / "no-such-folder", {}, &why);
    REQUIRE_FALSE(v.has_value());
    CHECK_THAT(why, Catch::Contains("cannot open"));
  }
  SECTION("not JSON") {
    CHECK_THAT(import_error(R"({"model": {"type": "BPE", "vocab": {"a": 0)"), Catch::Contains("not valid JSON"));
  }
  SECTION("not BPE") {
    CHECK_THAT(import_error(R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})"),
               Catch::Contains("model type 'WordPiece' is not supported"));
  }
  SECTION("neither kind of BPE") {
    CHECK_THAT(import_error(R"({"decoder": {"type": "Metaspace"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})"),
               Catch::Contains("neither SentencePiece-style"));
  }
  SECTION("two tokens with one id") {
    CHECK_THAT(import_error(R"({"decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 0}}})"),
               Catch::Contains("two tokens have id 0"));
  }
  SECTION("an id out of range") {
    CHECK_THAT(import_error(R"({"decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 99999999}}})"),
               Catch::Contains("out of range"));
  }
  SECTION("an unknown pre-tokenizer regex") {
    CHECK_THAT(import_error(R"({"decoder": {"type": "ByteLevel"}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\s+"}},
                               "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}})"),
               Catch::Contains("--pre"));
  }
  SECTION("a token twice once spaces are written") {
    CHECK_THAT(import_error(R"({"decoder": {"type": "ByteLevel"}, "pre_tokenizer": {"type": "ByteLevel"},
                               "added_tokens": [{"id": 1, "content": "\u2581x", "special": false}],
                               "model": {"type": "BPE", "vocab": {" x": 0, "y": 1}, "merges": []}})"),
               Catch::Contains("llama.cpp refuses duplicate tokens"));
  }
  SECTION("a broken tokenizer_config.json") {
    temp_dir dir;
    fs::copy_file(fixtures / "byte_level" / "tokenizer.json", dir.path / "tokenizer.json");
    write_file(dir.path / "tokenizer_config.json", "[1, 2");
    std::string why;
    REQUIRE_FALSE(import_tokenizer(dir.path, {}, &why).has_value());
    CHECK_THAT(why, Catch::Contains("tokenizer_config.json: not a JSON object"));
  }
}

TEST_CASE("tiny models with a real vocabulary: written as imported, answers recorded", "[tokenizer][gguf]") {
  temp_dir dir;
  const auto sp_vocab = import_ok("sentencepiece");
  std::string why;

  SECTION("hello, llama architecture") {
    tiny_model_options o;
    o.vocab = &sp_vocab;
    const auto p = dir.path / "hello.gguf";
    REQUIRE(write_tiny_model(p, tiny_model_kind::hello, o, &why));
    auto info = read_gguf_info(p, &why);
    INFO("reason: " << why);
    REQUIRE(info.has_value());
    CHECK(info->architecture == "llama");
    CHECK(info->file_type == 1u);  // F16 embeddings
    CHECK(info->embedding_length == 16);
    CHECK(info->vocab_size == sp_vocab.tokens.size());
    CHECK(info->get_string("tokenizer.ggml.model") == "llama");
    CHECK(info->get_int("tokenizer.ggml.bos_token_id") == 2);
    CHECK(info->get_int("tokenizer.ggml.eos_token_id") == 7);
    CHECK(info->get_int("tokenizer.ggml.eot_token_id") == 7);
    CHECK(info->get_int("tokenizer.ggml.padding_token_id") == 0);
    CHECK(info->get_int("tokenizer.ggml.add_space_prefix") == 0);
    CHECK(info->get_string("tokenizer.chat_template") == sp_vocab.chat_template);
    CHECK(info->get_string("openclawd.tiny.text") == "Hello, world!");
    CHECK(info->tensor_count == 3 + 2 * 9);
    const auto& types = std::get<gguf_array>(info->metadata.at("tokenizer.ggml.token_type"));
    REQUIRE(types.integers.size() == sp_vocab.tokens.size());
    CHECK(types.integers[4] == control);  // <unused0>
  }
  SECTION("unused50 as text, gemma3 architecture with a sliding window") {
    tiny_model_options o;
    o.vocab = &sp_vocab;
    o.unused_as_text = true;
    o.unused_token = "<unused1>";
    o.arch = tiny_model_arch::gemma3;
    o.sliding_window = 32;
    o.chat_template = "{{ messages[0]['content'] }}";
    const auto p = dir.path / "unused.gguf";
    REQUIRE(write_tiny_model(p, tiny_model_kind::unused50, o, &why));
    auto info = read_gguf_info(p, &why);
    INFO("reason: " << why);
    REQUIRE(info.has_value());
    CHECK(info->architecture == "gemma3");
    CHECK(info->block_count == 6);
    CHECK(info->head_count == 2);
    CHECK(info->head_count_kv == 1);
    CHECK(info->key_length == 8u);
    CHECK(info->value_length == 8u);
    CHECK(info->get_int("gemma3.attention.sliding_window") == 32);
    CHECK(info->tensor_count == 3 + 6 * 13);  // q/k norms and two post-norms per block
    CHECK(info->get_string("tokenizer.chat_template") == "{{ messages[0]['content'] }}");
    CHECK(info->get_string("openclawd.tiny.text") == "<unused1>");
    const auto& types = std::get<gguf_array>(info->metadata.at("tokenizer.ggml.token_type"));
    CHECK(types.integers[4] == user_defined);  // every unused token, not just the one emitted
    CHECK(types.integers[5] == user_defined);
  }
  SECTION("byte-level think: <think>, the thought, </think>, \\n\\n, the answer") {
    const auto bl_vocab = import_ok("byte_level");
    tiny_model_options o;
    o.vocab = &bl_vocab;
    const auto p = dir.path / "think.gguf";
    // The fixture's few tokens cannot spell the thought: a clear error, no file.
    CHECK_FALSE(write_tiny_model(p, tiny_model_kind::think, o, &why));
    CHECK_THAT(why, Catch::Contains("cannot spell the think answer"));
    CHECK_FALSE(fs::exists(p));
    REQUIRE(write_tiny_model(p, tiny_model_kind::hello, o, &why));
    auto info = read_gguf_info(p, &why);
    REQUIRE(info.has_value());
    CHECK(info->get_string("tokenizer.ggml.model") == "gpt2");
    CHECK(info->get_string("tokenizer.ggml.pre") == "qwen2");
    CHECK(info->metadata.count("tokenizer.ggml.merges") == 1);
    CHECK(info->metadata.count("tokenizer.ggml.scores") == 0);
    CHECK(info->get_int("tokenizer.ggml.add_bos_token") == 0);
  }
  SECTION("the toy vocabulary has no <think>") {
    CHECK_FALSE(write_tiny_model(dir.path / "t.gguf", tiny_model_kind::think, {}, &why));
    CHECK_THAT(why, Catch::Contains("think needs"));
  }
}
