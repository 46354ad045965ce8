// gateway/conversation_store: round trips, summaries, /reset, the token count cache keyed by
// model, the SQLite settings actually in force, schema versions, two connections and two
// processes on one file, and durability: a child process that appends and dies without closing
// (_exit, SIGKILL) loses nothing append_turn() returned for; after an I/O error at commit (a
// VFS that fails fsync or writes on demand) the store answers what the file really holds.
// Each test uses a fresh folder.
#include "gateway/conversation_store.hpp"
#include "tests/support/faulty_vfs.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace fs = std::filesystem;
using namespace openclawd::gateway;
using openclawd::errc;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("openclawd-store-test-" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  fs::path db() const { return path / "conversations.db"; }
};

conversation_store open_store(const fs::path& p) {
  auto s = conversation_store::open(p);
  REQUIRE(s.has_value());
  return std::move(*s);
}

// A second, raw connection, to look at the file behind the store's back.
struct raw_db {
  sqlite3* db = nullptr;
  explicit raw_db(const fs::path& p) { REQUIRE(sqlite3_open(p.c_str(), &db) == SQLITE_OK); }
  ~raw_db() { sqlite3_close(db); }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;
  std::string text(const char* sql) {
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK);
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    return out;
  }
  void exec(const char* sql) { REQUIRE(sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK); }
};

std::string content_for(std::int64_t i) { return "message number " + std::to_string(i) + " — ünïcødé ✓"; }

// Child side of the fork tests: never returns into Catch.
[[noreturn]] void child_exit(int code) { _exit(code); }

}  // namespace

TEST_CASE("conversation_store: turns round-trip in order, per chat", "[store]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  const std::string tricky = "quotes ' \" and '); DROP TABLE turns;-- and emoji 🦀\nand a second line";
  CHECK(store.append_turn("telegram:12345", turn_role::user, "Hi there").value() == 1);
  CHECK(store.append_turn("telegram:12345", turn_role::assistant, tricky).value() == 2);
  CHECK(store.append_turn("local:default", turn_role::user, "other chat").value() == 1);
  CHECK(store.append_turn("telegram:12345", turn_role::system_note, "searched the web").value() == 3);
  CHECK(store.append_turn("telegram:12345", turn_role::user, "").value() == 4);  // empty content is a turn too

  auto all = store.turns("telegram:12345").value();
  REQUIRE(all.size() == 4);
  CHECK(all[0].seq == 1);
  CHECK(all[0].role == turn_role::user);
  CHECK(all[0].content == "Hi there");
  CHECK(all[1].role == turn_role::assistant);
  CHECK(all[1].content == tricky);
  CHECK(all[2].role == turn_role::system_note);
  CHECK(all[3].content.empty());
  for (const auto& t : all) {
    CHECK_FALSE(t.covered_by_summary);
    CHECK_FALSE(t.tokens.has_value());
    CHECK(t.created_at_ms > 1'600'000'000'000);
  }

  auto from3 = store.turns("telegram:12345", 3).value();
  REQUIRE(from3.size() == 2);
  CHECK(from3[0].seq == 3);

  auto recent = store.recent_turns("telegram:12345", 2).value();
  REQUIRE(recent.size() == 2);
  CHECK(recent[0].seq == 3);  // oldest first
  CHECK(recent[1].seq == 4);
  CHECK(store.recent_turns("telegram:12345", 0).value().empty());
  CHECK(store.recent_turns("telegram:12345", 100).value().size() == 4);

  CHECK(store.turns("local:default").value().size() == 1);
  CHECK(store.turns("nobody").value().empty());
  const auto info = store.chat("telegram:12345").value();
  CHECK(info.exists);
  CHECK(info.last_seq == 4);
  CHECK(store.turn_count("telegram:12345").value() == 4);
  CHECK(info.summary.empty());
  CHECK_FALSE(store.chat("nobody").value().exists);

  auto bad = store.append_turn("", turn_role::user, "x");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error() == errc::store_failed);
}

TEST_CASE("conversation_store: a summary covers turns that stay stored, flagged", "[store]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  for (int i = 1; i <= 6; ++i) store.append_turn("c", i % 2 ? turn_role::user : turn_role::assistant, content_for(i)).value();

  REQUIRE(store.set_summary("c", "The user said hello four times.", 9, 4).has_value());
  const auto info = store.chat("c").value();
  CHECK(info.summary == "The user said hello four times.");
  CHECK(info.summary_tokens == 9);
  CHECK(info.summary_covers_up_to_seq == 4);
  CHECK(store.turn_count("c").value() == 6);

  const auto all = store.turns("c").value();
  REQUIRE(all.size() == 6);  // kept for audit
  for (const auto& t : all) CHECK(t.covered_by_summary == (t.seq <= 4));
  const auto after = store.turns("c", info.summary_covers_up_to_seq + 1).value();
  REQUIRE(after.size() == 2);
  CHECK(after[0].seq == 5);

  // A later, larger compaction replaces the summary.
  REQUIRE(store.set_summary("c", "Longer summary.", 4, 6).has_value());
  CHECK(store.chat("c").value().summary_covers_up_to_seq == 6);

  auto beyond = store.set_summary("c", "x", 1, 7);
  REQUIRE_FALSE(beyond.has_value());
  CHECK(beyond.error() == errc::store_failed);
  CHECK(store.last_error().find("ends at 6") != std::string::npos);
  CHECK_FALSE(store.set_summary("c", "x", 1, -1).has_value());
  CHECK_FALSE(store.set_summary("c", "x", -1, 1).has_value());
  CHECK_FALSE(store.set_summary("nobody", "x", 1, 0).has_value());
  CHECK(store.chat("c").value().summary == "Longer summary.");  // failed calls changed nothing
}

TEST_CASE("conversation_store: reset deletes a chat's turns, counts and summary, nothing else", "[store]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  for (int i = 1; i <= 3; ++i) store.append_turn("a", turn_role::user, content_for(i)).value();
  store.append_turn("b", turn_role::user, "keep me").value();
  REQUIRE(store.cache_token_count("a", 1, "model-x", 10).has_value());
  REQUIRE(store.cache_token_count("b", 1, "model-x", 3).has_value());
  REQUIRE(store.set_summary("a", "sum", 1, 2).has_value());

  REQUIRE(store.reset("a").has_value());
  CHECK(store.turns("a").value().empty());
  const auto info = store.chat("a").value();
  CHECK(info.summary.empty());
  CHECK(info.summary_tokens == 0);
  CHECK(info.summary_covers_up_to_seq == 0);
  CHECK(store.turn_count("a").value() == 0);
  CHECK(store.token_count("a", 1, "model-x").value() == std::nullopt);
  {
    raw_db raw(dir.db());
    CHECK(raw.text("SELECT count(*) FROM token_counts") == "1");  // only chat b's
  }
  CHECK(store.turns("b").value().size() == 1);
  CHECK(store.token_count("b", 1, "model-x").value() == 3);

  // Seqs go on from where they were: a late answer to turn 3 is recognizably stale.
  CHECK(store.append_turn("a", turn_role::user, "fresh start").value() == 4);
  CHECK(store.reset("never-seen").has_value());
}

TEST_CASE("conversation_store: token counts are cached per turn and per model key", "[store]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  for (int i = 1; i <= 4; ++i) store.append_turn("c", turn_role::user, content_for(i)).value();
  const std::string orch = "orchestrator:/models/big-Q4_K_M.gguf:123456";
  const std::string orch_fallback = "orchestrator:/models/big-Q8_0.gguf:654321";

  REQUIRE(store.cache_token_count("c", 1, orch, 12).has_value());
  CHECK(store.token_count("c", 1, orch).value() == 12);
  CHECK(store.token_count("c", 1, orch_fallback).value() == std::nullopt);  // a model switch misses
  CHECK(store.token_count("c", 2, orch).value() == std::nullopt);
  REQUIRE(store.cache_token_count("c", 1, orch, 13).has_value());  // overwrite
  CHECK(store.token_count("c", 1, orch).value() == 13);

  const std::vector<std::pair<std::int64_t, std::int64_t>> batch = {{2, 20}, {3, 30}, {4, 40}};
  REQUIRE(store.cache_token_counts("c", orch_fallback, batch).has_value());
  const auto with_fallback = store.turns("c", 1, orch_fallback).value();
  REQUIRE(with_fallback.size() == 4);
  CHECK_FALSE(with_fallback[0].tokens.has_value());
  CHECK(with_fallback[1].tokens == 20);
  CHECK(with_fallback[3].tokens == 40);
  const auto with_orch = store.recent_turns("c", 4, orch).value();
  CHECK(with_orch[0].tokens == 13);
  CHECK_FALSE(with_orch[1].tokens.has_value());

  REQUIRE(store.drop_token_counts(orch).has_value());
  CHECK(store.token_count("c", 1, orch).value() == std::nullopt);
  CHECK(store.token_count("c", 2, orch_fallback).value() == 20);

  // Errors: an unknown turn, an empty key, a negative count; a failed batch writes nothing.
  CHECK_FALSE(store.cache_token_count("c", 99, orch, 1).has_value());
  CHECK(store.last_error().find("no turn 99") != std::string::npos);
  CHECK_FALSE(store.cache_token_count("c", 1, "", 1).has_value());
  CHECK_FALSE(store.cache_token_count("c", 1, orch, -1).has_value());
  const std::vector<std::pair<std::int64_t, std::int64_t>> half_bad = {{1, 5}, {99, 5}};
  CHECK_FALSE(store.cache_token_counts("c", orch, half_bad).has_value());
  CHECK(store.token_count("c", 1, orch).value() == std::nullopt);
}

TEST_CASE("conversation_store: WAL, synchronous FULL, foreign keys, private file", "[store]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  store.append_turn("c", turn_role::user, "x").value();
  store.cache_token_count("c", 1, "m", 1).value();  // relaxes synchronous for its own commit only
  // So do deferred turns and inbox progress marks (durability::deferred).
  store.append_turn("c", turn_role::assistant, "deferred", {}, durability::deferred).value();
  CHECK_FALSE(store.cache_token_count("c", 99, "m", 1).has_value());  // and after a failure too
  const auto d = store.diagnostics().value();
  CHECK(d.journal_mode == "wal");
  CHECK(d.synchronous == 2);
  CHECK(d.foreign_keys);
  CHECK(d.schema_version == conversation_store::schema_version);
  CHECK_FALSE(d.sqlite_version.empty());
  CHECK(fs::exists(dir.path / "conversations.db-wal"));
  {
    raw_db raw(dir.db());  // WAL is a property of the file: another connection sees it too
    CHECK(raw.text("PRAGMA journal_mode") == "wal");
  }
  const auto perms = fs::status(dir.db()).permissions();
  CHECK((perms & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
}

TEST_CASE("conversation_store: reopening a file keeps everything and migrates once", "[store]") {
  temp_dir dir;
  {
    auto store = open_store(dir.db());
    for (int i = 1; i <= 5; ++i) store.append_turn("c", turn_role::user, content_for(i)).value();
    store.set_summary("c", "s", 1, 2).value();
    store.cache_token_count("c", 3, "m", 7).value();
  }
  for (int round = 0; round < 2; ++round) {
    auto store = open_store(dir.db());
    const auto all = store.turns("c", 1, "m").value();
    REQUIRE(all.size() == static_cast<std::size_t>(5 + round));  // round 1 also sees round 0's "more"
    for (int i = 0; i < 5; ++i) CHECK(all[static_cast<std::size_t>(i)].content == content_for(i + 1));
    CHECK(all[2].tokens == 7);
    CHECK(store.chat("c").value().summary == "s");
    CHECK(store.append_turn("c", turn_role::assistant, "more").value() == 6 + round);
  }
  raw_db raw(dir.db());
  CHECK(raw.text("SELECT count(*) FROM schema_version") == std::to_string(conversation_store::schema_version));
  CHECK(raw.text("PRAGMA integrity_check") == "ok");
}

TEST_CASE("conversation_store: a file from a newer schema is refused, a bad path fails", "[store]") {
  temp_dir dir;
  { open_store(dir.db()); }
  {
    raw_db raw(dir.db());
    raw.exec("INSERT INTO schema_version (version, applied_at) VALUES (99, 0)");
  }
  auto s = conversation_store::open(dir.db());
  REQUIRE_FALSE(s.has_value());
  CHECK(s.error() == errc::store_failed);

  auto missing = conversation_store::open(dir.path / "no" / "such" / "dir" / "x.db");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error() == errc::store_failed);
}

TEST_CASE("conversation_store: two connections on one file interleave safely", "[store]") {
  temp_dir dir;
  auto a = open_store(dir.db());
  auto b = open_store(dir.db());
  std::set<std::int64_t> seqs;
  for (int i = 0; i < 50; ++i) {
    seqs.insert(a.append_turn("shared", turn_role::user, "from a").value());
    seqs.insert(b.append_turn("shared", turn_role::assistant, "from b").value());
  }
  CHECK(seqs.size() == 100);
  CHECK(*seqs.begin() == 1);
  CHECK(*seqs.rbegin() == 100);
  CHECK(a.turns("shared").value().size() == 100);
  b.set_summary("shared", "seen by a", 1, 10).value();
  CHECK(a.chat("shared").value().summary == "seen by a");
  raw_db raw(dir.db());
  CHECK(raw.text("PRAGMA integrity_check") == "ok");
}

TEST_CASE("conversation_store: two processes appending at once lose and duplicate nothing", "[store]") {
  temp_dir dir;
  { open_store(dir.db()); }  // create the schema first, so neither side races the migration
  constexpr int per_side = 150;
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    try {
      auto s = conversation_store::open(dir.db());
      if (!s) child_exit(2);
      for (int i = 0; i < per_side; ++i) {
        if (!s->append_turn("shared", turn_role::assistant, "child").has_value()) child_exit(3);
      }
      child_exit(0);
    } catch (...) {
      child_exit(4);
    }
  }
  auto store = open_store(dir.db());
  int failures = 0;
  for (int i = 0; i < per_side; ++i) {
    if (!store.append_turn("shared", turn_role::user, "parent").has_value()) ++failures;
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(failures == 0);
  const auto all = store.turns("shared").value();
  REQUIRE(all.size() == 2 * per_side);
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(all[i].seq == static_cast<std::int64_t>(i + 1));
  raw_db raw(dir.db());
  CHECK(raw.text("PRAGMA integrity_check") == "ok");
}

TEST_CASE("conversation_store: a child that appends and _exit()s without closing loses nothing", "[store]") {
  temp_dir dir;
  constexpr int n = 100;
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    try {
      auto s = conversation_store::open(dir.db());
      if (!s) child_exit(2);
      for (int i = 1; i <= n; ++i) {
        auto seq = s->append_turn("local:default", turn_role::user, content_for(i));
        if (!seq || *seq != i) child_exit(3);
      }
      s->cache_token_count("local:default", n, "m", 5).value();
      child_exit(0);  // no destructor, no sqlite3_close, no checkpoint
    } catch (...) {
      child_exit(4);
    }
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(fs::exists(dir.path / "conversations.db-wal"));  // the data is (only) in the WAL

  auto store = open_store(dir.db());
  const auto all = store.turns("local:default").value();
  REQUIRE(all.size() == n);
  for (int i = 0; i < n; ++i) CHECK(all[static_cast<std::size_t>(i)].content == content_for(i + 1));
  CHECK(store.token_count("local:default", n, "m").value() == 5);
  raw_db raw(dir.db());
  CHECK(raw.text("PRAGMA integrity_check") == "ok");
}

TEST_CASE("conversation_store: SIGKILL mid-stream keeps every acknowledged turn", "[store]") {
  temp_dir dir;
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    try {
      auto s = conversation_store::open(dir.db());
      if (!s) child_exit(2);
      for (std::int64_t i = 1;; ++i) {  // appends until killed
        auto seq = s->append_turn("telegram:1", turn_role::user, content_for(i));
        if (!seq) child_exit(3);
        const auto ack = static_cast<std::int32_t>(*seq);
        if (write(fds[1], &ack, sizeof ack) != static_cast<ssize_t>(sizeof ack)) child_exit(5);
      }
    } catch (...) {
      child_exit(4);
    }
  }
  close(fds[1]);
  std::int32_t acked = 0;
  for (int i = 0; i < 50; ++i) {
    std::int32_t v = 0;
    REQUIRE(read(fds[0], &v, sizeof v) == static_cast<ssize_t>(sizeof v));
    CHECK(v == acked + 1);
    acked = v;
  }
  kill(pid, SIGKILL);  // somewhere inside the next append: before, during or after its commit
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  close(fds[0]);

  auto store = open_store(dir.db());
  const auto all = store.turns("telegram:1").value();
  REQUIRE(all.size() >= static_cast<std::size_t>(acked));
  for (std::size_t i = 0; i < all.size(); ++i) {
    CHECK(all[i].seq == static_cast<std::int64_t>(i + 1));  // no gaps, no half-written turn
    CHECK(all[i].content == content_for(static_cast<std::int64_t>(i + 1)));
  }
  CHECK(store.chat("telegram:1").value().last_seq == static_cast<std::int64_t>(all.size()));
  raw_db raw(dir.db());
  CHECK(raw.text("PRAGMA integrity_check") == "ok");
}

TEST_CASE("conversation_store: append latency", "[store][performance]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  constexpr int n = 200;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) store.append_turn("c", turn_role::user, content_for(i)).value();
  const auto us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / n;
  const auto read_start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) store.recent_turns("c", 20).value();
  const auto read_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - read_start).count() / n;
  const auto count_start = std::chrono::steady_clock::now();
  for (int i = 1; i <= n; ++i) store.cache_token_count("c", i, "m", i).value();
  const auto count_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - count_start).count() / n;
  WARN("conversation_store in " << dir.path << ": append_turn " << us << " us each (synchronous=FULL, one fsync), "
                                << "cache_token_count " << count_us << " us (no fsync), recent_turns(20) " << read_us
                                << " us");
  CHECK(store.turns("c").value().size() == n);
}

TEST_CASE("conversation_store: roles as stored", "[store]") {
  CHECK(to_string(turn_role::user) == "user");
  CHECK(to_string(turn_role::assistant) == "assistant");
  CHECK(to_string(turn_role::system_note) == "system-note");
  CHECK(parse_turn_role("system-note") == turn_role::system_note);
  CHECK_FALSE(parse_turn_role("system").has_value());
}

TEST_CASE("conversation_store: a turn with an origin is stored once", "[store]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  CHECK(store.append_turn("c", turn_role::user, "hello", "telegram:815").value() == 1);
  CHECK(store.append_turn("c", turn_role::user, "hello", "telegram:815").value() == 1);  // again: same seq
  CHECK(store.append_turn("c", turn_role::user, "no origin").value() == 2);
  CHECK(store.append_turn("c", turn_role::user, "no origin").value() == 3);  // no origin: always new
  CHECK(store.append_turn("d", turn_role::user, "other chat", "telegram:815").value() == 1);  // per chat
  CHECK(store.turns("c").value().size() == 3);
  const auto found = store.turn_by_origin("c", "telegram:815").value();
  REQUIRE(found);
  CHECK(found->content == "hello");
  CHECK_FALSE(store.turn_by_origin("c", "telegram:816").value());
}

TEST_CASE("conversation_store: the inbox keeps updates until done, once each", "[store]") {
  temp_dir dir;
  {
    auto store = open_store(dir.db());
    CHECK(store.inbox_summary_of("telegram").value().max_id == 0);
    const std::vector<inbox_entry> batch = {{100, "telegram:1", "{\"update_id\":100}"},
                                            {101, "telegram:2", "{\"update_id\":101}"},
                                            {102, "telegram:1", "{\"update_id\":102}"}};
    CHECK(store.inbox_add("telegram", batch).value() == std::vector<std::int64_t>{100, 101, 102});
    CHECK(store.inbox_add("telegram", std::span(batch).subspan(1)).value().empty());  // delivered twice
    store.inbox_set_reply("telegram", 100, "[\"part 1\",\"part 2\"]").value();
    // The reply comes with its first part marked in flight, in the same transaction.
    CHECK(store.inbox_open("telegram").value()[0].uncertain_part == 0);
    store.inbox_parts_sent("telegram", 100, 1).value();
    CHECK(store.inbox_open("telegram").value()[0].uncertain_part == -1);
    store.inbox_part_uncertain("telegram", 100, 1).value();
    store.inbox_done("telegram", 101).value();
    CHECK_FALSE(store.inbox_done("telegram", 999).has_value());  // no such entry
    CHECK_FALSE(store.inbox_set_reply("telegram", 100, "again").has_value());  // only once, from pending
  }
  auto store = open_store(dir.db());  // after a restart
  const auto open = store.inbox_open("telegram").value();
  REQUIRE(open.size() == 2);
  CHECK(open[0].id == 100);
  CHECK(open[0].state == inbox_state::replying);
  CHECK(open[0].reply == "[\"part 1\",\"part 2\"]");
  CHECK(open[0].parts_sent == 1);
  CHECK(open[0].uncertain_part == 1);
  CHECK(open[1].id == 102);
  CHECK(open[1].state == inbox_state::pending);
  CHECK(open[1].chat_id == "telegram:1");
  CHECK(open[1].payload == "{\"update_id\":102}");
  CHECK(store.inbox_summary_of("telegram").value().max_id == 102);
  CHECK(store.inbox_open("other").value().empty());
  // Done records the parts sent in the same transaction, never fewer than were recorded.
  store.inbox_done("telegram", 100, 2).value();
  store.inbox_done("telegram", 101, 0).value();  // done before, with no part: stays as it was
  {
    raw_db raw(dir.db());
    CHECK(raw.text("SELECT parts_sent || ' ' || state FROM inbox WHERE id = 100") == "2 done");
    CHECK(raw.text("SELECT parts_sent || ' ' || state FROM inbox WHERE id = 101") == "0 done");
  }
  // Pruning forgets old finished entries but keeps the newest id.
  store.inbox_done("telegram", 102).value();
  store.inbox_prune("telegram", std::chrono::milliseconds(-1000)).value();
  const auto left = store.inbox_summary_of("telegram").value();
  CHECK(left.max_id == 102);
  CHECK(left.rows == 1);
}

TEST_CASE("conversation_store: a version 1 file migrates to the newest schema with its turns", "[store]") {
  temp_dir dir;
  {
    raw_db raw(dir.db());
    raw.exec("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
    raw.exec("INSERT INTO schema_version VALUES (1, 0)");
    raw.exec("CREATE TABLE chats (id TEXT PRIMARY KEY NOT NULL CHECK (length(id) > 0), created_at INTEGER NOT NULL,"
             " last_seq INTEGER NOT NULL DEFAULT 0, summary TEXT NOT NULL DEFAULT '', summary_tokens INTEGER NOT NULL"
             " DEFAULT 0, summary_covers_up_to_seq INTEGER NOT NULL DEFAULT 0)");
    raw.exec("CREATE TABLE turns (id INTEGER PRIMARY KEY, chat_id TEXT NOT NULL REFERENCES chats(id) ON DELETE CASCADE,"
             " seq INTEGER NOT NULL, role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system-note')),"
             " content TEXT NOT NULL, created_at INTEGER NOT NULL, UNIQUE (chat_id, seq))");
    raw.exec("CREATE TABLE token_counts (turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE, model_key"
             " TEXT NOT NULL CHECK (length(model_key) > 0), count INTEGER NOT NULL CHECK (count >= 0), PRIMARY KEY"
             " (turn_id, model_key)) WITHOUT ROWID");
    raw.exec("INSERT INTO chats (id, created_at, last_seq) VALUES ('c', 0, 1)");
    raw.exec("INSERT INTO turns (chat_id, seq, role, content, created_at) VALUES ('c', 1, 'user', 'old', 0)");
  }
  auto store = open_store(dir.db());
  CHECK(store.diagnostics().value().schema_version == conversation_store::schema_version);
  CHECK(store.turns("c").value().at(0).content == "old");
  CHECK(store.append_turn("c", turn_role::assistant, "new", "x:1").value() == 2);
  CHECK(store.inbox_add("telegram", std::vector<inbox_entry>{{1, "c", "{}"}}).value().size() == 1);
  CHECK(store.stranger_refusal_due("telegram", 66, 1).value());  // v3
}

TEST_CASE("conversation_store: a stranger's refusal is due once a day, remembered across a reopen", "[store]") {
  temp_dir dir;
  {
    auto store = open_store(dir.db());
    CHECK(store.stranger_refusal_due("telegram", 66, 20000).value());
    CHECK_FALSE(store.stranger_refusal_due("telegram", 66, 20000).value());
    CHECK(store.stranger_refusal_due("telegram", 67, 20000).value());  // another stranger
    CHECK(store.stranger_refusal_due("other", 66, 20000).value());     // another channel
  }
  auto store = open_store(dir.db());  // a restart, the same day
  CHECK_FALSE(store.stranger_refusal_due("telegram", 66, 20000).value());
  CHECK(store.stranger_refusal_due("telegram", 66, 20001).value());  // the next day
  CHECK_FALSE(store.stranger_refusal_due("telegram", 66, 20001).value());
  store.forget_strangers_before("telegram", 20001).value();  // 67's day-20000 refusal goes
  {
    raw_db raw(dir.db());
    CHECK(raw.text("SELECT group_concat(user_id) FROM strangers_refused WHERE channel = 'telegram'") == "66");
    CHECK(raw.text("SELECT count(*) FROM strangers_refused WHERE channel = 'other'") == "1");
  }
  CHECK(store.stranger_refusal_due("telegram", 67, 20001).value());
  CHECK_FALSE(store.stranger_refusal_due("", 66, 20001).has_value());
}

namespace {

// The faults of tests/support/faulty_vfs are process-wide: cleared however a test ends.
struct faults_cleared {
  faults_cleared() { openclawd::test::faults().clear(); }
  ~faults_cleared() { openclawd::test::faults().clear(); }
};

store_options through_faulty_vfs() {
  store_options o;
  o.vfs = openclawd::test::faulty_vfs();
  return o;
}

std::vector<std::string> contents(conversation_store& s, const std::string& chat) {
  std::vector<std::string> out;
  for (const auto& t : s.turns(chat).value()) out.push_back(t.content);
  return out;
}

}  // namespace

// Issue 20: "I could not save your message; please send it again", and after a restart the
// message was there: SQLite wrote the commit's frames before the fsync failed, and the next
// connection recovered them. The store now looks again before it answers.
TEST_CASE("conversation_store: a commit whose fsync fails, and fsync keeps failing: the turn is kept, and said so",
          "[store][faults]") {
  faults_cleared cleared;
  auto& faults = openclawd::test::faults();
  temp_dir dir;
  {
    auto store = conversation_store::open(dir.db(), through_faulty_vfs()).value();
    REQUIRE(store.append_turn("c", turn_role::user, "before", "test:1").value() == 1);
    faults.syncs_fail = true;  // a failing disk: every fsync from now on, as strace's injection did
    const int failed_before = faults.failed;
    const auto seq = store.append_turn("c", turn_role::user, "hello", "test:2");
    CHECK(faults.failed > failed_before);  // the fault hit this commit
    INFO(store.last_error());
    // The reopened file holds it (the log's frames were kept: the checkpoint at close could not
    // sync either), so it is saved: "please send it again" would store it twice.
    REQUIRE(seq.has_value());
    CHECK(*seq == 2);
    CHECK(contents(store, "c") == std::vector<std::string>{"before", "hello"});
    // Sent again anyway (same origin): stored once.
    CHECK(store.append_turn("c", turn_role::user, "hello", "test:2").value() == 2);
    // Without an origin the turn is found by its seq.
    CHECK(store.append_turn("c", turn_role::assistant, "an answer").value() == 3);
    faults.clear();
  }
  // What a restart finds: each turn once.
  auto store = open_store(dir.db());
  CHECK(contents(store, "c") == std::vector<std::string>{"before", "hello", "an answer"});
  CHECK(store.append_turn("c", turn_role::user, "after", "test:3").value() == 4);
}

TEST_CASE("conversation_store: a commit whose fsync fails once: the turn is not kept, and said so", "[store][faults]") {
  faults_cleared cleared;
  auto& faults = openclawd::test::faults();
  temp_dir dir;
  {
    auto store = conversation_store::open(dir.db(), through_faulty_vfs()).value();
    REQUIRE(store.append_turn("c", turn_role::user, "before", "test:1").value() == 1);
    faults.syncs_to_fail = 1;
    const auto seq = store.append_turn("c", turn_role::user, "hello", "test:2");
    REQUIRE_FALSE(seq.has_value());
    CHECK(seq.error() == errc::store_failed);  // not "maybe": the reopened file does not hold it
    CHECK_THAT(store.last_error(), Catch::Contains("disk I/O error") && Catch::Contains("not saved"));
    CHECK(faults.syncs_to_fail == 0);
    CHECK(contents(store, "c") == std::vector<std::string>{"before"});
    // Sent again, as the user was told: stored once.
    CHECK(store.append_turn("c", turn_role::user, "hello", "test:2").value() == 2);
    faults.syncs_to_fail = 1;
    const auto plain = store.append_turn("c", turn_role::assistant, "an answer");
    REQUIRE_FALSE(plain.has_value());
    CHECK(plain.error() == errc::store_failed);
  }
  auto store = open_store(dir.db());
  CHECK(contents(store, "c") == std::vector<std::string>{"before", "hello"});
}

TEST_CASE("conversation_store: when the file cannot be opened again after a failed commit, the answer is maybe",
          "[store][faults]") {
  faults_cleared cleared;
  auto& faults = openclawd::test::faults();
  temp_dir dir;
  auto store = conversation_store::open(dir.db(), through_faulty_vfs()).value();
  REQUIRE(store.append_turn("c", turn_role::user, "before", "test:1").value() == 1);
  faults.syncs_fail = true;
  faults.opens_fail = true;
  const auto seq = store.append_turn("c", turn_role::user, "hello", "test:2");
  REQUIRE_FALSE(seq.has_value());
  CHECK(seq.error() == errc::store_uncertain);
  CHECK_THAT(store.last_error(), Catch::Contains("may have been kept"));
  // Meanwhile every call fails cleanly, and each tries the file again.
  CHECK_FALSE(store.turns("c").has_value());
  CHECK_FALSE(store.inbox_done("telegram", 1).has_value());
  CHECK_FALSE(store.inbox_prune("telegram", std::chrono::hours(1)).has_value());
  CHECK(store.log_path() == dir.db().string() + "-wal");
  faults.clear();
  // The file opens again, and it did keep the turn: "maybe" was the truth.
  CHECK(contents(store, "c") == std::vector<std::string>{"before", "hello"});
  CHECK(store.append_turn("c", turn_role::user, "hello", "test:2").value() == 2);
}

TEST_CASE("conversation_store: inbox entries whose commit failed are read back: new when kept, refused when not",
          "[store][faults]") {
  faults_cleared cleared;
  auto& faults = openclawd::test::faults();
  temp_dir dir;
  const std::vector<inbox_entry> batch = {{100, "telegram:1", "{\"update_id\":100}"},
                                          {101, "telegram:2", "{\"update_id\":101}"}};
  auto store = conversation_store::open(dir.db(), through_faulty_vfs()).value();
  REQUIRE(store.inbox_add("telegram", std::span(batch).first(1)).value() == std::vector<std::int64_t>{100});

  // Not kept: refused (the channel does not confirm the updates; Telegram sends them again).
  faults.syncs_to_fail = 1;
  auto r = store.inbox_add("telegram", batch);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == errc::store_failed);
  CHECK(store.inbox_summary_of("telegram").value().max_id == 100);
  // A write to the log that fails (deferred: the channel's own fsync comes later) is refused too.
  faults.wal_writes_to_fail = 1;
  r = store.inbox_add("telegram", batch, durability::deferred);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == errc::store_failed);
  CHECK(store.inbox_open("telegram").value().size() == 1);

  // Kept after all (fsync keeps failing): the new ids, as if nothing had failed, so that the
  // channel answers them; delivered again, they are not new. (Closing a connection checkpoints
  // the log and deletes it when it can, so a first write to a fresh log is lost with it: not
  // saved, as above. A commit since the last checkpoint keeps the log, orphan frames included.)
  REQUIRE(store.append_turn("c", turn_role::user, "a turn in the log").has_value());
  faults.syncs_fail = true;
  r = store.inbox_add("telegram", batch);
  INFO(store.last_error());
  REQUIRE(r.has_value());
  CHECK(*r == std::vector<std::int64_t>{101});
  faults.clear();
  CHECK(store.inbox_add("telegram", batch).value().empty());
  CHECK(store.inbox_open("telegram").value().size() == 2);

  // Other writes cannot tell: store_uncertain, and the connection shows what the file holds.
  faults.syncs_to_fail = 1;
  const auto marked = store.inbox_set_reply("telegram", 100, "[]");
  REQUIRE_FALSE(marked.has_value());
  CHECK(marked.error() == errc::store_uncertain);
  CHECK(store.inbox_open("telegram").value()[0].state == inbox_state::pending);  // it was not kept
}
