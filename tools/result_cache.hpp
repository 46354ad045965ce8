// Recent tool results by key (search results by normalized query, pages by URL), each kept
// for a fixed TTL; a full cache drops expired entries, then the oldest. Repeated questions (a
// chat re-asking, a retry) then cost the site nothing. Pure state with the time passed in;
// owned by one tool, used from one thread. Sizes are small (hundreds), so eviction is a
// linear scan.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>

namespace openclawd::tools {

template <class Value>
class result_cache {
 public:
  using clock = std::chrono::steady_clock;

  result_cache(std::chrono::milliseconds ttl, std::size_t max_entries) : ttl_(ttl), max_entries_(max_entries) {}

  // The entry for `key` if it has not expired (an expired one is dropped).
  const Value* find(const std::string& key, clock::time_point now) {
    const auto it = entries_.find(key);
    if (it == entries_.end()) return nullptr;
    if (now >= it->second.expires) {
      entries_.erase(it);
      return nullptr;
    }
    return &it->second.value;
  }

  void put(const std::string& key, Value value, clock::time_point now) {
    if (ttl_ <= std::chrono::milliseconds::zero() || max_entries_ == 0) return;  // caching off
    entries_.erase(key);
    if (entries_.size() >= max_entries_) std::erase_if(entries_, [&](const auto& e) { return now >= e.second.expires; });
    while (entries_.size() >= max_entries_) {
      auto oldest = entries_.begin();
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (it->second.expires < oldest->second.expires) oldest = it;
      }
      entries_.erase(oldest);
    }
    entries_.emplace(key, entry{std::move(value), now + ttl_});
  }

  std::size_t size() const { return entries_.size(); }

 private:
  struct entry {
    Value value;
    clock::time_point expires;
  };
  std::chrono::milliseconds ttl_;
  std::size_t max_entries_;
  std::map<std::string, entry> entries_;
};

}  // namespace openclawd::tools
