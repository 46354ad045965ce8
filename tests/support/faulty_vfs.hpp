// A SQLite VFS over the platform's default one that fails disk operations when a test asks:
// fsync (SQLITE_IOERR_FSYNC, what EIO from fsync/fdatasync becomes), writes to the write-ahead
// log (SQLITE_IOERR_WRITE, with or without the bytes landing), or opening the database file
// (SQLITE_CANTOPEN). Deterministic, so a
// test can put a fault on exactly the commit it means, where strace's fault injection hits
// whichever call comes. Open a conversation_store through it with store_options::vfs =
// test::faulty_vfs(). The faults are process-wide atomics (the channel tests run the store on
// an io thread); a test that sets one clears it before it ends (disk_faults::clear()).
#pragma once

#include <atomic>

namespace openclawd::test {

struct disk_faults {
  std::atomic<bool> syncs_fail{false};      // every xSync fails, until cleared
  std::atomic<int> syncs_to_fail{0};        // the next N xSync calls fail
  std::atomic<int> wal_writes_to_fail{0};   // the next N writes to a -wal file fail (nothing written)
  // The next N commits to a -wal file are written whole, and then the write of the commit frame
  // is reported failed (SQLITE_IOERR_WRITE): a write that "failed" yet landed. With fsync
  // failing too, the log keeps those frames, and the next connection to open the file finds the
  // commit there.
  std::atomic<int> commits_to_fail_after_writing{0};
  std::atomic<bool> opens_fail{false};      // opening a main database file fails
  std::atomic<int> failed{0};               // how many calls a fault has failed so far

  void clear() {
    syncs_fail = false;
    syncs_to_fail = 0;
    wal_writes_to_fail = 0;
    commits_to_fail_after_writing = 0;
    opens_fail = false;
  }
};

// Registers the VFS on first use (not as the default) and returns its name.
const char* faulty_vfs();
disk_faults& faults();

}  // namespace openclawd::test
