#include "gateway/stream_holdback.hpp"

namespace openclawd::gateway {
namespace {

// The longest fragment held back while waiting for its '>': "<unused" plus a few digits, and
// the family markers a model may leak ("<|im_end|>", "<end_of_turn>", "<|eot_id|>").
constexpr std::size_t max_fragment = 24;

constexpr std::string_view marker = "<unused";

// Where a prefix of the marker ends `s` ("…<un"), or npos.
std::size_t marker_prefix_at_end(std::string_view s) {
  for (std::size_t n = marker.size() - 1; n > 0; --n) {
    if (s.size() >= n && s.substr(s.size() - n) == marker.substr(0, n)) return s.size() - n;
  }
  return std::string_view::npos;
}

// The longest cut at or before `n` that ends on a whole UTF-8 character (a cut inside one
// would show a replacement character in a live preview).
std::size_t whole_chars(std::string_view s, std::size_t n) {
  std::size_t lead = n;
  while (lead > 0 && (static_cast<unsigned char>(s[lead - 1]) & 0xC0) == 0x80) --lead;
  if (lead == 0) return n;  // continuation bytes only: nothing to wait for
  const auto c = static_cast<unsigned char>(s[lead - 1]);
  const std::size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
  return lead - 1 + len > n ? lead - 1 : n;
}

// A fragment that may still become a special token: "<", then token characters only.
bool token_fragment(std::string_view s) {
  if (s.size() > max_fragment) return false;
  for (char c : s.substr(1)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '|' || c == '/' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string stream_holdback::push(std::string_view piece) {
  pending_ += piece;
  if (frozen_) return {};
  if (released_ + pending_.size() < hold_bytes_) return {};
  std::size_t cut = pending_.size();
  if (const auto at = special_tokens_ ? pending_.find(marker) : std::string::npos; at != std::string::npos) {
    frozen_ = true;  // hold it and everything after it until the guard has decided
    cut = at;
  } else if (const auto part = special_tokens_ ? marker_prefix_at_end(pending_) : std::string_view::npos;
             part != std::string_view::npos) {
    cut = part;
  } else if (const auto lt = pending_.rfind('<');
             lt != std::string::npos && token_fragment(std::string_view(pending_).substr(lt))) {
    cut = lt;  // "<end_of_tu…": wait for the rest
  }
  cut = whole_chars(pending_, cut);
  std::string out = pending_.substr(0, cut);
  pending_.erase(0, cut);
  released_ += out.size();
  return out;
}

std::string stream_holdback::finish() {
  std::string out = std::move(pending_);
  pending_.clear();
  released_ += out.size();
  return out;
}

void stream_holdback::reset() {
  pending_.clear();
  released_ = 0;
  frozen_ = false;
}

}  // namespace openclawd::gateway
