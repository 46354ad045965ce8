#include "core/gguf.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
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

kv_cache_estimate estimate_kv_cache(const gguf_info& info, int ctx, bool swa_full) {
  kv_cache_estimate e;
  const std::uint64_t full = estimate_kv_cache_bytes(info, ctx);
  e.bytes = full;
  const auto window = info.get_int(info.architecture + ".attention.sliding_window");
  if (full == 0 || !window || *window <= 0 || info.block_count == 0) return e;
  e.sliding_window = static_cast<std::uint64_t>(*window);
  // Which layers slide: a per-layer pattern when the file has one, else what llama.cpp fixes
  // for the architecture (Gemma 2: every other layer; Gemma 3: five of six; Cohere 2: 3 of 4).
  const auto pattern = info.metadata.find(info.architecture + ".attention.sliding_window_pattern");
  if (pattern != info.metadata.end() && std::holds_alternative<gguf_array>(pattern->second) &&
      std::get<gguf_array>(pattern->second).integers.size() == info.block_count) {
    for (auto v : std::get<gguf_array>(pattern->second).integers) e.swa_layers += v != 0 ? 1 : 0;
  } else if (info.architecture == "gemma2") {
    e.swa_layers = info.block_count / 2;
  } else if (info.architecture == "gemma3") {
    e.swa_layers = info.block_count - info.block_count / 6;
  } else if (info.architecture == "cohere2") {
    e.swa_layers = info.block_count - info.block_count / 4;
  } else {
    e.swa_layers = 0;  // unknown: count every layer as full, the safe side
  }
  if (swa_full || e.swa_layers == 0) return e;
  const std::uint64_t per_layer_token = full / info.block_count / static_cast<std::uint64_t>(ctx);
  // llama.cpp sizes a sliding-window layer's cache to the window plus a batch (n_ubatch 512).
  const std::uint64_t cells = std::min<std::uint64_t>(static_cast<std::uint64_t>(ctx), e.sliding_window + 512);
  const std::uint64_t swa_bytes = sat_mul(sat_mul(cells, e.swa_layers), per_layer_token);
  const std::uint64_t full_layers = info.block_count - e.swa_layers;
  e.bytes = sat_mul(sat_mul(static_cast<std::uint64_t>(ctx), full_layers), per_layer_token) + swa_bytes;
  const std::uint64_t checkpoints = std::min<std::uint64_t>(32, static_cast<std::uint64_t>(ctx) / 8192 + 1);
  e.checkpoint_bytes = sat_mul(checkpoints, swa_bytes);
  return e;
}

}  // namespace openclawd::core
