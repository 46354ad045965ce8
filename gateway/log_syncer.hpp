// Makes a conversation_store's deferred commits durable without blocking the daemon's thread:
// the fsync of the store's write-ahead log runs on a thread of its own while the event loop
// goes on (with the message the commit stored, for one).
//
// Why this is enough: in WAL mode a commit is frames appended to the -wal file, in order, and
// syncing the file syncs every frame written before the call (fdatasync covers the file, not
// one descriptor's writes). So when sync() completes, every commit made before it was called
// survives a power cut. SQLite syncs the same file itself before a checkpoint moves frames
// into the database, so a checkpoint cannot take frames away from under us either.
//
// The thread touches nothing but its own descriptor of the -wal file: no SQLite state, no
// object of the event loop's. Requests and completions cross through asio's queues.
#pragma once

#include "core/error.hpp"
#include "net/asio.hpp"

#include <filesystem>
#include <memory>

namespace openclawd::gateway {

class log_syncer {
 public:
  // `wal`: the store's write-ahead log (conversation_store::log_path()). Fails if it cannot be
  // opened; the caller then keeps syncing at commit (durability::now).
  static result<std::unique_ptr<log_syncer>> open(const std::filesystem::path& wal);
  ~log_syncer();  // waits for a sync under way (a few milliseconds at most on a working disk)
  log_syncer(const log_syncer&) = delete;
  log_syncer& operator=(const log_syncer&) = delete;

  // Completes on the caller's executor once everything committed before the call is on disk.
  asio::awaitable<result<void>> sync();

  std::uint64_t syncs() const noexcept { return syncs_; }

 private:
  struct worker;
  explicit log_syncer(std::unique_ptr<worker> w);
  std::unique_ptr<worker> w_;
  std::uint64_t syncs_ = 0;
};

}  // namespace openclawd::gateway
