// gateway/log_syncer: the store's deferred commits synced on the syncer's thread, completing
// on the caller's event loop; the write-ahead log found again after SQLite replaced it; a
// missing log refused at open (the channel then syncs at commit).
#include "gateway/conversation_store.hpp"
#include "gateway/log_syncer.hpp"
#include "tests/support/harness.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <thread>

namespace fs = std::filesystem;
using namespace openclawd;
using namespace openclawd::gateway;

namespace {

struct sync_outcome {
  bool ok = false;
  std::thread::id completed_on;
};

// A named coroutine, not a lambda: a lambda's captures would not outlive co_spawn's call.
asio::awaitable<void> run_sync(log_syncer& s, sync_outcome& out) {
  auto r = co_await s.sync();
  out.ok = r.has_value();
  out.completed_on = std::this_thread::get_id();
}

// Runs sync() on a fresh event loop; true when it completed there, on the loop's own thread.
bool sync_on_loop(log_syncer& s) {
  asio::io_context io;
  sync_outcome out;
  asio::co_spawn(io, run_sync(s, out), asio::detached);
  io.run();  // returns only once the sync has completed: the syncer keeps the loop busy till then
  return out.ok && out.completed_on == std::this_thread::get_id();
}

}  // namespace

TEST_CASE("log_syncer: deferred inbox commits are synced off the loop and complete on it", "[store]") {
  openclawd::test::temp_dir dir;
  const auto db = dir / "conversations.db";
  {
    auto store = conversation_store::open(db);
    REQUIRE(store.has_value());
    CHECK(store->log_path() == fs::path(db.string() + "-wal"));
    auto syncer = log_syncer::open(store->log_path());
    REQUIRE(syncer.has_value());
    const std::vector<inbox_entry> batch = {{7, "telegram:1", "{\"update_id\":7}"}};
    CHECK(store->inbox_add("telegram", batch, durability::deferred).value() == std::vector<std::int64_t>{7});
    CHECK(store->diagnostics().value().synchronous == 2);  // FULL again for every other write
    CHECK(sync_on_loop(**syncer));
    CHECK(sync_on_loop(**syncer));
    CHECK((*syncer)->syncs() == 2);

    // The last connection's close deletes the -wal file; the next open makes a new one. The
    // syncer follows it instead of syncing the deleted file.
    store = result<conversation_store>(boost::system::error_code(errc::store_failed));
    CHECK_FALSE(fs::exists(db.string() + "-wal"));
    auto again = conversation_store::open(db);
    REQUIRE(again.has_value());
    CHECK(again->inbox_add("telegram", std::vector<inbox_entry>{{8, "telegram:1", "{}"}}, durability::deferred)
              .value()
              .size() == 1);
    CHECK(sync_on_loop(**syncer));
    CHECK(again->inbox_open("telegram").value().size() == 2);
  }
  CHECK_FALSE(log_syncer::open(dir / "missing.db-wal").has_value());
}
