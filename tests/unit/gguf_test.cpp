// core/gguf: the reader against the writer's own files, truncated and hostile files, and the
// KV cache formula. Files live in a fresh temporary folder per test.
#include "core/gguf.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace openclawd::core;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("openclawd-gguf-test-" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Little-endian GGUF pieces, to craft hostile files by hand.
struct bytes_builder {
  std::string s;
  bytes_builder& raw(std::string_view v) { s.append(v); return *this; }
  bytes_builder& u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
  bytes_builder& u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
  bytes_builder& str(std::string_view v) { return u64(v.size()).raw(v); }
  bytes_builder& header(std::uint64_t tensors, std::uint64_t kvs) {
    return raw("GGUF").u32(3).u64(tensors).u64(kvs);
  }
};

// Reads `bytes` from a file and expects a gguf_invalid error whose reason contains `needle`.
void expect_invalid(const fs::path& dir, const std::string& bytes, const std::string& needle) {
  const fs::path p = dir / "hostile.gguf";
  write_bytes(p, bytes);
  std::string why;
  auto r = read_gguf_info(p, &why);
  INFO("reason: " << why);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == openclawd::errc::gguf_invalid);
  CHECK_THAT(why, Catch::Contains(needle));
}

}  // namespace

TEST_CASE("gguf: reads back what the writer wrote", "[gguf]") {
  temp_dir dir;
  for (auto kind : {tiny_model_kind::random, tiny_model_kind::unused50, tiny_model_kind::hello,
                    tiny_model_kind::story}) {
    DYNAMIC_SECTION("kind " << to_string(kind)) {
      const fs::path p = dir.path / "tiny.gguf";
      std::string why;
      REQUIRE(write_tiny_model(p, kind, {7, 4096}, &why));
      auto r = read_gguf_info(p, &why);
      INFO("reason: " << why);
      REQUIRE(r.has_value());
      const gguf_info& info = *r;
      CHECK(info.version == 3);
      CHECK(info.architecture == "llama");
      CHECK(info.name == "openclawd-tiny-" + std::string(to_string(kind)));
      CHECK(info.file_type == 0u);
      CHECK(info.context_length == 4096);
      CHECK(info.embedding_length == 64);
      CHECK(info.block_count == 2);
      CHECK(info.head_count == 4);
      CHECK(info.head_count_kv == 4);
      CHECK_FALSE(info.key_length);
      CHECK_FALSE(info.value_length);
      CHECK(info.tensor_count == 3 + 2 * 9);
      CHECK(info.file_size == fs::file_size(p));
      CHECK(info.file_size > 500'000);
      CHECK(info.file_size < 800'000);
      CHECK(info.alignment == 32);
      CHECK(info.tensor_data_offset % 32 == 0);
      CHECK(info.tensor_data_offset + info.tensor_data_bytes == info.file_size);

      CHECK(info.vocab_size > 361);
      CHECK(info.get_int("llama.vocab_size") == static_cast<std::int64_t>(info.vocab_size));
      CHECK(info.get_int("tokenizer.ggml.bos_token_id") == tiny_token_bos);
      CHECK(info.get_int("tokenizer.ggml.eos_token_id") == tiny_token_eos);
      CHECK(info.get_int("tokenizer.ggml.unknown_token_id") == tiny_token_unk);
      CHECK(info.get_int("tokenizer.ggml.add_bos_token") == 1);
      CHECK(info.get_string("tokenizer.ggml.model") == "llama");
      CHECK_THAT(info.get_string("tokenizer.chat_template").value_or(""),
                 Catch::Contains("<|im_start|>assistant"));
      REQUIRE(info.get_float("llama.attention.layer_norm_rms_epsilon"));
      CHECK(*info.get_float("llama.attention.layer_norm_rms_epsilon") == Approx(1e-5));

      // Accessors answer only for their own type.
      CHECK_FALSE(info.get_int("general.architecture"));
      CHECK_FALSE(info.get_string("llama.block_count"));
      CHECK_FALSE(info.get_int("no.such.key"));
      const auto& types = std::get<gguf_array>(info.metadata.at("tokenizer.ggml.token_type"));
      CHECK(types.length == info.vocab_size);
    }
  }
}

TEST_CASE("gguf: the writer is deterministic per seed and kind", "[gguf]") {
  temp_dir dir;
  REQUIRE(write_tiny_model(dir.path / "a.gguf", tiny_model_kind::random, {42, 32768}));
  REQUIRE(write_tiny_model(dir.path / "b.gguf", tiny_model_kind::random, {42, 32768}));
  REQUIRE(write_tiny_model(dir.path / "c.gguf", tiny_model_kind::random, {43, 32768}));
  REQUIRE(write_tiny_model(dir.path / "d.gguf", tiny_model_kind::unused50, {42, 32768}));
  const std::string a = read_bytes(dir.path / "a.gguf");
  CHECK(a == read_bytes(dir.path / "b.gguf"));
  CHECK(a != read_bytes(dir.path / "c.gguf"));
  CHECK(a != read_bytes(dir.path / "d.gguf"));
  // Only the model leaves the folder: no temporary file is left behind.
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 4);
}

TEST_CASE("gguf: the writer replaces a file but refuses a non-regular one", "[gguf]") {
  temp_dir dir;
  const fs::path p = dir.path / "model.gguf";
  write_bytes(p, "old contents");
  REQUIRE(write_tiny_model(p, tiny_model_kind::hello));
  CHECK(read_gguf_info(p).has_value());

  std::string why;
  fs::create_directory(dir.path / "folder.gguf");
  CHECK_FALSE(write_tiny_model(dir.path / "folder.gguf", tiny_model_kind::hello, {}, &why));
  CHECK_THAT(why, Catch::Contains("not a regular file"));

  why.clear();
  CHECK_FALSE(write_tiny_model(dir.path / "missing" / "x.gguf", tiny_model_kind::hello, {}, &why));
  CHECK_THAT(why, Catch::Contains("cannot create"));
}

TEST_CASE("gguf: every truncated prefix is rejected", "[gguf]") {
  temp_dir dir;
  const fs::path full = dir.path / "full.gguf";
  REQUIRE(write_tiny_model(full, tiny_model_kind::random));
  const std::string bytes = read_bytes(full);
  auto info = read_gguf_info(full);
  REQUIRE(info.has_value());

  // Every length through the header and the start of the data, then a sample of the data.
  // Longest first, so one copy shrinks in place (resize_file) instead of being rewritten.
  std::vector<std::uintmax_t> lengths;
  lengths.push_back(bytes.size() - 1);
  for (std::uintmax_t n = bytes.size() - 2; n > info->tensor_data_offset + 64 + 4093; n -= 4093) {
    lengths.push_back(n);
  }
  for (std::uintmax_t n = info->tensor_data_offset + 64; n > 0; --n) lengths.push_back(n);
  lengths.push_back(0);

  const fs::path p = dir.path / "prefix.gguf";
  fs::copy_file(full, p);
  std::size_t accepted = 0;
  std::string example;
  for (std::uintmax_t n : lengths) {
    fs::resize_file(p, n);
    std::string why;
    auto r = read_gguf_info(p, &why);
    if (r.has_value() || why.empty()) {
      ++accepted;
      UNSCOPED_INFO("prefix of " << n << " bytes was accepted");
    }
    if (n == bytes.size() - 1) example = why;
  }
  CHECK(accepted == 0);
  CHECK_THAT(example, Catch::Contains("truncated"));
}

TEST_CASE("gguf: corrupted headers never crash the reader", "[gguf]") {
  temp_dir dir;
  const fs::path full = dir.path / "full.gguf";
  REQUIRE(write_tiny_model(full, tiny_model_kind::hello));
  const std::string bytes = read_bytes(full);
  auto info = read_gguf_info(full);
  REQUIRE(info.has_value());

  // Deterministic: a failure here reproduces.
  std::mt19937 gen(12345);
  std::uniform_int_distribution<std::size_t> where(0, static_cast<std::size_t>(info->tensor_data_offset) - 1);
  std::uniform_int_distribution<int> value(0, 255);
  // One copy, patched in place and restored after each read (rewriting 0.6 MB 500 times is slow).
  const fs::path p = dir.path / "corrupt.gguf";
  fs::copy_file(full, p);
  std::fstream file(p, std::ios::in | std::ios::out | std::ios::binary);
  auto poke = [&](std::size_t at, char c) {
    file.seekp(static_cast<std::streamoff>(at));
    file.put(c);
  };
  std::size_t rejected = 0;
  for (int i = 0; i < 500; ++i) {
    std::vector<std::size_t> changed;
    for (int k = 0; k < 1 + i % 4; ++k) {
      changed.push_back(where(gen));
      poke(changed.back(), static_cast<char>(value(gen)));
    }
    file.flush();
    std::string why;
    auto r = read_gguf_info(p, &why);
    if (!r.has_value()) {
      ++rejected;
      CHECK_FALSE(why.empty());
    }
    for (std::size_t at : changed) poke(at, bytes[at]);
  }
  file.flush();
  CHECK(read_bytes(p) == bytes);
  // Most bytes are token text, so many corruptions are still valid files; some are not.
  CHECK(rejected > 0);
}

TEST_CASE("gguf: files that are not GGUF are rejected", "[gguf]") {
  temp_dir dir;
  expect_invalid(dir.path, "this is not GGUF", "bad magic");
  expect_invalid(dir.path, "", "too small");
  expect_invalid(dir.path, "GGU", "too small");
  expect_invalid(dir.path, "GGUF", "truncated");
  expect_invalid(dir.path, bytes_builder{}.raw("GGUF").u32(1).u64(0).u64(0).s, "version 1");
  expect_invalid(dir.path, bytes_builder{}.raw("GGUF").u32(0x03000000).u64(0).u64(0).s, "big-endian");

  std::string why;
  CHECK_FALSE(read_gguf_info(dir.path / "does-not-exist.gguf", &why).has_value());
  CHECK_THAT(why, Catch::Contains("does-not-exist.gguf"));
  CHECK_FALSE(read_gguf_info(dir.path, &why).has_value());
  CHECK_THAT(why, Catch::Contains("not a regular file"));
}

TEST_CASE("gguf: hostile lengths and counts are rejected without allocating", "[gguf]") {
  temp_dir dir;
  const std::string pad(64, '\0');

  SECTION("absurd key length") {
    expect_invalid(dir.path, bytes_builder{}.header(0, 1).u64(1ull << 62).raw(pad).s, "exceeds the limit");
  }
  SECTION("string value longer than the file") {
    expect_invalid(dir.path,
                   bytes_builder{}.header(0, 1).str("k").u32(8).u64(1ull << 60).raw(pad).s,
                   "truncated");
  }
  SECTION("more metadata pairs than the file can hold") {
    expect_invalid(dir.path, bytes_builder{}.header(0, 1ull << 40).raw(pad).s, "metadata pairs");
  }
  SECTION("more tensors than the file can hold") {
    expect_invalid(dir.path, bytes_builder{}.header(~0ull, 0).raw(pad).s, "tensors");
  }
  SECTION("array longer than the file") {
    expect_invalid(dir.path,
                   bytes_builder{}.header(0, 1).str("k").u32(9).u32(4).u64(1ull << 61).raw(pad).s,
                   "cannot fit");
  }
  SECTION("array of strings longer than the file") {
    expect_invalid(dir.path,
                   bytes_builder{}.header(0, 1).str("k").u32(9).u32(8).u64(~0ull).raw(pad).s,
                   "cannot fit");
  }
  SECTION("nested array") {
    expect_invalid(dir.path, bytes_builder{}.header(0, 1).str("k").u32(9).u32(9).u64(1).raw(pad).s,
                   "arrays of arrays");
  }
  SECTION("unknown value type") {
    expect_invalid(dir.path, bytes_builder{}.header(0, 1).str("k").u32(99).raw(pad).s,
                   "unknown value type");
  }
  SECTION("empty and duplicate keys") {
    expect_invalid(dir.path, bytes_builder{}.header(0, 1).str("").u32(4).u32(1).raw(pad).s, "empty key");
    expect_invalid(dir.path,
                   bytes_builder{}.header(0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2).raw(pad).s,
                   "duplicate key");
  }
  SECTION("bad alignment") {
    expect_invalid(dir.path,
                   bytes_builder{}.header(0, 1).str("general.alignment").u32(4).u32(48).raw(pad).s,
                   "power of two");
  }
  SECTION("tensor with too many dimensions") {
    expect_invalid(dir.path, bytes_builder{}.header(1, 0).str("t").u32(5).raw(pad).s, "dimensions");
  }
  SECTION("tensor whose element count overflows") {
    expect_invalid(dir.path,
                   bytes_builder{}.header(1, 0).str("t").u32(2).u64(1ull << 40).u64(1ull << 40)
                       .u32(0).u64(0).raw(pad).s,
                   "overflows");
  }
  SECTION("tensor with a misaligned offset") {
    expect_invalid(dir.path,
                   bytes_builder{}.header(1, 0).str("t").u32(1).u64(8).u32(0).u64(4).raw(pad).s,
                   "not aligned");
  }
  SECTION("tensor data beyond the end of the file") {
    expect_invalid(dir.path,
                   bytes_builder{}.header(1, 0).str("t").u32(1).u64(1024).u32(0).u64(0).raw(pad).s,
                   "tensor data");
  }
  SECTION("partial quantisation block") {
    // Q4_0 (type 2) stores blocks of 32 elements.
    expect_invalid(dir.path,
                   bytes_builder{}.header(1, 0).str("t").u32(1).u64(33).u32(2).u64(0).raw(pad).s,
                   "whole number of blocks");
  }
}

TEST_CASE("gguf: a metadata-only file and unknown tensor types are accepted", "[gguf]") {
  temp_dir dir;
  const fs::path p = dir.path / "m.gguf";
  // A vocabulary-only file (no tensors), with a per-layer head count array and a u64.
  write_bytes(p, bytes_builder{}
                     .header(0, 4)
                     .str("general.architecture").u32(8).str("test")
                     .str("test.attention.head_count").u32(9).u32(5).u64(3).u32(8).u32(32).u32(16)
                     .str("test.block_count").u32(10).u64(3)
                     .str("big").u32(10).u64(~0ull)
                     .s);
  auto r = read_gguf_info(p);
  REQUIRE(r.has_value());
  CHECK(r->architecture == "test");
  CHECK(r->head_count == 32);
  CHECK(r->head_count_kv == 32);
  CHECK(r->block_count == 3);
  CHECK_FALSE(r->get_int("big"));
  CHECK(std::get<std::uint64_t>(r->metadata.at("big")) == ~0ull);

  // A tensor type newer than this reader is not size-checked, so the file still reads.
  write_bytes(p, bytes_builder{}.header(1, 0).str("t").u32(1).u64(8).u32(200).u64(0)
                     .raw(std::string(64, '\0')).s);
  CHECK(read_gguf_info(p).has_value());
}

TEST_CASE("gguf: KV cache estimate", "[gguf]") {
  gguf_info info;
  CHECK(estimate_kv_cache_bytes(info, 4096) == 0);  // nothing known

  // The tiny models: 4096 * 2 blocks * 4 kv heads * (16 + 16) * 2 bytes.
  info.embedding_length = 64;
  info.block_count = 2;
  info.head_count = 4;
  info.head_count_kv = 4;
  CHECK(estimate_kv_cache_bytes(info, 4096) == 4096ull * 2 * 4 * 32 * 2);
  CHECK(estimate_kv_cache_bytes(info, 0) == 0);
  CHECK(estimate_kv_cache_bytes(info, -1) == 0);

  // Llama-3-8B's shape (GQA: 8 kv heads of 128): 8192 tokens take exactly 1 GiB.
  info.embedding_length = 4096;
  info.block_count = 32;
  info.head_count = 32;
  info.head_count_kv = 8;
  CHECK(estimate_kv_cache_bytes(info, 8192) == 1ull << 30);

  // Explicit key/value lengths win over embedding_length / head_count.
  info.key_length = 192;
  info.value_length = 128;
  CHECK(estimate_kv_cache_bytes(info, 1000) == 1000ull * 32 * 8 * (192 + 128) * 2);

  // Hostile metadata saturates instead of wrapping around.
  info.block_count = 1ull << 62;
  CHECK(estimate_kv_cache_bytes(info, 1 << 30) == UINT64_MAX);
}

TEST_CASE("gguf: the KV estimate of a sliding-window model, and its checkpoints", "[gguf]") {
  // Gemma 3 27B's shape: 62 layers, 16 KV heads of 128, a 1024-token window on five layers of six.
  gguf_info info;
  info.architecture = "gemma3";
  info.embedding_length = 5376;
  info.block_count = 62;
  info.head_count = 32;
  info.head_count_kv = 16;
  info.key_length = 128;
  info.value_length = 128;
  const std::uint64_t per_layer_token = 16ull * 256 * 2;
  // No window known: every layer in full.
  auto e = estimate_kv_cache(info, 32768, false);
  CHECK(e.bytes == 32768ull * 62 * per_layer_token);
  CHECK(e.checkpoint_bytes == 0);
  info.metadata["gemma3.attention.sliding_window"] = std::int64_t{1024};
  e = estimate_kv_cache(info, 32768, false);
  CHECK(e.sliding_window == 1024);
  CHECK(e.swa_layers == 62 - 10);
  const std::uint64_t swa = (1024ull + 512) * 52 * per_layer_token;
  CHECK(e.bytes == 32768ull * 10 * per_layer_token + swa);  // ~2.8 GiB instead of ~15.5
  CHECK(e.checkpoint_bytes == 5 * swa);  // one per 8192 tokens, and one more
  // --swa-full: every layer in full again, and no checkpoints.
  e = estimate_kv_cache(info, 32768, true);
  CHECK(e.bytes == 32768ull * 62 * per_layer_token);
  CHECK(e.checkpoint_bytes == 0);
}

TEST_CASE("gguf: the KV estimate reads through the tiny model", "[gguf]") {
  temp_dir dir;
  const fs::path p = dir.path / "tiny.gguf";
  REQUIRE(write_tiny_model(p, tiny_model_kind::unused50));
  auto r = read_gguf_info(p);
  REQUIRE(r.has_value());
  CHECK(estimate_kv_cache_bytes(*r, 8192) == 8192ull * 2 * 4 * 32 * 2);  // 4 MiB
}

TEST_CASE("gguf: tiny model kinds parse and print", "[gguf]") {
  for (auto kind : {tiny_model_kind::random, tiny_model_kind::unused50, tiny_model_kind::hello,
                    tiny_model_kind::story}) {
    CHECK(parse_tiny_model_kind(to_string(kind)) == kind);
  }
  CHECK_FALSE(parse_tiny_model_kind("Random"));
  CHECK_FALSE(parse_tiny_model_kind(""));
}

namespace {

// The tokens and two tensors of a tiny model, read straight from its bytes (the reader keeps
// neither), to run its forward pass here: with the blocks quiet (attn_output and ffn_down are
// zero) the logits are output.weight . rms_norm(token_embd[last token]).
struct tiny_weights {
  std::vector<std::string> tokens;
  std::uint64_t n_embd = 0;
  std::vector<float> embd;    // [vocab][n_embd]
  std::vector<float> output;  // [vocab][n_embd]
};

std::uint64_t le64(const std::string& b, std::size_t at) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b.at(at + static_cast<std::size_t>(i)));
  return v;
}

float le_f32(const std::string& b, std::size_t at) {
  std::uint32_t u = 0;
  for (int i = 3; i >= 0; --i) u = (u << 8) | static_cast<unsigned char>(b.at(at + static_cast<std::size_t>(i)));
  float f = 0;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

tiny_weights read_tiny_weights(const fs::path& p) {
  auto info = read_gguf_info(p);
  REQUIRE(info.has_value());
  const std::string b = read_bytes(p);
  tiny_weights w;
  w.n_embd = info->embedding_length;
  // "tokenizer.ggml.tokens", type 9 (array) of type 8 (string), count, then the strings.
  const std::string key = "tokenizer.ggml.tokens";
  std::size_t at = b.find(key);
  REQUIRE(at != std::string::npos);
  at += key.size() + 4 + 4;
  const std::uint64_t n = le64(b, at);
  REQUIRE(n == info->vocab_size);
  at += 8;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t len = le64(b, at);
    w.tokens.push_back(b.substr(at + 8, static_cast<std::size_t>(len)));
    at += 8 + static_cast<std::size_t>(len);
  }
  // The writer puts token_embd.weight first and output.weight last; both are a multiple of 32
  // bytes, so neither is padded.
  const std::size_t floats = static_cast<std::size_t>(n * w.n_embd);
  const std::size_t embd_at = static_cast<std::size_t>(info->tensor_data_offset);
  const std::size_t output_at = b.size() - floats * 4;
  for (std::size_t i = 0; i < floats; ++i) {
    w.embd.push_back(le_f32(b, embd_at + 4 * i));
    w.output.push_back(le_f32(b, output_at + 4 * i));
  }
  return w;
}

// The next token after `token`, and the gap between its logit and the runner-up's.
std::pair<std::size_t, float> next_token(const tiny_weights& w, std::size_t token) {
  const float* e = &w.embd[token * w.n_embd];
  double ms = 0;
  for (std::uint64_t i = 0; i < w.n_embd; ++i) ms += double(e[i]) * e[i];
  const double scale = 1.0 / std::sqrt(ms / double(w.n_embd) + 1e-5);
  float best = -1e30f, second = -1e30f;
  std::size_t arg = 0;
  for (std::size_t t = 0; t < w.tokens.size(); ++t) {
    const float* o = &w.output[t * w.n_embd];
    double logit = 0;
    for (std::uint64_t i = 0; i < w.n_embd; ++i) logit += double(o[i]) * e[i] * scale;
    if (logit > best) {
      second = best;
      best = static_cast<float>(logit);
      arg = t;
    } else if (logit > second) {
      second = static_cast<float>(logit);
    }
  }
  return {arg, best - second};
}

// As llama-server prints a SentencePiece token: "▁" is a space.
std::string piece(const std::string& token) {
  std::string out;
  const std::string sp = "\xE2\x96\x81";
  for (std::size_t at = 0; at < token.size();) {
    if (token.compare(at, sp.size(), sp) == 0) {
      out += ' ';
      at += sp.size();
    } else {
      out += token[at++];
    }
  }
  return out;
}

// The longest run of a cycle of `period` bytes in `text`, in repetitions.
std::size_t longest_repeat(const std::string& text, std::size_t period) {
  std::size_t run = 0, longest = 0;
  for (std::size_t i = period; i < text.size(); ++i) {
    run = text[i] == text[i - period] ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return longest / period + 1;
}

}  // namespace

TEST_CASE("gguf: the story text is long plain ASCII with distinct paragraphs", "[gguf]") {
  const std::string& text = tiny_story_text();
  CHECK(text.rfind("Once upon a time, in a small harbor town", 0) == 0);
  CHECK(text.size() > 1000);
  CHECK(text.size() < 2000);
  CHECK(text.substr(text.size() - 3) == ".\n\n");
  for (char c : text) {
    INFO("byte " << int(static_cast<unsigned char>(c)));
    CHECK(((c >= ' ' && c <= '~') || c == '\n'));
  }
  CHECK(text.find('<') == std::string::npos);  // no <unusedN>, no </s>

  // What a 3000-token answer is: the period over and over. The degeneration guard's defaults
  // (gateway/degeneration_guard.hpp) must let it run: no cycle of <= 64 bytes 20 times in a row,
  // no non-blank line 16 times in a row. Checked far more strictly here.
  std::string answer;
  while (answer.size() < 20'000) answer += text;
  std::size_t worst = 0;
  for (std::size_t period = 1; period <= 64; ++period) worst = std::max(worst, longest_repeat(answer, period));
  CHECK(worst <= 3);  // "ll", "  "-like pairs at most, never a loop

  std::vector<std::string> lines;
  for (std::size_t at = 0; at < answer.size();) {
    std::size_t end = std::min(answer.find('\n', at), answer.size());
    if (end > at) lines.push_back(answer.substr(at, end - at));
    at = end + 1;
  }
  CHECK(lines.size() > 40);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    INFO("line " << i << ": " << lines[i]);
    CHECK(lines[i] != lines[i - 1]);
    CHECK(lines[i].size() > 200);
  }
}

TEST_CASE("gguf: the story model follows its chain from any last token and never stops", "[gguf]") {
  temp_dir dir;
  const fs::path p = dir.path / "story.gguf";
  std::string why;
  REQUIRE(write_tiny_model(p, tiny_model_kind::story, {}, &why));
  const tiny_weights w = read_tiny_weights(p);
  REQUIRE(w.tokens.size() > 600);
  REQUIRE(w.tokens.at(tiny_token_eos) == "</s>");

  // Every possible last token (a prompt can end in any) leads into the story, by a wide margin:
  // llama-server's default sampling (temperature 0.8, min_p 0.05) is then deterministic.
  std::size_t worst_gap_token = 0;
  float worst_gap = 1e30f;
  for (std::size_t t = 0; t < w.tokens.size(); ++t) {
    const auto [next, gap] = next_token(w, t);
    REQUIRE(next != static_cast<std::size_t>(tiny_token_eos));
    if (gap < worst_gap) {
      worst_gap = gap;
      worst_gap_token = t;
    }
  }
  INFO("smallest gap after token " << worst_gap_token << " '" << w.tokens[worst_gap_token] << "'");
  CHECK(worst_gap > 50.0f);

  // A chat prompt ends in "\n" (the byte token <0x0A>): the answer starts at the story's start
  // and loops through it.
  const std::string& text = tiny_story_text();
  std::size_t token = 3 + '\n';
  REQUIRE(w.tokens.at(token) == "<0x0A>");
  std::string answer;
  std::size_t n = 0;
  while (answer.size() < 3 * text.size()) {
    token = next_token(w, token).first;
    answer += piece(w.tokens[token]);
    ++n;
  }
  CHECK(answer == text + text + text);
  // Bytes per token, for budgeting max_tokens in tests: about 7.
  CHECK(double(answer.size()) / double(n) > 6.0);
}

TEST_CASE("gguf: the story model is deterministic and leaves the other kinds alone", "[gguf]") {
  temp_dir dir;
  REQUIRE(write_tiny_model(dir.path / "a.gguf", tiny_model_kind::story, {5, 8192}));
  REQUIRE(write_tiny_model(dir.path / "b.gguf", tiny_model_kind::story, {5, 8192}));
  REQUIRE(write_tiny_model(dir.path / "h.gguf", tiny_model_kind::hello, {5, 8192}));
  CHECK(read_bytes(dir.path / "a.gguf") == read_bytes(dir.path / "b.gguf"));
  auto story = read_gguf_info(dir.path / "a.gguf");
  auto hello = read_gguf_info(dir.path / "h.gguf");
  REQUIRE(story.has_value());
  REQUIRE(hello.has_value());
  // Its story tokens come after the shared vocabulary, whose ids stay put.
  CHECK(story->vocab_size > hello->vocab_size + 150);
  CHECK(story->file_size < 1'000'000);
}
