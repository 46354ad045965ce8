#include "gateway/conversation_store.hpp"

#include "core/log.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <climits>
#include <system_error>

namespace openclawd::gateway {

namespace {

constexpr std::string_view log_tag = "store";

// Schema migrations, in order: migrations[i] takes the file from version i to version i + 1.
// Never edit a released entry; append a new one (and bump conversation_store::schema_version).
constexpr std::array<std::string_view, 3> migrations = {
    // v1: chats, turns, token counts.
    R"sql(
CREATE TABLE chats (
  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) > 0),
  created_at INTEGER NOT NULL,
  last_seq INTEGER NOT NULL DEFAULT 0,
  summary TEXT NOT NULL DEFAULT '',
  summary_tokens INTEGER NOT NULL DEFAULT 0,
  summary_covers_up_to_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE turns (
  id INTEGER PRIMARY KEY,
  chat_id TEXT NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system-note')),
  content TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (chat_id, seq)
);
CREATE TABLE token_counts (
  turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
  model_key TEXT NOT NULL CHECK (length(model_key) > 0),
  count INTEGER NOT NULL CHECK (count >= 0),
  PRIMARY KEY (turn_id, model_key)
) WITHOUT ROWID;
CREATE INDEX token_counts_by_model ON token_counts (model_key);
)sql",
    // v2: where a turn came from (a channel's message id: appending it twice stores it once),
    // and the channels' inbox of received messages (Telegram updates) with their replies.
    R"sql(
ALTER TABLE turns ADD COLUMN origin TEXT;
CREATE UNIQUE INDEX turns_by_origin ON turns (chat_id, origin) WHERE origin IS NOT NULL;
CREATE TABLE inbox (
  channel TEXT NOT NULL CHECK (length(channel) > 0),
  id INTEGER NOT NULL,
  chat_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'replying', 'done')),
  reply TEXT NOT NULL DEFAULT '',
  parts_sent INTEGER NOT NULL DEFAULT 0,
  uncertain_part INTEGER NOT NULL DEFAULT -1,
  finished_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (channel, id)
) WITHOUT ROWID;
CREATE INDEX inbox_open ON inbox (channel, state) WHERE state <> 'done';
)sql",
    // v3: the day each stranger (a user not on a channel's allowlist) was last refused, so that
    // the refusal comes once a day even across restarts.
    R"sql(
CREATE TABLE strangers_refused (
  channel TEXT NOT NULL CHECK (length(channel) > 0),
  user_id INTEGER NOT NULL,
  day INTEGER NOT NULL,
  PRIMARY KEY (channel, user_id)
) WITHOUT ROWID;
)sql",
};
static_assert(migrations.size() == conversation_store::schema_version);

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct db_closer {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct stmt_finalizer {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using db_ptr = std::unique_ptr<sqlite3, db_closer>;
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_finalizer>;

// Resets a cached statement when the call that used it is done, so it holds no read snapshot
// and no bindings into the caller's strings.
class statement_use {
 public:
  explicit statement_use(sqlite3_stmt* s) noexcept : s_(s) {}
  ~statement_use() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  statement_use(const statement_use&) = delete;
  statement_use& operator=(const statement_use&) = delete;
  sqlite3_stmt* get() const noexcept { return s_; }

 private:
  sqlite3_stmt* s_;
};

}  // namespace

std::string_view to_string(turn_role role) noexcept {
  switch (role) {
    case turn_role::user: return "user";
    case turn_role::assistant: return "assistant";
    case turn_role::system_note: return "system-note";
  }
  return "user";
}

std::optional<turn_role> parse_turn_role(std::string_view text) noexcept {
  if (text == "user") return turn_role::user;
  if (text == "assistant") return turn_role::assistant;
  if (text == "system-note") return turn_role::system_note;
  return std::nullopt;
}

struct conversation_store::impl {
  std::filesystem::path path;
  store_options options;
  db_ptr db;  // null after a reopen failed: the next call tries again (usable())
  std::string last_error;
  int last_rc = SQLITE_OK;  // the extended result code behind the last fail()

  // Prepared once at open, reused for the store's lifetime.
  stmt_ptr begin, commit, rollback;
  stmt_ptr sync_normal, sync_full;  // relaxed_sync: prepared once, not parsed twice per write
  stmt_ptr ensure_chat, bump_seq, insert_turn;
  stmt_ptr select_turns_from, select_recent, select_chat, count_turns;
  stmt_ptr chat_last_seq, update_summary, delete_turns, clear_summary;
  stmt_ptr upsert_count, select_count, delete_counts_for_model;
  stmt_ptr select_origin, select_by_origin;
  stmt_ptr inbox_insert, inbox_select_open, inbox_reply, inbox_part, inbox_uncertain, inbox_finish, inbox_max,
      inbox_prune, inbox_has;
  stmt_ptr stranger_refuse, stranger_forget;

  // Every statement above: all must be finalized before the connection can really close.
  std::vector<stmt_ptr*> statements() {
    return {&begin, &commit, &rollback, &sync_normal, &sync_full, &ensure_chat, &bump_seq, &insert_turn,
            &select_turns_from, &select_recent, &select_chat, &count_turns, &chat_last_seq, &update_summary,
            &delete_turns, &clear_summary, &upsert_count, &select_count, &delete_counts_for_model, &select_origin,
            &select_by_origin, &inbox_insert, &inbox_select_open, &inbox_reply, &inbox_part, &inbox_uncertain,
            &inbox_finish, &inbox_max, &inbox_prune, &inbox_has, &stranger_refuse, &stranger_forget};
  }

  boost::system::error_code fail(std::string_view what) {
    last_error = std::string(what);
    last_rc = SQLITE_ERROR;
    if (db) {
      last_error += ": ";
      last_error += sqlite3_errmsg(db.get());
      last_rc = sqlite3_extended_errcode(db.get());
    }
    return make_error_code(errc::store_failed);
  }
  boost::system::error_code invalid(std::string what) {
    last_error = std::move(what);
    return make_error_code(errc::store_failed);
  }

  result<void> exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db.get(), sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      last_rc = sqlite3_extended_errcode(db.get());
      last_error = std::string("exec failed: ") + (msg ? msg : sqlite3_errmsg(db.get()));
      sqlite3_free(msg);
      return make_error_code(errc::store_failed);
    }
    return {};
  }

  result<void> prepare(stmt_ptr& out, std::string_view sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db.get(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s,
                           nullptr) != SQLITE_OK) {
      return fail("prepare \"" + std::string(sql) + "\"");
    }
    out.reset(s);
    return {};
  }

  // A one-row, one-column query (PRAGMAs at open).
  result<std::string> query_text(const char* sql) {
    stmt_ptr s;
    if (auto r = prepare(s, sql); !r) return r.error();
    const int rc = sqlite3_step(s.get());
    if (rc != SQLITE_ROW) return fail(std::string("query ") + sql);
    const auto* text = sqlite3_column_text(s.get(), 0);
    return std::string(text ? reinterpret_cast<const char*>(text) : "");
  }

  bool bind(sqlite3_stmt* s, int i, std::string_view text) {
    if (text.size() > static_cast<std::size_t>(INT_MAX)) return false;
    // SQLITE_STATIC: the caller's string outlives the statement's use (statement_use resets it).
    return sqlite3_bind_text(s, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC) == SQLITE_OK;
  }
  bool bind(sqlite3_stmt* s, int i, std::int64_t v) { return sqlite3_bind_int64(s, i, v) == SQLITE_OK; }

  template <class... Args>
  bool bind_all(sqlite3_stmt* s, const Args&... args) {
    int i = 0;
    return (bind(s, ++i, args) && ...);
  }

  static std::string column_text(sqlite3_stmt* s, int col) {
    const auto* p = sqlite3_column_text(s, col);
    const int n = sqlite3_column_bytes(s, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n)) : std::string();
  }

  // Runs a statement that returns no rows (or whose rows are ignored).
  result<void> run(sqlite3_stmt* s, std::string_view what) {
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) return fail(what);
    return {};
  }

  // A write transaction. BEGIN IMMEDIATE takes the write lock up front: a deferred transaction
  // that reads first and then writes can fail with SQLITE_BUSY without waiting, when another
  // connection committed in between (its snapshot is stale), whereas IMMEDIATE waits its turn
  // under busy_timeout.
  class transaction {
   public:
    explicit transaction(impl& d) : d_(d) {}
    ~transaction() {
      // Some errors (SQLITE_FULL, SQLITE_IOERR) roll the transaction back on their own, and
      // after one the connection may have been replaced (reopen_after_io_error) or be gone.
      if (active_ && d_.db && !sqlite3_get_autocommit(d_.db.get())) {
        statement_use use(d_.rollback.get());
        sqlite3_step(d_.rollback.get());
      }
    }
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;

    result<void> begin() {
      statement_use use(d_.begin.get());
      if (auto r = d_.run(d_.begin.get(), "begin transaction"); !r) return r;
      active_ = true;
      return {};
    }
    result<void> commit() {
      statement_use use(d_.commit.get());
      if (auto r = d_.run(d_.commit.get(), "commit"); !r) return r;
      active_ = false;
      return {};
    }

   private:
    impl& d_;
    bool active_ = false;
  };

  // For writes whose loss costs nothing (the token count cache): synchronous=NORMAL skips the
  // fsync at commit. Still crash-safe and never corrupting in WAL mode; such a commit becomes
  // durable with the next FULL one (the WAL is fsynced as a whole). Saves ~4 ms per call on a
  // slow disk, on the daemon's only thread.
  class relaxed_sync {
   public:
    explicit relaxed_sync(impl& d) : d_(d) {
      statement_use use(d_.sync_normal.get());
      (void)d_.run(d_.sync_normal.get(), "synchronous = NORMAL");
    }
    ~relaxed_sync() {
      if (!d_.db) return;  // closed after an I/O error; a new connection starts at FULL
      statement_use use(d_.sync_full.get());
      if (!d_.run(d_.sync_full.get(), "synchronous = FULL")) {
        core::log_error(log_tag, std::string("cannot restore synchronous=FULL: ") + sqlite3_errmsg(d_.db.get()));
      }
    }
    relaxed_sync(const relaxed_sync&) = delete;
    relaxed_sync& operator=(const relaxed_sync&) = delete;

   private:
    impl& d_;
  };

  // Brings the file's schema up to conversation_store::schema_version, in one transaction.
  result<void> migrate() {
    transaction tx(*this);
    if (auto r = tx.begin(); !r) return r;
    if (auto r = exec("CREATE TABLE IF NOT EXISTS schema_version ("
                      " version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
        !r) {
      return r;
    }
    auto current = query_text("SELECT COALESCE(MAX(version), 0) FROM schema_version");
    if (!current) return current.error();
    const int version = std::stoi(*current);
    if (version > conversation_store::schema_version) {
      return invalid("the database has schema version " + std::to_string(version) + ", newer than this openclawd's " +
                     std::to_string(conversation_store::schema_version));
    }
    for (int v = version; v < conversation_store::schema_version; ++v) {
      const std::string sql(migrations[static_cast<std::size_t>(v)]);
      if (auto r = exec(sql.c_str()); !r) return r;
      const std::string record = "INSERT INTO schema_version (version, applied_at) VALUES (" + std::to_string(v + 1) +
                                 ", " + std::to_string(now_ms()) + ")";
      if (auto r = exec(record.c_str()); !r) return r;
      core::log_info(log_tag, "database schema migrated to version " + std::to_string(v + 1));
    }
    return tx.commit();
  }

  result<void> prepare_transactions() {
    if (auto r = prepare(begin, "BEGIN IMMEDIATE"); !r) return r;
    if (auto r = prepare(commit, "COMMIT"); !r) return r;
    if (auto r = prepare(sync_normal, "PRAGMA synchronous = NORMAL"); !r) return r;
    if (auto r = prepare(sync_full, "PRAGMA synchronous = FULL"); !r) return r;
    return prepare(rollback, "ROLLBACK");
  }

  result<void> prepare_all() {
    const std::pair<stmt_ptr*, std::string_view> all[] = {
        {&ensure_chat, "INSERT INTO chats (id, created_at) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING"},
        {&bump_seq, "UPDATE chats SET last_seq = last_seq + 1 WHERE id = ?1 RETURNING last_seq"},
        {&insert_turn,
         "INSERT INTO turns (chat_id, seq, role, content, created_at, origin) VALUES (?1, ?2, ?3, ?4, ?5, NULLIF(?6, ''))"},
        {&select_origin, "SELECT seq FROM turns WHERE chat_id = ?1 AND origin = ?2"},
        {&select_by_origin,
         "SELECT t.seq, t.role, t.content, t.created_at, t.seq <= c.summary_covers_up_to_seq, NULL"
         " FROM turns t JOIN chats c ON c.id = t.chat_id WHERE t.chat_id = ?1 AND t.origin = ?2"},
        {&inbox_insert,
         "INSERT INTO inbox (channel, id, chat_id, payload, received_at, state) VALUES (?1, ?2, ?3, ?4, ?5, 'pending')"
         " ON CONFLICT (channel, id) DO NOTHING"},
        {&inbox_select_open,
         "SELECT id, chat_id, payload, received_at, state, reply, parts_sent, uncertain_part FROM inbox"
         " WHERE channel = ?1 AND state <> 'done' ORDER BY id"},
        {&inbox_reply, "UPDATE inbox SET state = 'replying', reply = ?3, uncertain_part = 0"
                       " WHERE channel = ?1 AND id = ?2 AND state = 'pending'"},
        {&inbox_part, "UPDATE inbox SET parts_sent = ?3, uncertain_part = -1 WHERE channel = ?1 AND id = ?2"},
        {&inbox_uncertain, "UPDATE inbox SET uncertain_part = ?3 WHERE channel = ?1 AND id = ?2"},
        {&inbox_finish, "UPDATE inbox SET state = 'done', finished_at = ?3, parts_sent = max(parts_sent, ?4)"
                        " WHERE channel = ?1 AND id = ?2"},
        {&inbox_max, "SELECT COALESCE(MAX(id), 0), count(*) FROM inbox WHERE channel = ?1"},
        {&inbox_prune, "DELETE FROM inbox WHERE channel = ?1 AND state = 'done' AND finished_at < ?2"
                       " AND id < (SELECT MAX(id) FROM inbox WHERE channel = ?1)"},
        {&inbox_has, "SELECT count(*) FROM inbox WHERE channel = ?1 AND id = ?2"},
        // One row changed: not refused on that day yet (a new stranger, or one from an earlier day).
        {&stranger_refuse, "INSERT INTO strangers_refused (channel, user_id, day) VALUES (?1, ?2, ?3)"
                           " ON CONFLICT (channel, user_id) DO UPDATE SET day = excluded.day"
                           " WHERE strangers_refused.day <> excluded.day"},
        {&stranger_forget, "DELETE FROM strangers_refused WHERE channel = ?1 AND day < ?2"},
        {&select_turns_from,
         "SELECT t.seq, t.role, t.content, t.created_at, t.seq <= c.summary_covers_up_to_seq, tc.count, tc2.count"
         " FROM turns t JOIN chats c ON c.id = t.chat_id"
         " LEFT JOIN token_counts tc ON tc.turn_id = t.id AND tc.model_key = ?3"
         " LEFT JOIN token_counts tc2 ON tc2.turn_id = t.id AND tc2.model_key = ?4"
         " WHERE t.chat_id = ?1 AND t.seq >= ?2 ORDER BY t.seq"},
        {&select_recent,
         "SELECT t.seq, t.role, t.content, t.created_at, t.seq <= c.summary_covers_up_to_seq, tc.count"
         " FROM turns t JOIN chats c ON c.id = t.chat_id"
         " LEFT JOIN token_counts tc ON tc.turn_id = t.id AND tc.model_key = ?3"
         " WHERE t.chat_id = ?1 ORDER BY t.seq DESC LIMIT ?2"},
        {&select_chat,
         "SELECT created_at, summary, summary_tokens, summary_covers_up_to_seq, last_seq FROM chats WHERE id = ?1"},
        // An index scan over the whole chat: kept out of select_chat, which runs with every message.
        {&count_turns, "SELECT count(*) FROM turns WHERE chat_id = ?1"},
        {&chat_last_seq, "SELECT last_seq FROM chats WHERE id = ?1"},
        {&update_summary,
         "UPDATE chats SET summary = ?2, summary_tokens = ?3, summary_covers_up_to_seq = ?4 WHERE id = ?1"},
        {&delete_turns, "DELETE FROM turns WHERE chat_id = ?1"},
        {&clear_summary,
         "UPDATE chats SET summary = '', summary_tokens = 0, summary_covers_up_to_seq = 0 WHERE id = ?1"},
        // The WHERE is required: without one, SQLite cannot tell an upsert's ON from a join's.
        {&upsert_count,
         "INSERT INTO token_counts (turn_id, model_key, count)"
         " SELECT id, ?3, ?4 FROM turns WHERE chat_id = ?1 AND seq = ?2"
         " ON CONFLICT (turn_id, model_key) DO UPDATE SET count = excluded.count"},
        {&select_count,
         "SELECT tc.count FROM token_counts tc JOIN turns t ON t.id = tc.turn_id"
         " WHERE t.chat_id = ?1 AND t.seq = ?2 AND tc.model_key = ?3"},
        {&delete_counts_for_model, "DELETE FROM token_counts WHERE model_key = ?1"},
    };
    for (const auto& [slot, sql] : all) {
      if (auto r = prepare(*slot, sql); !r) return r;
    }
    return {};
  }

  // Opens the file and readies the connection: WAL, durability, schema, statements.
  result<void> connect();

  void disconnect() {
    for (auto* st : statements()) st->reset();
    db.reset();  // sqlite3_close_v2: with every statement finalized, the file is really closed
  }

  // Before each call: the connection, opened again if a reopen after an I/O error failed.
  result<void> usable() {
    if (db) return {};
    if (auto r = connect(); !r) {
      disconnect();
      last_error = "the database is not open (" + last_error + ")";
      return r.error();
    }
    core::log_info(log_tag, "opened " + path.string() + " again");
    return {};
  }

  // After a failed commit (explicit, or a statement's own in autocommit mode). Not an I/O
  // error: SQLite rolled the write back and the connection is sound; false. An I/O error
  // (SQLITE_IOERR_*, SQLITE_FULL): the write may be in the file though this connection does not
  // show it, so the connection is closed and the file opened again (see the header), and the
  // caller reads back what it wrote; true, with `db` null when the file could not be opened.
  // The caller must hold no statement_use: every statement is finalized here.
  bool reopen_after_io_error() {
    const int primary = last_rc & 0xff;
    if (primary != SQLITE_IOERR && primary != SQLITE_FULL) return false;
    const std::string failure = last_error;
    core::log_warn(log_tag, failure + "; opening " + path.string() + " again to see what it holds");
    disconnect();
    if (auto r = connect(); !r) {
      const std::string why = last_error;
      disconnect();
      last_error = failure + "; cannot open the database again (" + why + "): the write may have been kept";
      core::log_error(log_tag, last_error);
      return true;
    }
    last_error = failure;
    return true;
  }

  // For a write that is not read back: store_uncertain after an I/O error, else `ec`.
  boost::system::error_code commit_failed(boost::system::error_code ec) {
    if (!reopen_after_io_error()) return ec;
    if (db) last_error += "; the database was opened again, and the write may or may not be in it";
    return make_error_code(errc::store_uncertain);
  }

  // The seq of the turn append_turn() tried to store (see there), if the file holds it.
  result<std::optional<std::int64_t>> find_turn(std::string_view chat_id, std::int64_t seq, turn_role role,
                                                std::string_view content, std::string_view origin) {
    if (!origin.empty()) {
      statement_use use(select_origin.get());
      if (!bind_all(select_origin.get(), chat_id, origin)) return fail("bind");
      const int rc = sqlite3_step(select_origin.get());
      if (rc == SQLITE_ROW) return std::optional<std::int64_t>(sqlite3_column_int64(select_origin.get(), 0));
      if (rc != SQLITE_DONE) return fail("find origin");
      return std::optional<std::int64_t>();
    }
    statement_use use(select_turns_from.get());
    if (!bind_all(select_turns_from.get(), chat_id, seq, std::string_view(), std::string_view())) return fail("bind");
    auto from = read_turns(select_turns_from.get());
    if (!from) return from.error();
    if (!from->empty() && from->front().seq == seq && from->front().role == role && from->front().content == content)
      return std::optional<std::int64_t>(seq);
    return std::optional<std::int64_t>();
  }

  result<std::vector<turn>> read_turns(sqlite3_stmt* s) {
    std::vector<turn> out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      turn t;
      t.seq = sqlite3_column_int64(s, 0);
      const auto role = parse_turn_role(column_text(s, 1));
      if (!role) return invalid("a stored turn has an unknown role");
      t.role = *role;
      t.content = column_text(s, 2);
      t.created_at_ms = sqlite3_column_int64(s, 3);
      t.covered_by_summary = sqlite3_column_int(s, 4) != 0;
      if (sqlite3_column_type(s, 5) != SQLITE_NULL) t.tokens = sqlite3_column_int64(s, 5);
      if (sqlite3_column_count(s) > 6 && sqlite3_column_type(s, 6) != SQLITE_NULL)
        t.also_tokens = sqlite3_column_int64(s, 6);
      out.push_back(std::move(t));
    }
    if (rc != SQLITE_DONE) return fail("read turns");
    return out;
  }

  result<void> upsert_one(std::string_view chat_id, std::int64_t seq, std::string_view model_key, std::int64_t count) {
    if (model_key.empty()) return invalid("token count without a model key");
    if (count < 0) return invalid("negative token count");
    statement_use use(upsert_count.get());
    if (!bind_all(upsert_count.get(), chat_id, seq, model_key, count)) return fail("bind");
    if (auto r = run(upsert_count.get(), "cache token count"); !r) return r;
    if (sqlite3_changes(db.get()) != 1) {
      return invalid("no turn " + std::to_string(seq) + " in chat " + std::string(chat_id));
    }
    return {};
  }
};

conversation_store::conversation_store(std::unique_ptr<impl> p) : p_(std::move(p)) {}
conversation_store::conversation_store(conversation_store&&) noexcept = default;
conversation_store& conversation_store::operator=(conversation_store&&) noexcept = default;
conversation_store::~conversation_store() = default;

const std::string& conversation_store::last_error() const noexcept { return p_->last_error; }

result<void> conversation_store::impl::connect() {
  sqlite3* raw = nullptr;
  // NOMUTEX: the connection is only ever used from the daemon's one thread.
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 options.vfs.empty() ? nullptr : options.vfs.c_str());
  db.reset(raw);  // sqlite3_open_v2 returns a handle even on failure; it must be closed
  if (rc != SQLITE_OK) return fail("sqlite3_open_v2");
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(options.busy_timeout.count(), 0,
                                                                                         INT_MAX)));

  // Conversations are private: owner-only, before the -wal and -shm files are created (SQLite
  // gives them the database file's permissions).
  std::error_code ignored;
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::replace, ignored);

  auto mode = query_text("PRAGMA journal_mode = WAL");
  if (!mode) return mode.error();
  if (*mode != "wal") {
    // e.g. a file system without shared memory support: refuse rather than run without WAL.
    return invalid("journal_mode is \"" + *mode + "\", not \"wal\"");
  }
  // Durability. In WAL mode synchronous=NORMAL already survives a crash of the *process* (a
  // commit is in the OS's page cache once written) and never corrupts the file; but a power cut
  // or kernel panic can roll back the last commits, and a rolled-back commit here is a user's
  // message that append_turn() already acknowledged. FULL fsyncs the WAL at every commit, which
  // closes that gap. The price is one fsync per write on the daemon's thread: ~4 ms on the
  // build VM's virtual disk (NORMAL: ~50 us); not measured on macOS, where F_FULLFSYNC costs
  // more. A few per chat message, next to seconds of model time. Cache-only writes opt out
  // (relaxed_sync).
  if (auto r = exec("PRAGMA synchronous = FULL"); !r) return r.error();
#ifdef __APPLE__
  // On macOS fsync() does not flush the drive's cache; F_FULLFSYNC does.
  if (auto r = exec("PRAGMA fullfsync = ON; PRAGMA checkpoint_fullfsync = ON"); !r) return r.error();
#endif
  if (auto r = exec("PRAGMA foreign_keys = ON"); !r) return r.error();
  // SQLite's own page cache (default 2 MiB) on top of the OS's: the hot pages are a chat's
  // recent turns and the inbox's newest rows, a few hundred KiB. A smaller cache keeps the
  // daemon's memory flat as the file grows; misses are reads from the OS page cache.
  if (auto r = exec("PRAGMA cache_size = -512"); !r) return r.error();
  // Schema-defined functions and views from a tampered file cannot run with our privileges.
  if (auto r = exec("PRAGMA trusted_schema = OFF"); !r) return r.error();
  if (auto r = prepare_transactions(); !r) return r.error();
  if (auto r = migrate(); !r) return r.error();
  if (auto r = prepare_all(); !r) return r.error();
  return {};
}

result<conversation_store> conversation_store::open(const std::filesystem::path& path, store_options options) {
  auto p = std::make_unique<impl>();
  p->path = path;
  p->options = std::move(options);
  if (auto r = p->connect(); !r) {
    core::log_error(log_tag, "cannot open " + path.string() + ": " + p->last_error);
    return r.error();
  }
  return conversation_store(std::move(p));
}

result<std::int64_t> conversation_store::append_turn(std::string_view chat_id, turn_role role,
                                                     std::string_view content, std::string_view origin,
                                                     durability when) {
  if (auto live = p_->usable(); !live) return live.error();
  auto& d = *p_;
  if (chat_id.empty()) return d.invalid("empty chat id");
  std::optional<impl::relaxed_sync> relaxed;
  if (when == durability::deferred) relaxed.emplace(d);
  impl::transaction tx(d);
  if (auto r = tx.begin(); !r) return r.error();
  if (!origin.empty()) {  // already stored (a message handled again after a crash): same seq
    statement_use use(d.select_origin.get());
    if (!d.bind_all(d.select_origin.get(), chat_id, origin)) return d.fail("bind");
    const int rc = sqlite3_step(d.select_origin.get());
    if (rc == SQLITE_ROW) return sqlite3_column_int64(d.select_origin.get(), 0);
    if (rc != SQLITE_DONE) return d.fail("find origin");
  }
  const std::int64_t now = now_ms();
  {
    statement_use use(d.ensure_chat.get());
    if (!d.bind_all(d.ensure_chat.get(), chat_id, now)) return d.fail("bind");
    if (auto r = d.run(d.ensure_chat.get(), "create chat"); !r) return r.error();
  }
  std::int64_t seq = 0;
  {
    statement_use use(d.bump_seq.get());
    if (!d.bind_all(d.bump_seq.get(), chat_id)) return d.fail("bind");
    if (sqlite3_step(d.bump_seq.get()) != SQLITE_ROW) return d.fail("next seq");
    seq = sqlite3_column_int64(d.bump_seq.get(), 0);
    if (auto r = d.run(d.bump_seq.get(), "next seq"); !r) return r.error();
  }
  {
    statement_use use(d.insert_turn.get());
    if (!d.bind_all(d.insert_turn.get(), chat_id, seq, to_string(role), content, now, origin)) return d.fail("bind");
    if (auto r = d.run(d.insert_turn.get(), "insert turn"); !r) return r.error();
  }
  if (auto r = tx.commit(); !r) {
    if (!d.reopen_after_io_error()) return r.error();
    if (!d.db) return make_error_code(errc::store_uncertain);
    // The reopened file shows what it holds, and will hold: the turn is in it, or it is not.
    // By origin when there is one; else by its seq (never given twice, so a turn stored at it
    // with this role and content is this one).
    const std::string failure = d.last_error;
    auto kept = d.find_turn(chat_id, seq, role, content, origin);
    if (!kept) {
      d.last_error = failure + "; cannot read the database again (" + d.last_error + "): the turn may have been kept";
      return make_error_code(errc::store_uncertain);
    }
    if (*kept) {
      core::log_warn(log_tag, "the turn whose commit failed (" + failure + ") is in the database after all: kept");
      return **kept;
    }
    d.last_error = failure + "; the turn is not in the database (not saved)";
    core::log_warn(log_tag, d.last_error);
    return make_error_code(errc::store_failed);
  }
  return seq;
}

result<std::vector<turn>> conversation_store::turns(std::string_view chat_id, std::int64_t from_seq,
                                                    std::string_view model_key, std::string_view also_model_key) {
  if (auto live = p_->usable(); !live) return live.error();
  auto& d = *p_;
  statement_use use(d.select_turns_from.get());
  if (!d.bind_all(d.select_turns_from.get(), chat_id, from_seq, model_key, also_model_key)) return d.fail("bind");
  return d.read_turns(d.select_turns_from.get());
}

result<std::vector<turn>> conversation_store::recent_turns(std::string_view chat_id, std::size_t limit,
                                                           std::string_view model_key) {
  if (auto live = p_->usable(); !live) return live.error();
  auto& d = *p_;
  const auto n = static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX));
  statement_use use(d.select_recent.get());
  if (!d.bind_all(d.select_recent.get(), chat_id, n, model_key)) return d.fail("bind");
  auto out = d.read_turns(d.select_recent.get());
  if (out) std::reverse(out->begin(), out->end());
  return out;
}

result<chat_info> conversation_store::chat(std::string_view chat_id) {
  if (auto live = p_->usable(); !live) return live.error();
  auto& d = *p_;
  chat_info info;
  info.id = std::string(chat_id);
  statement_use use(d.select_chat.get());
  if (!d.bind_all(d.select_chat.get(), chat_id)) return d.fail("bind");
  const int rc = sqlite3_step(d.select_chat.get());
  if (rc == SQLITE_DONE) return info;
  if (rc != SQLITE_ROW) return d.fail("read chat");
  sqlite3_stmt* s = d.select_chat.get();
  info.exists = true;
  info.created_at_ms = sqlite3_column_int64(s, 0);
  info.summary = impl::column_text(s, 1);
  info.summary_tokens = sqlite3_column_int64(s, 2);
  info.summary_covers_up_to_seq = sqlite3_column_int64(s, 3);
  info.last_seq = sqlite3_column_int64(s, 4);
  return info;
}

result<std::int64_t> conversation_store::turn_count(std::string_view chat_id) {
  if (auto live = p_->usable(); !live) return live.error();
  auto& d = *p_;
  statement_use use(d.count_turns.get());
  if (!d.bind_all(d.count_turns.get(), chat_id)) return d.fail("bind");
  if (sqlite3_step(d.count_turns.get()) != SQLITE_ROW) return d.fail("count turns");
  return sqlite3_column_int64(d.count_turns.get(), 0);
}

result<void> conversation_store::set_summary(std::string_view chat_id, std::string_view text, std::int64_t tokens,
                                             std::int64_t covers_up_to_seq) {
  if (auto live = p_->usable(); !live) return live.error();
  auto& d = *p_;
  if (tokens < 0) return d.invalid("negative summary token count");
  impl::transaction tx(d);
  if (auto r = tx.begin(); !r) return r;
  std::int64_t last_seq = 0;
  {
    statement_use use(d.chat_last_seq.get());
    if (!d.bind_all(d.chat_last_seq.get(), chat_id)) return d.fail("bind");
    const int rc = sqlite3_step(d.chat_last_seq.get());
    if (rc == SQLITE_DONE) return d.invalid("no chat " + std::string(chat_id));
    if (rc != SQLITE_ROW) return d.fail("read chat");
    last_seq = sqlite3_column_int64(d.chat_last_seq.get(), 0);
  }
  if (covers_up_to_seq < 0 || covers_up_to_seq > last_seq) {
    return d.invalid("summary covers turn " + std::to_string(covers_up_to_seq) + " but chat " + std::string(chat_id) +
                     " ends at " + std::to_string(last_seq));
  }
  {
    statement_use use(d.update_summary.get());
    if (!d.bind_all(d.update_summary.get(), chat_id, text, tokens, covers_up_to_seq)) return d.fail("bind");
    if (auto r = d.run(d.update_summary.get(), "update summary"); !r) return r;
  }
  if (auto r = tx.commit(); !r) return d.commit_failed(r.error());
  return {};
}

result<void> conversation_store::reset(std::string_view chat_id) {
  if (auto live = p_->usable(); !live) return live.error();
  auto& d = *p_;
  impl::transaction tx(d);
  if (auto r = tx.begin(); !r) return r;
  {
    statement_use use(d.delete_turns.get());
    if (!d.bind_all(d.delete_turns.get(), chat_id)) return d.fail("bind");
    if (auto r = d.run(d.delete_turns.get(), "delete turns"); !r) return r;
  }
  {
    statement_use use(d.clear_summary.get());
    if (!d.bind_all(d.clear_summary.get(), chat_id)) return d.fail("bind");
    if (auto r = d.run(d.clear_summary.get(), "clear summary"); !r) return r;
  }
  if (auto r = tx.commit(); !r) return d.commit_failed(r.error());
  return {};
}

result<void> conversation_store::cache_token_count(std::string_view chat_id, std::int64_t seq,
                                                   std::string_view model_key, std::int64_t count) {
  const std::pair<std::int64_t, std::int64_t> one[] = {{seq, count}};
  return cache_token_counts(chat_id, model_key, one);
}

result<void> conversation_store::cache_token_counts(std::string_view chat_id, std::string_view model_key,
                                                    std::span<const std::pair<std::int64_t, std::int64_t>> seq_counts) {
  if (auto live = p_->usable(); !live) return live.error();
  auto& d = *p_;
  impl::relaxed_sync relaxed(d);  // a cache
  impl::transaction tx(d);
  if (auto r = tx.begin(); !r) return r;
  for (const auto& [seq, count] : seq_counts) {
    if (auto r = d.upsert_one(chat_id, seq, model_key, count); !r) return r;
  }
  if (auto r = tx.commit(); !r) return d.commit_failed(r.error());
  return {};
}

result<std::optional<std::int64_t>> conversation_store::token_count(std::string_view chat_id, std::int64_t seq,
                                                                    std::string_view model_key) {
  if (auto live = p_->usable(); !live) return live.error();
  auto& d = *p_;
  statement_use use(d.select_count.get());
  if (!d.bind_all(d.select_count.get(), chat_id, seq, model_key)) return d.fail("bind");
  const int rc = sqlite3_step(d.select_count.get());
  if (rc == SQLITE_DONE) return std::optional<std::int64_t>();
  if (rc != SQLITE_ROW) return d.fail("read token count");
  return std::optional<std::int64_t>(sqlite3_column_int64(d.select_count.get(), 0));
}

result<void> conversation_store::drop_token_counts(std::string_view model_key) {
  if (auto live = p_->usable(); !live) return live.error();
  auto& d = *p_;
  impl::relaxed_sync relaxed(d);  // a cache
  impl::transaction tx(d);
  if (auto r = tx.begin(); !r) return r;
  {
    statement_use use(d.delete_counts_for_model.get());
    if (!d.bind_all(d.delete_counts_for_model.get(), model_key)) return d.fail("bind");
    if (auto r = d.run(d.delete_counts_for_model.get(), "drop token counts"); !r) return r;
  }
  if (auto r = tx.commit(); !r) return d.commit_failed(r.error());
  return {};
}

result<std::optional<turn>> conversation_store::turn_by_origin(std::string_view chat_id, std::string_view origin) {
  if (auto live = p_->usable(); !live) return live.error();
  auto& d = *p_;
  statement_use use(d.select_by_origin.get());
  if (!d.bind_all(d.select_by_origin.get(), chat_id, origin)) return d.fail("bind");
  auto found = d.read_turns(d.select_by_origin.get());
  if (!found) return found.error();
  if (found->empty()) return std::optional<turn>();
  return std::optional<turn>(std::move(found->front()));
}

std::string_view to_string(inbox_state s) noexcept {
  switch (s) {
    case inbox_state::pending: return "pending";
    case inbox_state::replying: return "replying";
    case inbox_state::done: return "done";
  }
  return "pending";
}

result<std::vector<std::int64_t>> conversation_store::inbox_add(std::string_view channel,
                                                                 std::span<const inbox_entry> entries,
                                                                 durability when) {
  if (auto live = p_->usable(); !live) return live.error();
  auto& d = *p_;
  if (channel.empty()) return d.invalid("empty channel");
  std::optional<impl::relaxed_sync> relaxed;  // the caller syncs the log itself (log_syncer)
  if (when == durability::deferred) relaxed.emplace(d);
  impl::transaction tx(d);
  if (auto r = tx.begin(); !r) return r.error();
  const std::int64_t now = now_ms();
  std::vector<std::int64_t> added;
  for (const auto& e : entries) {
    statement_use use(d.inbox_insert.get());
    if (!d.bind_all(d.inbox_insert.get(), channel, e.id, e.chat_id, e.payload, now)) return d.fail("bind");
    if (auto r = d.run(d.inbox_insert.get(), "inbox insert"); !r) return r.error();
    if (sqlite3_changes(d.db.get()) == 1) added.push_back(e.id);
  }
  if (auto r = tx.commit(); !r) {
    if (!d.reopen_after_io_error() || added.empty()) return r.error();  // nothing new: nothing to look for
    if (!d.db) return make_error_code(errc::store_uncertain);
    // One transaction: all of `added` is in the reopened file, or none of it.
    const std::string failure = d.last_error;
    statement_use use(d.inbox_has.get());
    if (!d.bind_all(d.inbox_has.get(), channel, added.front()) || sqlite3_step(d.inbox_has.get()) != SQLITE_ROW) {
      d.last_error = failure + "; cannot read the database again: the updates may have been kept";
      return make_error_code(errc::store_uncertain);
    }
    if (sqlite3_column_int64(d.inbox_has.get(), 0) == 1) {
      core::log_warn(log_tag, "the inbox entries whose commit failed (" + failure + ") are in the database after all: kept");
      return added;
    }
    d.last_error = failure + "; the entries are not in the database (not saved)";
    return make_error_code(errc::store_failed);
  }
  return added;
}

std::filesystem::path conversation_store::log_path() const {
  if (!p_->db) return p_->path.string() + "-wal";  // closed after an I/O error: the same file
  const char* db = sqlite3_db_filename(p_->db.get(), "main");
  if (db == nullptr || *db == '\0') return {};  // a temporary database has no files
  return sqlite3_filename_wal(db);
}

result<std::vector<inbox_item>> conversation_store::inbox_open(std::string_view channel) {
  if (auto live = p_->usable(); !live) return live.error();
  auto& d = *p_;
  statement_use use(d.inbox_select_open.get());
  if (!d.bind_all(d.inbox_select_open.get(), channel)) return d.fail("bind");
  std::vector<inbox_item> out;
  sqlite3_stmt* s = d.inbox_select_open.get();
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    inbox_item it;
    it.id = sqlite3_column_int64(s, 0);
    it.chat_id = impl::column_text(s, 1);
    it.payload = impl::column_text(s, 2);
    it.received_at_ms = sqlite3_column_int64(s, 3);
    it.state = impl::column_text(s, 4) == "replying" ? inbox_state::replying : inbox_state::pending;
    it.reply = impl::column_text(s, 5);
    it.parts_sent = sqlite3_column_int(s, 6);
    it.uncertain_part = sqlite3_column_int(s, 7);
    out.push_back(std::move(it));
  }
  if (rc != SQLITE_DONE) return d.fail("read inbox");
  return out;
}

namespace {
// One UPDATE in autocommit mode: the statement's step is its commit. `which` names the
// statement, looked up only once the connection is usable (it may be a new one).
template <class... Args>
result<void> inbox_update(conversation_store::impl& d, durability when, stmt_ptr conversation_store::impl::*which,
                          std::string_view what, const Args&... args) {
  if (auto live = d.usable(); !live) return live.error();
  std::optional<conversation_store::impl::relaxed_sync> relaxed;  // progress marks: see the header
  if (when == durability::deferred) relaxed.emplace(d);
  int changes = -1;  // -1: the step (its commit) failed
  {
    sqlite3_stmt* s = (d.*which).get();
    statement_use use(s);
    if (!d.bind_all(s, args...)) return d.fail("bind");
    if (d.run(s, what)) changes = sqlite3_changes(d.db.get());
  }
  // Outside `use`: after an I/O error commit_failed() finalizes every statement and reopens.
  if (changes < 0) return d.commit_failed(make_error_code(errc::store_failed));
  if (changes != 1) return d.invalid(std::string(what) + ": no such open inbox entry");
  return {};
}
}  // namespace

result<void> conversation_store::inbox_set_reply(std::string_view channel, std::int64_t id, std::string_view reply) {
  return inbox_update(*p_, durability::now, &impl::inbox_reply, "inbox reply", channel, id, reply);
}

result<void> conversation_store::inbox_parts_sent(std::string_view channel, std::int64_t id, int parts) {
  return inbox_update(*p_, durability::deferred, &impl::inbox_part, "inbox part", channel, id,
                      static_cast<std::int64_t>(parts));
}

result<void> conversation_store::inbox_part_uncertain(std::string_view channel, std::int64_t id, int part) {
  return inbox_update(*p_, durability::now, &impl::inbox_uncertain, "inbox uncertain", channel, id,
                      static_cast<std::int64_t>(part));
}

result<void> conversation_store::inbox_done(std::string_view channel, std::int64_t id, int parts_sent) {
  return inbox_update(*p_, durability::deferred, &impl::inbox_finish, "inbox done", channel, id, now_ms(),
                      static_cast<std::int64_t>(parts_sent));
}

result<inbox_summary> conversation_store::inbox_summary_of(std::string_view channel) {
  if (auto live = p_->usable(); !live) return live.error();
  auto& d = *p_;
  statement_use use(d.inbox_max.get());
  if (!d.bind_all(d.inbox_max.get(), channel)) return d.fail("bind");
  if (sqlite3_step(d.inbox_max.get()) != SQLITE_ROW) return d.fail("inbox max");
  return inbox_summary{sqlite3_column_int64(d.inbox_max.get(), 0), sqlite3_column_int64(d.inbox_max.get(), 1)};
}

result<void> conversation_store::inbox_prune(std::string_view channel, std::chrono::milliseconds keep) {
  if (auto live = p_->usable(); !live) return live.error();
  auto& d = *p_;
  {
    statement_use use(d.inbox_prune.get());
    if (!d.bind_all(d.inbox_prune.get(), channel, now_ms() - keep.count())) return d.fail("bind");
    auto r = d.run(d.inbox_prune.get(), "inbox prune");
    if (r) return r;
  }
  return d.commit_failed(make_error_code(errc::store_failed));  // outside `use`: it may reopen
}

result<store_diagnostics> conversation_store::diagnostics() {
  if (auto live = p_->usable(); !live) return live.error();
  auto& d = *p_;
  store_diagnostics out;
  auto mode = d.query_text("PRAGMA journal_mode");
  if (!mode) return mode.error();
  out.journal_mode = *mode;
  auto sync = d.query_text("PRAGMA synchronous");
  if (!sync) return sync.error();
  out.synchronous = std::stoi(*sync);
  auto fk = d.query_text("PRAGMA foreign_keys");
  if (!fk) return fk.error();
  out.foreign_keys = *fk == "1";
  auto version = d.query_text("SELECT COALESCE(MAX(version), 0) FROM schema_version");
  if (!version) return version.error();
  out.schema_version = std::stoi(*version);
  out.sqlite_version = sqlite3_libversion();
  return out;
}

result<bool> conversation_store::stranger_refusal_due(std::string_view channel, std::int64_t user_id,
                                                      std::int64_t day) {
  // (result<bool> from an error_code must be spelled out: an error_code converts to bool too.)
  const auto error = [](boost::system::error_code ec) { return result<bool>(boost::system::in_place_error, ec); };
  if (auto live = p_->usable(); !live) return error(live.error());
  auto& d = *p_;
  if (channel.empty()) return error(d.invalid("empty channel"));
  // Losing this row to a power cut costs one more refusal: no fsync of its own.
  impl::relaxed_sync relaxed(d);
  int changes = -1;  // -1: the step (its commit) failed
  {
    statement_use use(d.stranger_refuse.get());
    if (!d.bind_all(d.stranger_refuse.get(), channel, user_id, day)) return error(d.fail("bind"));
    if (d.run(d.stranger_refuse.get(), "record refusal")) changes = sqlite3_changes(d.db.get());
  }
  if (changes < 0) return error(d.commit_failed(make_error_code(errc::store_failed)));  // outside `use`
  return result<bool>(changes == 1);
}

result<void> conversation_store::forget_strangers_before(std::string_view channel, std::int64_t day) {
  if (auto live = p_->usable(); !live) return live.error();
  auto& d = *p_;
  impl::relaxed_sync relaxed(d);
  {
    statement_use use(d.stranger_forget.get());
    if (!d.bind_all(d.stranger_forget.get(), channel, day)) return d.fail("bind");
    if (d.run(d.stranger_forget.get(), "forget refusals")) return {};
  }
  return d.commit_failed(make_error_code(errc::store_failed));
}

}  // namespace openclawd::gateway
