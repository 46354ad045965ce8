// core/gguf: the reader against the writer's own files, truncated and hostile files, and the
// KV cache formula. Files live in a fresh temporary folder per test.
#include "core/gguf.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
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
  for (auto kind : {tiny_model_kind::random, tiny_model_kind::unused50, tiny_model_kind::hello}) {
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

TEST_CASE("gguf: the KV estimate reads through the tiny model", "[gguf]") {
  temp_dir dir;
  const fs::path p = dir.path / "tiny.gguf";
  REQUIRE(write_tiny_model(p, tiny_model_kind::unused50));
  auto r = read_gguf_info(p);
  REQUIRE(r.has_value());
  CHECK(estimate_kv_cache_bytes(*r, 8192) == 8192ull * 2 * 4 * 32 * 2);  // 4 MiB
}

TEST_CASE("gguf: tiny model kinds parse and print", "[gguf]") {
  for (auto kind : {tiny_model_kind::random, tiny_model_kind::unused50, tiny_model_kind::hello}) {
    CHECK(parse_tiny_model_kind(to_string(kind)) == kind);
  }
  CHECK_FALSE(parse_tiny_model_kind("Random"));
  CHECK_FALSE(parse_tiny_model_kind(""));
}
