#include "gateway/kv_keeper.hpp"

#include "core/log.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>

namespace openclawd::gateway {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// FNV-1a: a file name that stays the same for a chat across builds and platforms (std::hash
// does not promise that). The manifest keeps the chat itself, so a collision is recognized.
std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

}  // namespace

struct kv_keeper::waiter {
  explicit waiter(const asio::any_io_executor& ex) : wake(ex, asio::steady_timer::time_point::max()) {}
  asio::steady_timer wake;
};

kv_keeper::lease::lease(lease&& o) noexcept
    : keeper_(std::exchange(o.keeper_, nullptr)), slot_(o.slot_), alive_(std::move(o.alive_)) {}

kv_keeper::lease& kv_keeper::lease::operator=(lease&& o) noexcept {
  if (this != &o) {
    release();
    keeper_ = std::exchange(o.keeper_, nullptr);
    slot_ = o.slot_;
    alive_ = std::move(o.alive_);
  }
  return *this;
}

kv_keeper::lease::~lease() { release(); }

void kv_keeper::lease::release() {
  if (keeper_ != nullptr && alive_ && *alive_) keeper_->release(slot_);
  keeper_ = nullptr;
}

kv_keeper::kv_keeper(llm_client& client, std::string node, int slots, kv_files files)
    : client_(client), node_(std::move(node)), slots_(std::max(slots, 1)), files_(std::move(files)) {
  owner_.assign(static_cast<std::size_t>(slots_), {});
  busy_.assign(static_cast<std::size_t>(slots_), false);
  used_at_.assign(static_cast<std::size_t>(slots_), 0);
  if (files_.enabled) {
    std::error_code ec;
    std::filesystem::create_directories(files_.dir, ec);
    load_manifest();
    drop_stale();
  }
}

kv_keeper::~kv_keeper() { *alive_ = false; }

std::string kv_keeper::file_name(const std::string& chat) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx.bin", static_cast<unsigned long long>(fnv1a(chat)));
  return buf;
}

asio::awaitable<kv_keeper::lease> kv_keeper::acquire(const std::string& chat) {
  const auto alive = alive_;
  for (;;) {
    // The chat's own slot, else the least recently used one (free ones first).
    int slot = -1;
    if (const auto it = slot_of_.find(chat); it != slot_of_.end() && it->second < slots_) {
      slot = it->second;
    } else {
      std::int64_t oldest = std::numeric_limits<std::int64_t>::max();
      for (int s = 0; s < slots_; ++s) {
        const auto i = static_cast<std::size_t>(s);
        const std::int64_t key = used_at_[i] - (busy_[i] ? 0 : (std::int64_t{1} << 50));
        if (key < oldest) {
          oldest = key;
          slot = s;
        }
      }
    }
    const auto i = static_cast<std::size_t>(slot);
    if (!busy_[i]) {
      busy_[i] = true;
      used_at_[i] = now_ms();
      slot_of_[chat] = slot;
      break;
    }
    auto w = std::make_shared<waiter>(co_await asio::this_coro::executor);
    waiters_.push_back(w);
    co_await w->wake.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!*alive) co_return lease{};
  }
  const int slot = slot_of_[chat];
  const auto i = static_cast<std::size_t>(slot);
  lease held(this, slot, alive_);
  if (owner_[i] != chat && files_.enabled) {
    const auto name = file_name(chat);
    if (const auto it = manifest_.find(name);
        it != manifest_.end() && it->second.chat == chat && it->second.fingerprint == files_.fingerprint) {
      auto r = co_await client_.restore_slot(slot, name);
      if (!*alive) co_return lease{};
      if (r) {
        ++stats_.restores;
        stats_.restored_tokens += static_cast<std::uint64_t>(r->tokens);
        it->second.last_used_ms = now_ms();
        save_manifest();
        core::log_info("kv", node_ + ": slot " + std::to_string(slot) + " restored " + std::to_string(r->tokens) +
                                 " tokens of " + chat + " from its file (" + std::to_string(r->ms) + " ms)");
      } else {
        ++stats_.restore_failures;
        core::log_warn("kv", node_ + ": cannot restore " + chat + " (" + r.error().to_string() + "); evaluating");
        // A file the node refuses (corrupt, another model) is of no use; a node that is
        // restarting may take it later.
        if (r.error().kind != llm_error_kind::not_ready && r.error().kind != llm_error_kind::connection)
          forget_file(name);
      }
    }
  }
  owner_[i] = chat;  // after the request the slot holds the chat's prompt, restored or not
  co_return held;
}

void kv_keeper::release(int slot) {
  busy_[static_cast<std::size_t>(slot)] = false;
  // Every waiter looks again; the one whose slot is free takes it.
  auto waiting = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiting) w->wake.cancel();
}

asio::awaitable<void> kv_keeper::warm(const std::string& chat, lease& held, std::string prefix) {
  if (!held) co_return;
  const auto alive = alive_;
  const int slot = held.slot();
  auto t = co_await client_.prefill(std::move(prefix), slot);
  if (!*alive) co_return;
  if (!t) {
    ++stats_.warmup_failures;
    if (t.error().status == 404 || t.error().status == 501) {
      warm_supported_ = false;
      core::log_warn("kv", node_ + ": the server has no /completion (" + t.error().to_string() +
                               "): no more warm-ups; each message evaluates what is new");
    } else {
      core::log_warn("kv", node_ + ": warm-up of " + chat + " failed: " + t.error().to_string());
    }
    co_return;
  }
  stats_.warm_tokens += static_cast<std::uint64_t>(t->prompt_n);
  // Counted once the save is done too: a warm-up is complete when the chat's file is.
  struct count_on_exit {
    kv_stats& s;
    std::shared_ptr<bool> alive;
    ~count_on_exit() {
      if (*alive) ++s.warmups;
    }
  } count{stats_, alive};
  if (!files_.enabled) co_return;
  const auto name = file_name(chat);
  auto s = co_await client_.save_slot(slot, name);
  if (!*alive) co_return;
  if (!s) {
    ++stats_.save_failures;
    core::log_warn("kv", node_ + ": cannot save " + chat + "'s slot: " + s.error().to_string());
    // A half-written file (the node died while saving) must not be restored later.
    forget_file(name);
    co_return;
  }
  ++stats_.saves;
  manifest_[name] = file_entry{chat, files_.fingerprint, s->tokens, s->bytes, now_ms()};
  enforce_cap(name);
  save_manifest();
}

void kv_keeper::node_restarted() {
  std::fill(owner_.begin(), owner_.end(), std::string());
  warm_supported_ = true;  // perhaps another server now
}

void kv_keeper::reconfigure(int slots, kv_files files) {
  slots_ = std::max(slots, 1);
  const auto n = static_cast<std::size_t>(slots_);
  // Leases on slots beyond the new count end as they end; new chats see the new count.
  if (owner_.size() < n) {
    owner_.resize(n);
    busy_.resize(n, false);
    used_at_.resize(n, 0);
  }
  std::fill(owner_.begin(), owner_.end(), std::string());
  files_ = std::move(files);
  if (files_.enabled) {
    std::error_code ec;
    std::filesystem::create_directories(files_.dir, ec);
    load_manifest();
    drop_stale();
  }
}

void kv_keeper::load_manifest() {
  manifest_.clear();
  std::ifstream in(files_.dir / "manifest.json");
  if (!in) return;
  std::stringstream ss;
  ss << in.rdbuf();
  const auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (!j.is_object() || !j.contains("files") || !j["files"].is_object()) return;
  for (const auto& [name, e] : j["files"].items()) {
    if (!e.is_object()) continue;
    try {
      manifest_[name] = file_entry{e.value("chat", ""), e.value("fingerprint", ""), e.value("tokens", 0),
                                   e.value("bytes", std::uint64_t{0}), e.value("last_used_ms", std::int64_t{0})};
    } catch (const nlohmann::json::exception&) {
      // an entry we cannot read: its file is deleted below as unknown
    }
  }
}

void kv_keeper::save_manifest() const {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [name, e] : manifest_)
    files[name] = {{"chat", e.chat}, {"fingerprint", e.fingerprint}, {"tokens", e.tokens}, {"bytes", e.bytes},
                   {"last_used_ms", e.last_used_ms}};
  const auto tmp = files_.dir / "manifest.json.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << nlohmann::json{{"node", node_}, {"files", std::move(files)}}.dump(1) << "\n";
    if (!out) return;  // a lost manifest only costs evaluations later
  }
  std::error_code ec;
  std::filesystem::rename(tmp, files_.dir / "manifest.json", ec);
}

void kv_keeper::forget_file(const std::string& name) {
  std::error_code ec;
  std::filesystem::remove(files_.dir / name, ec);
  manifest_.erase(name);
  save_manifest();
}

void kv_keeper::drop_stale() {
  // Files of another model or configuration, entries whose file is gone, files nobody knows.
  std::erase_if(manifest_, [&](const auto& e) {
    std::error_code ec;
    const bool stale = e.second.fingerprint != files_.fingerprint ||
                       !std::filesystem::is_regular_file(files_.dir / e.first, ec);
    if (stale) std::filesystem::remove(files_.dir / e.first, ec);
    return stale;
  });
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(files_.dir, ec)) {
    const auto name = entry.path().filename().string();
    if (entry.path().extension() == ".bin" && !manifest_.count(name)) std::filesystem::remove(entry.path(), ec);
  }
  enforce_cap({});
  save_manifest();
}

void kv_keeper::enforce_cap(const std::string& keep) {
  std::uint64_t total = 0;
  for (const auto& [name, e] : manifest_) total += e.bytes;
  while (files_.max_bytes > 0 && total > files_.max_bytes) {
    auto victim = manifest_.end();
    for (auto it = manifest_.begin(); it != manifest_.end(); ++it)
      if (it->first != keep && (victim == manifest_.end() || it->second.last_used_ms < victim->second.last_used_ms))
        victim = it;
    if (victim == manifest_.end()) break;  // only the file just written is left: keep it
    total -= victim->second.bytes;
    std::error_code ec;
    std::filesystem::remove(files_.dir / victim->first, ec);
    manifest_.erase(victim);
    ++stats_.evictions;
  }
  stats_.files = manifest_.size();
  stats_.file_bytes = total;
}

}  // namespace openclawd::gateway
