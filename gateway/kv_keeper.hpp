// Keeps each chat's prompt evaluated on a node, so that a message costs the node only its own
// tokens (issue 16). The orchestrator is a big model on a CPU (tens of prompt tokens a second):
// re-reading a 10,000-token chat costs minutes.
//
//  - Slots. Each chat is served by one slot of the node (its id_slot), the least recently used
//    one when it has none, and holds it for the length of a request (a lease): two chats never
//    interleave in one slot.
//  - Warm-up. Once an answer is stored, the slot evaluates the text the next request will start
//    with (the history with the answer, up to where the next message goes; POST /completion,
//    n_predict 0) while the user reads: the next message then evaluates only itself.
//  - Slot files. With fewer slots than chats, or after a restart of the node or the daemon, a
//    chat's state comes back from a file the node saved after the chat's last warm-up
//    (--slot-save-path, POST /slots/N?action=save|restore) instead of being evaluated again.
//    A file is valid only for the model, context, cache types and flags it was saved with
//    (the fingerprint); stale files are deleted, the folder is capped (least recently used
//    first), and a file the node refuses just means "evaluate".
//
// One keeper per node, on the daemon's io_context thread. The manifest (manifest.json in the
// folder) records each file's chat, fingerprint, size and last use across daemon restarts.
#pragma once

#include "gateway/llm_client.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace openclawd::gateway {

struct kv_files {
  bool enabled = false;           // the node runs with --slot-save-path `dir`
  std::filesystem::path dir;      // the daemon's state_dir/kv/<node>
  std::string fingerprint;        // what makes a file valid for the node as it runs now
  std::uint64_t max_bytes = 0;    // the folder's cap (least recently used files go first); 0: none
};

struct kv_stats {
  std::uint64_t warmups = 0, warmup_failures = 0;
  std::uint64_t warm_tokens = 0;      // evaluated by warm-ups, off the critical path
  std::uint64_t saves = 0, save_failures = 0;
  std::uint64_t restores = 0, restore_failures = 0;
  std::uint64_t restored_tokens = 0;  // not evaluated again thanks to a file
  std::uint64_t files = 0, file_bytes = 0;
  std::uint64_t evictions = 0;        // files deleted for the cap
};

class kv_keeper {
 public:
  kv_keeper(llm_client& client, std::string node, int slots, kv_files files);
  ~kv_keeper();
  kv_keeper(const kv_keeper&) = delete;
  kv_keeper& operator=(const kv_keeper&) = delete;

  // A slot held for one chat; released when destroyed (or by release()).
  class lease {
   public:
    lease() = default;
    lease(lease&& o) noexcept;
    lease& operator=(lease&& o) noexcept;
    ~lease();
    int slot() const { return slot_; }
    explicit operator bool() const { return keeper_ != nullptr; }
    void release();

   private:
    friend class kv_keeper;
    lease(kv_keeper* k, int slot, std::shared_ptr<bool> alive) : keeper_(k), slot_(slot), alive_(std::move(alive)) {}
    kv_keeper* keeper_ = nullptr;
    int slot_ = 0;
    std::shared_ptr<bool> alive_;  // the keeper outlives no lease: a late release is a no-op
  };

  // Waits until the chat's slot is free and makes sure it holds the chat's state: restored from
  // the chat's file when the slot holds another chat's, or nothing known (after a restart).
  asio::awaitable<lease> acquire(const std::string& chat);
  // With the lease of `chat`: evaluates `prefix` (what the next request will start with, as the
  // template renders it) into the slot, then saves the slot to the chat's file. Failures are
  // logged and counted; the next request then evaluates what it needs.
  asio::awaitable<void> warm(const std::string& chat, lease& held, std::string prefix);

  // The node's process is new (a restart, a switch to another model): no slot holds anything.
  void node_restarted();
  // A reload changed the node's slots or what makes its files valid: files of another
  // fingerprint are deleted.
  void reconfigure(int slots, kv_files files);

  const kv_stats& stats() const noexcept { return stats_; }
  // False once the node answered a warm-up "not supported" (another OpenAI-compatible server
  // than llama-server, a url: node without /completion): no more are sent to it.
  bool warm_ups_supported() const noexcept { return warm_supported_; }
  const std::string& node() const noexcept { return node_; }

 private:
  struct file_entry {
    std::string chat, fingerprint;
    int tokens = 0;
    std::uint64_t bytes = 0;
    std::int64_t last_used_ms = 0;
  };
  void release(int slot);
  void load_manifest();
  void save_manifest() const;
  void drop_stale();
  void enforce_cap(const std::string& keep);
  std::string file_name(const std::string& chat) const;
  void forget_file(const std::string& name);

  llm_client& client_;
  std::string node_;
  int slots_;
  kv_files files_;
  std::vector<std::string> owner_;         // per slot: the chat whose state it holds ("" unknown)
  std::vector<bool> busy_;                 // per slot: leased
  std::vector<std::int64_t> used_at_;      // per slot: last lease, for least-recently-used picks
  std::map<std::string, int> slot_of_;     // chat → the slot it had last
  struct waiter;
  std::deque<std::shared_ptr<waiter>> waiters_;  // chats waiting for a slot, in arrival order
  std::map<std::string, file_entry> manifest_;   // file name → entry
  kv_stats stats_;
  bool warm_supported_ = true;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace openclawd::gateway
