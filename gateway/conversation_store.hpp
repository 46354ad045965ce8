// Durable per-chat conversation state in SQLite: the turns, the running summary that compaction
// writes, and exact token counts cached per turn and per model. One store (one connection) per
// daemon, owned by the gateway and used only from the daemon's event loop thread (log_syncer
// syncs its write-ahead log from another, through a descriptor of its own). Every call is
// synchronous and short: a few prepared statements (microseconds) plus, for a write, one fsync
// of the WAL; the only longer wait is another process holding the write lock (busy_timeout).
#pragma once

#include "core/error.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace openclawd::gateway {

enum class turn_role { user, assistant, system_note };

// "user", "assistant", "system-note" (as stored).
std::string_view to_string(turn_role role) noexcept;
std::optional<turn_role> parse_turn_role(std::string_view text) noexcept;

struct turn {
  std::int64_t seq = 0;  // 1, 2, 3, ... per chat; never reused, not even after reset()
  turn_role role = turn_role::user;
  std::string content;
  std::int64_t created_at_ms = 0;  // Unix time in milliseconds
  // seq <= the chat's summary_covers_up_to_seq: compaction folded it into the summary. Kept
  // for audit; a prompt uses the summary plus the turns after it.
  bool covered_by_summary = false;
  // The cached token count for the model_key the query asked about, when there is one.
  std::optional<std::int64_t> tokens;
  // The same for the query's also_model_key (turns()): the pipeline reads the history once
  // per message with the counts of both of its models.
  std::optional<std::int64_t> also_tokens;
};

struct chat_info {
  std::string id;
  bool exists = false;  // false: never written (every other field is then zero/empty)
  std::int64_t created_at_ms = 0;
  std::string summary;
  std::int64_t summary_tokens = 0;  // as the caller measured it when it wrote the summary
  std::int64_t summary_covers_up_to_seq = 0;
  std::int64_t last_seq = 0;    // the highest seq ever given in this chat
};

// A channel's received messages (Telegram updates), stored before the channel confirms them
// to their sender, with the reply and how much of it went out. Processing is keyed by the
// channel's own id, so a restart resumes what was unanswered and never answers twice.
enum class inbox_state { pending, replying, done };

// How soon a write must survive a crash of the *machine*. A crash of the daemon never loses a
// committed write (WAL: the commit is in the OS's page cache). `now` fsyncs before the call
// returns. `deferred` skips that fsync: the write reaches the disk with the next `now` write
// (the WAL is synced as a whole and in order), so a power cut can only roll back a suffix of
// deferred writes, never a hole. For callers that make a `now` write before anything leaves
// the machine (the Telegram channel: its inbox entry is synced before the update is
// confirmed, the reply part's mark before it is sent).
enum class durability { now, deferred };
std::string_view to_string(inbox_state s) noexcept;

struct inbox_entry {
  std::int64_t id = 0;   // the channel's id (Telegram's update_id)
  std::string chat_id;   // the conversation it belongs to ("telegram:42"); may be empty
  std::string payload;   // as received (JSON)
};

struct inbox_item : inbox_entry {
  std::int64_t received_at_ms = 0;
  inbox_state state = inbox_state::pending;
  std::string reply;       // opaque to the store: what the channel sends (set with the state `replying`)
  int parts_sent = 0;      // parts of the reply confirmed sent
  // A part whose send failed ambiguously (the request went out, no answer came back): it may
  // have arrived, so it is never sent again. -1: none.
  int uncertain_part = -1;
};

struct inbox_summary {
  std::int64_t max_id = 0;  // the highest id ever stored for the channel (0: none)
  std::int64_t rows = 0;
};

struct store_options {
  // How long a write waits for another connection's lock before failing. Only another process
  // (or a second store on the same file) can hold it; the daemon's own calls never overlap.
  std::chrono::milliseconds busy_timeout{2000};
  // The SQLite VFS to open the file through ("": the default one). Tests pass one that fails
  // fsync or writes on demand (tests/support/faulty_vfs.hpp).
  std::string vfs;
};

// What the connection is actually running with (for `status` and tests).
struct store_diagnostics {
  std::string journal_mode;  // "wal"
  int synchronous = 0;       // 2 = FULL
  bool foreign_keys = false;
  int schema_version = 0;
  std::string sqlite_version;
};

// After an I/O error. A write whose commit fails with an I/O error (a failed fsync of the
// write-ahead log, EIO, a full disk) may still be in the file: SQLite wrote the commit's frames
// before the sync failed, and the next connection to open the file recovers them. The failed
// connection's own view leaves them out, so its answer ("not saved") and a restart's ("saved")
// can differ. So the store then closes its connection and opens the file again: the new view
// is what the file holds, and what a restart of the daemon will hold (a crash of the machine
// can still lose what a failed fsync did not write). append_turn() and inbox_add() then read
// back what they wrote (by origin or seq; by update id) and answer saved or not saved, whichever
// is true. Every other write answers store_uncertain, as does any write when the file cannot be
// opened again (each later call tries again to open it).
class conversation_store {
 public:
  // The newest schema version this code knows (and migrates older files to).
  static constexpr int schema_version = 3;

  // Opens (creating if needed) the database file, switches it to WAL and migrates its schema.
  // A file written by a newer openclawd (a higher schema version) is refused. Failures return
  // errc::store_failed and log the reason.
  static result<conversation_store> open(const std::filesystem::path& path, store_options options = {});

  conversation_store(conversation_store&&) noexcept;
  conversation_store& operator=(conversation_store&&) noexcept;
  conversation_store(const conversation_store&) = delete;
  conversation_store& operator=(const conversation_store&) = delete;
  ~conversation_store();

  // Appends a turn (creating the chat on first use) and returns its seq. Once this returns, the
  // turn survives a crash of the daemon, and with durability::now (the default) one of the
  // machine too.
  // With an `origin` (the channel's id of the message, e.g. "telegram:815"), a turn already
  // stored with that origin is not stored again: its seq is returned.
  // After an I/O error at commit (see "After an I/O error" above): the seq when the reopened
  // file holds the turn after all, store_failed when it does not (sending it again stores it
  // once), store_uncertain when the file cannot be read again.
  result<std::int64_t> append_turn(std::string_view chat_id, turn_role role, std::string_view content,
                                   std::string_view origin = {}, durability when = durability::now);
  // The turn stored with this origin, if any.
  result<std::optional<turn>> turn_by_origin(std::string_view chat_id, std::string_view origin);

  // Turns with seq >= from_seq, oldest first. With a model_key, each turn carries its cached
  // token count for that model (when cached), and with an also_model_key the count for that
  // one too (turn::also_tokens).
  result<std::vector<turn>> turns(std::string_view chat_id, std::int64_t from_seq = 1,
                                  std::string_view model_key = {}, std::string_view also_model_key = {});
  // The last `limit` turns, oldest first.
  result<std::vector<turn>> recent_turns(std::string_view chat_id, std::size_t limit,
                                         std::string_view model_key = {});
  // A chat's summary and counters; a chat never written answers exists = false, not an error.
  // Cheap (one row by key): the pipeline reads it with every message.
  result<chat_info> chat(std::string_view chat_id);
  // The turns stored now, covered ones included (an index scan over the chat).
  result<std::int64_t> turn_count(std::string_view chat_id);

  // Records a compaction: `text` summarizes every turn up to covers_up_to_seq (which must be
  // between 0 and the chat's last seq). Covered turns stay in the table, flagged.
  result<void> set_summary(std::string_view chat_id, std::string_view text, std::int64_t tokens,
                           std::int64_t covers_up_to_seq);

  // The /reset command: deletes the chat's turns, their token counts and its summary in one
  // transaction. Seqs keep counting from where they were, so a late answer to a turn from
  // before the reset can be recognized (its seq is below the chat's first turn).
  result<void> reset(std::string_view chat_id);

  // Token counts are exact counts from a node's /tokenize, keyed by the identity of the model
  // that counted them (e.g. its GGUF path and size): another model, another key, so a model
  // switch never reuses stale counts. A cache: losing one only costs a /tokenize call.
  result<void> cache_token_count(std::string_view chat_id, std::int64_t seq, std::string_view model_key,
                                 std::int64_t count);
  // Many at once (one transaction, one fsync): pairs of {seq, count}.
  result<void> cache_token_counts(std::string_view chat_id, std::string_view model_key,
                                  std::span<const std::pair<std::int64_t, std::int64_t>> seq_counts);
  result<std::optional<std::int64_t>> token_count(std::string_view chat_id, std::int64_t seq,
                                                  std::string_view model_key);
  // Forgets every count cached for a model (after it was replaced for good).
  result<void> drop_token_counts(std::string_view model_key);

  // The inbox (one transaction, one fsync per batch; with durability::deferred none, and the
  // caller makes the batch durable with a log_syncer before it confirms the updates to their
  // sender). Returns the ids that were new: an id already stored (delivered twice) is ignored. The marks made right before a part is sent
  // sync: inbox_set_reply() (the reply, with its first part marked in flight) and
  // inbox_part_uncertain() (each later part). So even after a power cut a part that may have
  // gone out is never sent again, and everything written before (the turns, the reply) is on
  // disk before the user sees any of it. The other progress marks are durability::deferred
  // (a power cut can only make the channel redo a step).
  // After an I/O error at commit the entries are read back: the new ids when the reopened file
  // holds them after all, else store_failed (or store_uncertain: the file cannot be read).
  result<std::vector<std::int64_t>> inbox_add(std::string_view channel, std::span<const inbox_entry> entries,
                                              durability when = durability::now);
  // Entries not done yet, oldest id first.
  result<std::vector<inbox_item>> inbox_open(std::string_view channel);
  // pending -> replying, with part 0 marked uncertain (about to be sent), in one synced transaction.
  result<void> inbox_set_reply(std::string_view channel, std::int64_t id, std::string_view reply);
  result<void> inbox_parts_sent(std::string_view channel, std::int64_t id, int parts);
  result<void> inbox_part_uncertain(std::string_view channel, std::int64_t id, int part);
  // Done, with `parts_sent` recorded in the same transaction (never lowered).
  result<void> inbox_done(std::string_view channel, std::int64_t id, int parts_sent = 0);
  result<inbox_summary> inbox_summary_of(std::string_view channel);
  // Forgets done entries finished more than `keep` ago (the newest entry always stays: it
  // remembers the channel's last id across restarts).
  result<void> inbox_prune(std::string_view channel, std::chrono::milliseconds keep);

  // A channel's strangers (users not on its allowlist) are refused at most once a day, and the
  // memory of it outlives restarts. True when `user_id` was not refused on `day` (days since the
  // Unix epoch, UTC) yet: the refusal is due, and now recorded. Without an fsync of its own (a
  // power cut can cost one more refusal).
  result<bool> stranger_refusal_due(std::string_view channel, std::int64_t user_id, std::int64_t day);
  // Forgets the refusals of days before `day` (a stranger refused then is due again anyway).
  result<void> forget_strangers_before(std::string_view channel, std::int64_t day);

  result<store_diagnostics> diagnostics();
  // The write-ahead log ("<database>-wal"): syncing it makes every commit so far durable.
  std::filesystem::path log_path() const;

  struct impl;

  // The SQLite message (or the violated precondition) behind the last store_failed.
  const std::string& last_error() const noexcept;

 private:
  explicit conversation_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

}  // namespace openclawd::gateway
