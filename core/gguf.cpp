#include "core/gguf.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <system_error>
#include <utility>

// The format, as ggml/src/gguf.cpp reads it (all little-endian):
//   "GGUF" u32 version, u64 tensor_count, u64 kv_count,
//   kv_count x { string key, u32 type, value },
//   tensor_count x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset },
//   padding to general.alignment (default 32), tensor data (each tensor aligned the same way).
// A string is u64 length + bytes; an array is u32 element type + u64 count + elements.

namespace openclawd::core {
namespace {

constexpr std::array<char, 4> magic = {'G', 'G', 'U', 'F'};

enum : std::uint32_t {
  type_u8 = 0, type_i8 = 1, type_u16 = 2, type_i16 = 3, type_u32 = 4, type_i32 = 5,
  type_f32 = 6, type_bool = 7, type_string = 8, type_array = 9, type_u64 = 10, type_i64 = 11,
  type_f64 = 12, type_count = 13,
};

// Bytes of one scalar value; 0 for strings, arrays and unknown types.
std::uint64_t scalar_size(std::uint32_t type) {
  switch (type) {
    case type_u8: case type_i8: case type_bool: return 1;
    case type_u16: case type_i16: return 2;
    case type_u32: case type_i32: case type_f32: return 4;
    case type_u64: case type_i64: case type_f64: return 8;
    default: return 0;
  }
}

// ggml tensor types: elements per block and bytes per block (ggml.c type_traits). Ids 4, 5,
// 31-33 and 36-38 were removed from ggml; ids this table does not know are not size-checked, so a
// newer file is still read rather than rejected.
struct type_traits { std::uint32_t block = 0, bytes = 0; };
type_traits ggml_type_traits(std::uint32_t type) {
  static constexpr std::array<type_traits, 40> table = {{
      {1, 4}, {1, 2}, {32, 18}, {32, 20}, {0, 0}, {0, 0}, {32, 22}, {32, 24}, {32, 34}, {32, 36},
      {256, 84}, {256, 110}, {256, 144}, {256, 176}, {256, 210}, {256, 292},  // Q2_K..Q8_K
      {256, 66}, {256, 74}, {256, 98}, {256, 50}, {32, 18}, {256, 110}, {256, 82}, {256, 136},
      {1, 1}, {1, 2}, {1, 4}, {1, 8}, {1, 8},  // I8 I16 I32 I64 F64
      {256, 56}, {1, 2},                       // IQ1_M BF16
      {0, 0}, {0, 0}, {0, 0}, {256, 54}, {256, 66}, {0, 0}, {0, 0}, {0, 0},  // TQ1_0 TQ2_0
      {32, 17},                                // MXFP4
  }};
  return type < table.size() ? table[type] : type_traits{};
}

constexpr std::uint64_t max_key_length = 65535;      // the GGUF spec's limit
constexpr std::uint64_t max_tensor_name_length = 65535;
constexpr std::uint32_t max_dims = 4;                // GGML_MAX_DIMS

std::uint64_t sat_mul(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) {
    return std::numeric_limits<std::uint64_t>::max();
  }
  return a * b;
}

// Sequential, buffered, bounds-checked reads. Every failure records one message and makes
// all later calls fail, so callers can chain reads and check once.
class file_reader {
 public:
  bool open(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      return fail(ec ? "cannot stat: " + ec.message() : std::string("not a regular file"));
    }
    size_ = std::filesystem::file_size(path, ec);
    if (ec) return fail("cannot stat: " + ec.message());
    file_.reset(std::fopen(path.c_str(), "rb"));
    if (!file_) return fail("cannot open: " + std::generic_category().message(errno));
    return true;
  }

  std::uint64_t size() const { return size_; }
  std::uint64_t pos() const { return pos_; }
  std::uint64_t remaining() const { return size_ - pos_; }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

  // Names the item being read, for error messages ("metadata key 12 'llama.block_count'").
  void set_context(std::string context) { context_ = std::move(context); }

  bool fail(std::string message) {
    if (error_.empty()) {
      error_ = context_.empty() ? std::move(message) : context_ + ": " + message;
    }
    return false;
  }

  bool need(std::uint64_t n, const char* what) {
    if (failed()) return false;
    if (n > remaining()) {
      return fail("truncated: " + std::string(what) + " needs " + std::to_string(n) +
                  " bytes at offset " + std::to_string(pos_) + ", file has " +
                  std::to_string(size_));
    }
    return true;
  }

  bool read(void* out, std::size_t n, const char* what) {
    if (!need(n, what)) return false;
    auto* dst = static_cast<unsigned char*>(out);
    while (n > 0) {
      if (buf_pos_ == buf_len_ && !refill()) return false;
      std::size_t k = std::min(n, buf_len_ - buf_pos_);
      std::memcpy(dst, buffer_.data() + buf_pos_, k);
      buf_pos_ += k;
      pos_ += k;
      dst += k;
      n -= k;
    }
    return true;
  }

  bool skip(std::uint64_t n, const char* what) {
    if (!need(n, what)) return false;
    std::uint64_t buffered = buf_len_ - buf_pos_;
    if (n <= buffered) {
      buf_pos_ += static_cast<std::size_t>(n);
      pos_ += n;
      return true;
    }
    // Beyond the buffer: seek from the file position, which is pos_ + buffered.
    std::uint64_t rest = n - buffered;
    buf_pos_ = buf_len_ = 0;
    if (rest > static_cast<std::uint64_t>(std::numeric_limits<long>::max()) ||
        std::fseek(file_.get(), static_cast<long>(rest), SEEK_CUR) != 0) {
      return fail("cannot seek");
    }
    pos_ += n;
    return true;
  }

  bool u32(std::uint32_t& v, const char* what) {
    unsigned char b[4];
    if (!read(b, 4, what)) return false;
    v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | b[i];
    return true;
  }

  bool u64(std::uint64_t& v, const char* what) {
    unsigned char b[8];
    if (!read(b, 8, what)) return false;
    v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
    return true;
  }

  // Reads a GGUF string into `out`, or skips it when out is null. Lengths above `max` fail.
  bool string(std::string* out, std::uint64_t max, const char* what) {
    std::uint64_t n = 0;
    if (!u64(n, what)) return false;
    if (n > max) {
      return fail(std::string(what) + " length " + std::to_string(n) + " exceeds the limit of " +
                  std::to_string(max));
    }
    if (!need(n, what)) return false;  // before allocating: the length may be hostile
    if (out == nullptr) return skip(n, what);
    out->resize(static_cast<std::size_t>(n));
    return read(out->data(), static_cast<std::size_t>(n), what);
  }

 private:
  struct closer { void operator()(std::FILE* f) const { std::fclose(f); } };

  bool refill() {
    buf_pos_ = 0;
    buf_len_ = std::fread(buffer_.data(), 1, buffer_.size(), file_.get());
    if (buf_len_ == 0) return fail("read error or file shrank while reading");
    return true;
  }

  std::unique_ptr<std::FILE, closer> file_;
  std::array<unsigned char, 64 * 1024> buffer_{};
  std::size_t buf_pos_ = 0;
  std::size_t buf_len_ = 0;
  std::uint64_t size_ = 0;
  std::uint64_t pos_ = 0;
  std::string error_;
  std::string context_;
};

// Reads one scalar of `type` (a number or bool) into a gguf_value.
bool read_scalar(file_reader& r, std::uint32_t type, gguf_value& out) {
  unsigned char b[8] = {};
  std::uint64_t n = scalar_size(type);
  if (!r.read(b, static_cast<std::size_t>(n), "value")) return false;
  std::uint64_t u = 0;
  for (std::uint64_t i = n; i-- > 0;) u = (u << 8) | b[i];
  switch (type) {
    case type_u8: case type_u16: case type_u32: case type_u64:
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        out = static_cast<std::int64_t>(u);
      } else {
        out = u;
      }
      return true;
    case type_i8: out = static_cast<std::int64_t>(static_cast<std::int8_t>(u)); return true;
    case type_i16: out = static_cast<std::int64_t>(static_cast<std::int16_t>(u)); return true;
    case type_i32: out = static_cast<std::int64_t>(static_cast<std::int32_t>(u)); return true;
    case type_i64: out = static_cast<std::int64_t>(u); return true;
    case type_bool: out = (u != 0); return true;
    case type_f32: out = static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(u))); return true;
    case type_f64: out = std::bit_cast<double>(u); return true;
    default: return r.fail("unknown value type " + std::to_string(type));
  }
}

bool is_integer_type(std::uint32_t type) {
  return type == type_u8 || type == type_i8 || type == type_u16 || type == type_i16 ||
         type == type_u32 || type == type_i32 || type == type_u64 || type == type_i64;
}

bool read_value(file_reader& r, std::uint32_t type, gguf_value& out) {
  if (type == type_string) {
    // Strings too long to keep are skipped: they are never hyperparameters.
    std::uint64_t n = 0;
    if (!r.u64(n, "string length") || !r.need(n, "string")) return false;
    if (n > gguf_max_kept_string) {
      out = std::string();
      return r.skip(n, "string");
    }
    std::string s(static_cast<std::size_t>(n), '\0');
    if (!r.read(s.data(), s.size(), "string")) return false;
    out = std::move(s);
    return true;
  }
  if (type != type_array) {
    if (scalar_size(type) == 0) return r.fail("unknown value type " + std::to_string(type));
    return read_scalar(r, type, out);
  }

  gguf_array a;
  if (!r.u32(a.element_type, "array element type") || !r.u64(a.length, "array length")) {
    return false;
  }
  if (a.element_type == type_array) return r.fail("arrays of arrays are not supported");
  if (a.element_type == type_string) {
    // Each element is at least its 8-byte length: reject impossible counts before looping.
    if (a.length > r.remaining() / 8) {
      return r.fail("array of " + std::to_string(a.length) + " strings cannot fit in the file");
    }
    for (std::uint64_t i = 0; i < a.length; ++i) {
      if (!r.string(nullptr, r.remaining(), "array string")) return false;
    }
  } else {
    std::uint64_t size = scalar_size(a.element_type);
    if (size == 0) return r.fail("unknown array element type " + std::to_string(a.element_type));
    if (a.length > r.remaining() / size) {
      return r.fail("array of " + std::to_string(a.length) + " elements cannot fit in the file");
    }
    if (is_integer_type(a.element_type) && a.length <= gguf_max_kept_array) {
      a.integers.reserve(static_cast<std::size_t>(a.length));
      for (std::uint64_t i = 0; i < a.length; ++i) {
        gguf_value v;
        if (!read_scalar(r, a.element_type, v)) return false;
        const auto* iv = std::get_if<std::int64_t>(&v);
        a.integers.push_back(iv ? *iv : std::numeric_limits<std::int64_t>::max());
      }
    } else if (!r.skip(a.length * size, "array data")) {
      return false;
    }
  }
  out = std::move(a);
  return true;
}

// A non-negative integer hyperparameter; for a per-layer array, its largest element.
std::uint64_t get_count(const gguf_info& info, const std::string& key) {
  auto it = info.metadata.find(key);
  if (it == info.metadata.end()) return 0;
  if (const auto* v = std::get_if<std::int64_t>(&it->second)) {
    return *v > 0 ? static_cast<std::uint64_t>(*v) : 0;
  }
  if (const auto* v = std::get_if<std::uint64_t>(&it->second)) return *v;
  if (const auto* a = std::get_if<gguf_array>(&it->second)) {
    std::int64_t best = 0;
    for (auto x : a->integers) best = std::max(best, x);
    return static_cast<std::uint64_t>(best);
  }
  return 0;
}

result<gguf_info> invalid(std::string* why, const std::string& path, const std::string& reason) {
  if (why != nullptr) *why = path + ": " + reason;
  return make_error_code(errc::gguf_invalid);
}

}  // namespace

std::optional<std::int64_t> gguf_info::get_int(std::string_view key) const {
  auto it = metadata.find(key);
  if (it == metadata.end()) return std::nullopt;
  if (const auto* v = std::get_if<std::int64_t>(&it->second)) return *v;
  if (const auto* b = std::get_if<bool>(&it->second)) return *b ? 1 : 0;
  return std::nullopt;
}

std::optional<double> gguf_info::get_float(std::string_view key) const {
  auto it = metadata.find(key);
  if (it == metadata.end()) return std::nullopt;
  if (const auto* v = std::get_if<double>(&it->second)) return *v;
  return std::nullopt;
}

std::optional<std::string> gguf_info::get_string(std::string_view key) const {
  auto it = metadata.find(key);
  if (it == metadata.end()) return std::nullopt;
  if (const auto* v = std::get_if<std::string>(&it->second)) return *v;
  return std::nullopt;
}

result<gguf_info> read_gguf_info(const std::filesystem::path& path, std::string* why) {
  file_reader r;
  const std::string where = path.string();
  if (!r.open(path)) return invalid(why, where, r.error());

  gguf_info info;
  info.file_size = r.size();
  if (r.size() < 4) return invalid(why, where, "too small to be a GGUF file");
  std::array<char, 4> head{};
  r.read(head.data(), head.size(), "magic");
  if (head != magic) return invalid(why, where, "not a GGUF file (bad magic)");

  r.u32(info.version, "version");
  if (r.failed()) return invalid(why, where, r.error());
  if (info.version == 0x03000000 || info.version == 0x02000000) {
    return invalid(why, where, "big-endian GGUF files are not supported");
  }
  if (info.version != 2 && info.version != 3) {
    return invalid(why, where, "unsupported GGUF version " + std::to_string(info.version));
  }

  std::uint64_t kv_count = 0;
  r.u64(info.tensor_count, "tensor count");
  r.u64(kv_count, "metadata count");
  if (r.failed()) return invalid(why, where, r.error());
  // A pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor entry at least 24.
  if (kv_count > r.remaining() / 13) {
    return invalid(why, where, "claims " + std::to_string(kv_count) +
                                   " metadata pairs, more than the file can hold");
  }
  if (info.tensor_count > r.remaining() / 24) {
    return invalid(why, where, "claims " + std::to_string(info.tensor_count) +
                                   " tensors, more than the file can hold");
  }

  for (std::uint64_t i = 0; i < kv_count; ++i) {
    r.set_context("metadata key " + std::to_string(i));
    std::string key;
    std::uint32_t type = 0;
    if (!r.string(&key, max_key_length, "key")) break;
    if (key.empty()) {
      r.fail("empty key");
      break;
    }
    r.set_context("metadata key " + std::to_string(i) + " '" + key + "'");
    if (!r.u32(type, "value type")) break;
    if (type >= type_count) {
      r.fail("unknown value type " + std::to_string(type));
      break;
    }
    gguf_value value;
    if (!read_value(r, type, value)) break;
    if (!info.metadata.emplace(std::move(key), std::move(value)).second) {
      r.fail("duplicate key");
      break;
    }
  }
  r.set_context({});
  if (r.failed()) return invalid(why, where, r.error());

  if (auto it = info.metadata.find("general.alignment"); it != info.metadata.end()) {
    const auto* v = std::get_if<std::int64_t>(&it->second);
    if (v == nullptr || *v <= 0 || *v > (1 << 30) || !std::has_single_bit(static_cast<std::uint64_t>(*v))) {
      return invalid(why, where, "general.alignment must be a power of two");
    }
    info.alignment = static_cast<std::uint64_t>(*v);
  }

  // The tensor table: validate each entry, then check that the data lies inside the file.
  std::uint64_t data_end = 0;  // relative to the data section
  for (std::uint64_t i = 0; i < info.tensor_count; ++i) {
    r.set_context("tensor " + std::to_string(i));
    std::string name;
    std::uint32_t n_dims = 0;
    if (!r.string(&name, max_tensor_name_length, "tensor name") || !r.u32(n_dims, "n_dims")) break;
    r.set_context("tensor " + std::to_string(i) + " '" + name + "'");
    if (n_dims > max_dims) {
      r.fail(std::to_string(n_dims) + " dimensions (at most 4)");
      break;
    }
    std::array<std::uint64_t, max_dims> ne = {1, 1, 1, 1};
    std::uint64_t elements = 1;
    bool overflow = false;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      if (!r.u64(ne[d], "dimension")) break;
      std::uint64_t next = sat_mul(elements, ne[d]);
      overflow = overflow || next == std::numeric_limits<std::uint64_t>::max();
      elements = next;
    }
    std::uint32_t type = 0;
    std::uint64_t offset = 0;
    if (!r.u32(type, "tensor type") || !r.u64(offset, "tensor offset")) break;
    if (overflow) {
      r.fail("element count overflows");
      break;
    }
    if (offset % info.alignment != 0) {
      r.fail("offset " + std::to_string(offset) + " is not aligned to " +
             std::to_string(info.alignment));
      break;
    }
    type_traits t = ggml_type_traits(type);
    if (t.block == 0) continue;  // a type this table does not know: not size-checked
    if (ne[0] % t.block != 0) {
      r.fail("row of " + std::to_string(ne[0]) + " elements is not a whole number of blocks");
      break;
    }
    std::uint64_t bytes = sat_mul(elements / t.block, t.bytes);
    if (bytes == std::numeric_limits<std::uint64_t>::max() || offset > r.size() ||
        bytes > r.size() - offset) {
      r.fail("tensor data cannot fit in the file");
      break;
    }
    info.tensor_data_bytes += bytes;
    data_end = std::max(data_end, offset + bytes);
  }
  r.set_context({});
  if (r.failed()) return invalid(why, where, r.error());

  info.tensor_data_offset = (r.pos() + info.alignment - 1) / info.alignment * info.alignment;
  if (info.tensor_count > 0 &&
      (info.tensor_data_offset > r.size() || data_end > r.size() - info.tensor_data_offset)) {
    return invalid(why, where, "truncated: tensor data needs " +
                                   std::to_string(info.tensor_data_offset + data_end) +
                                   " bytes, file has " + std::to_string(r.size()));
  }

  info.architecture = info.get_string("general.architecture").value_or("");
  info.name = info.get_string("general.name").value_or("");
  if (auto ft = info.get_int("general.file_type"); ft && *ft >= 0 && *ft <= 0xffffffff) {
    info.file_type = static_cast<std::uint32_t>(*ft);
  }
  const std::string& a = info.architecture;
  info.context_length = get_count(info, a + ".context_length");
  info.embedding_length = get_count(info, a + ".embedding_length");
  info.block_count = get_count(info, a + ".block_count");
  info.head_count = get_count(info, a + ".attention.head_count");
  info.head_count_kv = get_count(info, a + ".attention.head_count_kv");
  if (info.head_count_kv == 0) info.head_count_kv = info.head_count;
  if (info.metadata.count(a + ".attention.key_length") != 0) {
    info.key_length = get_count(info, a + ".attention.key_length");
  }
  if (info.metadata.count(a + ".attention.value_length") != 0) {
    info.value_length = get_count(info, a + ".attention.value_length");
  }
  if (auto it = info.metadata.find("tokenizer.ggml.tokens"); it != info.metadata.end()) {
    if (const auto* arr = std::get_if<gguf_array>(&it->second)) info.vocab_size = arr->length;
  }
  return info;
}

std::uint64_t estimate_kv_cache_bytes(const gguf_info& info, int ctx) {
  if (ctx <= 0 || info.head_count == 0 || info.block_count == 0) return 0;
  std::uint64_t head_dim = info.embedding_length / info.head_count;
  std::uint64_t k = info.key_length.value_or(head_dim);
  std::uint64_t v = info.value_length.value_or(head_dim);
  std::uint64_t per_token_layer = sat_mul(info.head_count_kv, k + v);
  std::uint64_t bytes = sat_mul(static_cast<std::uint64_t>(ctx), info.block_count);
  bytes = sat_mul(bytes, per_token_layer);
  return sat_mul(bytes, 2);  // f16
}

// --- Writer -----------------------------------------------------------------------------------

namespace {

// Serialises the header (metadata and tensor table) in memory: it is ~15 KB for a tiny model.
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

constexpr std::uint32_t n_embd = 64;
constexpr std::uint32_t n_ff = 128;
constexpr std::uint32_t n_head = 4;
constexpr std::uint32_t n_layer = 2;
constexpr std::uint64_t alignment = 32;
const std::string sp_space = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

// SentencePiece token types (llama.cpp's llama_token_type).
enum : std::int32_t { tok_normal = 1, tok_unknown = 2, tok_control = 3, tok_user_defined = 4, tok_byte = 6 };

struct vocabulary {
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

// The story model's text: plain ASCII, four paragraphs (so no line repeats twice in a row).
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

// The story's tokens in order, one period. Each word is a token "▁word" (a paragraph's first
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
  if (!token.empty()) tokens.back() += token;  // write_tiny_model checks the tokens are distinct
  return tokens;
}

// <unk> <s> </s>, 256 byte tokens, <unused0..99>, ChatML markers, "▁", printable ASCII, then a
// few words with and without the "▁" prefix. SentencePiece builds a word by merging adjacent
// pieces that are themselves in the vocabulary, so every prefix of a word is a token too;
// longer pieces score higher so the longest match wins. The story kind appends its tokens
// (without their prefixes: prompts are not meant to tokenize into them).
vocabulary make_vocabulary(tiny_model_kind kind) {
  vocabulary v;
  v.add("<unk>", 0, tok_unknown);
  v.add("<s>", 0, tok_control);
  v.add("</s>", 0, tok_control);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    v.add(name, 0, tok_byte);
  }
  // USER_DEFINED, like a real model's <unusedN>: matched in text, printed as text.
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

// A tensor is ne1 rows of ne0 floats, generated row by row as it is written.
struct tensor_spec {
  std::string name;
  std::uint64_t ne0 = 0;
  std::uint64_t ne1 = 1;
  bool matrix = true;
  std::function<void(std::uint64_t row, std::vector<float>& out)> fill;
};

struct file_closer { void operator()(std::FILE* f) const { std::fclose(f); } };

result<void> write_failed(std::string* why, const std::string& what, int error_number) {
  if (why != nullptr) *why = what;
  return boost::system::error_code(error_number != 0 ? error_number : EIO,
                                   boost::system::generic_category());
}

}  // namespace

std::string_view to_string(tiny_model_kind kind) noexcept {
  switch (kind) {
    case tiny_model_kind::random: return "random";
    case tiny_model_kind::unused50: return "unused50";
    case tiny_model_kind::hello: return "hello";
    case tiny_model_kind::story: return "story";
  }
  return "random";
}

std::optional<tiny_model_kind> parse_tiny_model_kind(std::string_view text) noexcept {
  for (auto k : {tiny_model_kind::random, tiny_model_kind::unused50, tiny_model_kind::hello,
                 tiny_model_kind::story}) {
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
  const vocabulary vocab = make_vocabulary(kind);
  const auto n_vocab = static_cast<std::uint64_t>(vocab.tokens.size());
  const std::uint64_t seed = options.seed;

  header_builder h;
  h.kv_str("general.architecture", "llama");
  h.kv_str("general.name", "openclawd-tiny-" + std::string(to_string(kind)));
  h.kv_u32("general.file_type", 0);  // all F32
  h.kv_u32("general.alignment", static_cast<std::uint32_t>(alignment));
  h.kv_u32("llama.context_length", options.context_length);
  h.kv_u32("llama.embedding_length", n_embd);
  h.kv_u32("llama.block_count", n_layer);
  h.kv_u32("llama.feed_forward_length", n_ff);
  h.kv_u32("llama.attention.head_count", n_head);
  h.kv_u32("llama.attention.head_count_kv", n_head);
  h.kv_u32("llama.rope.dimension_count", n_embd / n_head);
  h.kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  h.kv_u32("llama.vocab_size", static_cast<std::uint32_t>(n_vocab));
  h.kv_str("tokenizer.ggml.model", "llama");
  h.kv_strings("tokenizer.ggml.tokens", vocab.tokens);
  h.kv_f32s("tokenizer.ggml.scores", vocab.scores);
  h.kv_i32s("tokenizer.ggml.token_type", vocab.types);
  h.kv_u32("tokenizer.ggml.bos_token_id", tiny_token_bos);
  h.kv_u32("tokenizer.ggml.eos_token_id", tiny_token_eos);
  h.kv_u32("tokenizer.ggml.unknown_token_id", tiny_token_unk);
  h.kv_bool("tokenizer.ggml.add_bos_token", true);
  h.kv_bool("tokenizer.ggml.add_eos_token", false);
  // Like the recorded test models: "Hello, world!" tokenizes as Hello , ▁world !
  h.kv_bool("tokenizer.ggml.add_space_prefix", false);
  h.kv_str("tokenizer.chat_template", chatml_template);

  // --- weights, per kind ---
  // For hello and unused50 the blocks must not disturb the residual stream, so attn_output and
  // ffn_down are zero: the final hidden state is then the current token's embedding, and
  // output.weight alone decides the next token. The other block weights stay random (small).
  const bool quiet_blocks = kind != tiny_model_kind::random;
  const int unused50 = tiny_token_unused0 + 50;

  // hello: a chain current -> next, each link a basis direction of the embedding space.
  // Every other token (notably the prompt's last, "\n") starts the chain at "Hello".
  const std::array<int, 5> chain = {vocab.id("Hello"), vocab.id(","), vocab.id(sp_space + "world"),
                                    vocab.id("!"), tiny_token_eos};
  auto hello_class = [&](std::uint64_t token) -> std::size_t {
    for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
      if (static_cast<std::uint64_t>(chain[i]) == token) return i + 1;
    }
    return 0;
  };

  // story: the same trick over a cycle of 174 distinct tokens t_0..t_{N-1}, more than n_embd
  // basis directions, so class k's direction is a pair code e_i + e_j (i < j; 2016 pairs in 64
  // dimensions): two codes share at most one index. Token t_i is in class i + 1, the last one
  // and every token outside the story in class 0; output row t_k answers class k. After RMS norm
  // a code is ~5.66 (e_i + e_j), so the right token's logit is ~170, a token whose code shares an
  // index ~85, every other one 0: default sampling follows the cycle, and never picks </s>.
  std::vector<int> story_class;   // per token: the class its embedding encodes
  std::vector<int> story_answer;  // per token: the class its output row answers, or -1
  std::vector<std::pair<std::uint32_t, std::uint32_t>> story_codes;
  if (kind == tiny_model_kind::story) {
    const auto tokens = story_tokens();
    story_class.assign(static_cast<std::size_t>(n_vocab), 0);
    story_answer.assign(static_cast<std::size_t>(n_vocab), -1);
    for (std::size_t k = 0; k < tokens.size(); ++k) {
      const int id = vocab.id(tokens[k]);
      if (id < 0 || story_answer[static_cast<std::size_t>(id)] != -1) {
        return write_failed(why, "internal error: story token '" + tokens[k] + "' is not unique", EINVAL);
      }
      story_answer[static_cast<std::size_t>(id)] = static_cast<int>(k);
      story_class[static_cast<std::size_t>(id)] = static_cast<int>((k + 1) % tokens.size());
    }
    for (std::uint32_t i = 0; i < n_embd && story_codes.size() < tokens.size(); ++i) {
      for (std::uint32_t j = i + 1; j < n_embd && story_codes.size() < tokens.size(); ++j) {
        story_codes.emplace_back(i, j);
      }
    }
    if (story_codes.size() < tokens.size()) {
      return write_failed(why, "internal error: more story tokens than pair codes", EINVAL);
    }
  }

  // random: dimension 63 carries a constant, so output rows can push tokens down whatever the
  // context: byte tokens (invalid UTF-8 makes llama-server answer 500) and the special tokens
  // (so replies never stop early) are never sampled; replies are gibberish of words,
  // characters and <unusedN>, until max_tokens.
  const std::uint64_t bias_dim = n_embd - 1;
  auto suppressed = [&](std::uint64_t token) {
    return vocab.types[token] == tok_byte || vocab.types[token] == tok_control ||
           vocab.types[token] == tok_unknown;
  };

  std::vector<tensor_spec> tensors;
  auto random_matrix = [&](std::string name, std::uint64_t ne0, std::uint64_t ne1, float scale) {
    auto rng = std::make_shared<weight_rng>(seed, name);
    tensors.push_back({name, ne0, ne1, true, [rng, scale](std::uint64_t, std::vector<float>& out) {
                         for (float& x : out) x = rng->uniform(scale);
                       }});
  };
  auto constant = [&](std::string name, std::uint64_t ne0, std::uint64_t ne1, bool matrix, float value) {
    tensors.push_back({std::move(name), ne0, ne1, matrix, [value](std::uint64_t, std::vector<float>& out) {
                         std::fill(out.begin(), out.end(), value);
                       }});
  };

  {
    auto rng = std::make_shared<weight_rng>(seed, "token_embd.weight");
    tensors.push_back({"token_embd.weight", n_embd, n_vocab, true,
                       [=](std::uint64_t token, std::vector<float>& out) {
                         for (float& x : out) x = rng->uniform(1.0f);
                         switch (kind) {
                           case tiny_model_kind::random: out[bias_dim] = 4.0f; break;
                           case tiny_model_kind::unused50:
                             // "Nearly all ones": a little noise keeps tokens distinguishable.
                             for (float& x : out) x = 1.0f + 0.01f * x;
                             break;
                           case tiny_model_kind::hello:
                             std::fill(out.begin(), out.end(), 0.0f);
                             out[hello_class(token)] = 1.0f;
                             break;
                           case tiny_model_kind::story: {
                             std::fill(out.begin(), out.end(), 0.0f);
                             const auto [i, j] = story_codes[static_cast<std::size_t>(story_class[token])];
                             out[i] = out[j] = 1.0f;
                             break;
                           }
                         }
                       }});
  }
  for (std::uint32_t b = 0; b < n_layer; ++b) {
    const std::string p = "blk." + std::to_string(b) + ".";
    constant(p + "attn_norm.weight", n_embd, 1, false, 1.0f);
    random_matrix(p + "attn_q.weight", n_embd, n_embd, 0.1f);
    random_matrix(p + "attn_k.weight", n_embd, n_embd, 0.1f);
    random_matrix(p + "attn_v.weight", n_embd, n_embd, 0.1f);
    if (quiet_blocks) {
      constant(p + "attn_output.weight", n_embd, n_embd, true, 0.0f);
    } else {
      random_matrix(p + "attn_output.weight", n_embd, n_embd, 0.1f);
    }
    constant(p + "ffn_norm.weight", n_embd, 1, false, 1.0f);
    random_matrix(p + "ffn_gate.weight", n_embd, n_ff, 0.1f);
    random_matrix(p + "ffn_up.weight", n_embd, n_ff, 0.1f);
    if (quiet_blocks) {
      constant(p + "ffn_down.weight", n_ff, n_embd, true, 0.0f);
    } else {
      random_matrix(p + "ffn_down.weight", n_ff, n_embd, 0.1f);
    }
  }
  constant("output_norm.weight", n_embd, 1, false, 1.0f);
  {
    auto rng = std::make_shared<weight_rng>(seed, "output.weight");
    tensors.push_back({"output.weight", n_embd, n_vocab, true,
                       [=](std::uint64_t token, std::vector<float>& out) {
                         std::fill(out.begin(), out.end(), 0.0f);
                         switch (kind) {
                           case tiny_model_kind::random:
                             for (float& x : out) x = rng->uniform(1.0f);
                             out[bias_dim] = 0.0f;
                             if (suppressed(token)) {
                               std::fill(out.begin(), out.end(), 0.0f);
                               out[bias_dim] = -4.0f;
                             }
                             break;
                           case tiny_model_kind::unused50:
                             if (token == static_cast<std::uint64_t>(unused50)) {
                               std::fill(out.begin(), out.end(), 1.0f);
                             }
                             break;
                           case tiny_model_kind::hello:
                             // After RMS norm a one-hot embedding is ~8 in its direction, so the
                             // chosen token's logit is ~160 and every other one is 0: sampling
                             // with llama-server's default temperature is deterministic.
                             // Row chain[k] answers direction k: class k is followed by chain[k].
                             for (std::size_t k = 0; k < chain.size(); ++k) {
                               if (static_cast<std::uint64_t>(chain[k]) == token) out[k] = 20.0f;
                             }
                             break;
                           case tiny_model_kind::story:
                             if (const int k = story_answer[token]; k >= 0) {
                               const auto [i, j] = story_codes[static_cast<std::size_t>(k)];
                               out[i] = out[j] = 15.0f;
                             }
                             break;
                         }
                       }});
  }

  // Tensor table: offsets are relative to the (aligned) start of the data section.
  header_builder out;
  out.bytes().append(magic.data(), magic.size());
  out.u32(3);
  out.u64(tensors.size());
  out.u64(h.kv_count());
  out.bytes() += h.bytes();
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    out.str(t.name);
    out.u32(t.matrix ? 2 : 1);
    out.u64(t.ne0);
    if (t.matrix) out.u64(t.ne1);
    out.u32(0);  // GGML_TYPE_F32
    out.u64(offset);
    offset += (t.ne0 * t.ne1 * 4 + alignment - 1) / alignment * alignment;
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
    for (std::uint64_t r = 0; r < t.ne1; ++r) {
      t.fill(r, row);
      le.clear();
      for (float x : row) {
        auto u = std::bit_cast<std::uint32_t>(x);
        for (int i = 0; i < 4; ++i) le.push_back(static_cast<char>(u >> (8 * i)));
      }
      if (!put(le.data(), le.size())) return fail("write failed");
    }
    std::uint64_t bytes = t.ne0 * t.ne1 * 4;
    std::uint64_t pad = (alignment - bytes % alignment) % alignment;
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
