#include "tests/support/faulty_vfs.hpp"

#include <sqlite3.h>

#include <cstdlib>
#include <cstring>

namespace openclawd::test {
namespace {

disk_faults the_faults;
sqlite3_vfs* root = nullptr;  // the default VFS this one forwards to
sqlite3_vfs faulty{};

// Each file is this header followed by the real VFS's file object (szOsFile covers both).
struct faulty_file {
  sqlite3_file base;
  sqlite3_file* real;
  bool wal;
  bool fail_after_next_write;  // the next write is a commit frame's page: write it, report failure
};

// SQLite writes a frame of the log as two calls: its 24-byte header, then the page. The header
// of a commit frame carries the database's size in pages after the commit (bytes 4-7, big
// endian), which is 0 in every other frame. Offsets below 32 are the log's own header.
bool commit_frame_header(const void* buf, int n, sqlite3_int64 off) {
  if (n != 24 || off < 32) return false;
  const auto* b = static_cast<const unsigned char*>(buf);
  return (b[4] | b[5] | b[6] | b[7]) != 0;
}

sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<faulty_file*>(f)->real; }

// Takes one from a countdown; true when this call is to fail.
bool take(std::atomic<int>& n) {
  int left = n.load();
  while (left > 0) {
    if (n.compare_exchange_weak(left, left - 1)) return true;
  }
  return false;
}

int x_close(sqlite3_file* f) { return real_of(f)->pMethods->xClose(real_of(f)); }
int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}
int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  auto* ff = reinterpret_cast<faulty_file*>(f);
  if (ff->wal && take(the_faults.wal_writes_to_fail)) {
    ++the_faults.failed;
    return SQLITE_IOERR_WRITE;
  }
  const int rc = real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
  if (rc != SQLITE_OK || !ff->wal) return rc;
  if (ff->fail_after_next_write) {
    ff->fail_after_next_write = false;
    ++the_faults.failed;
    return SQLITE_IOERR_WRITE;
  }
  if (commit_frame_header(buf, n, off) && take(the_faults.commits_to_fail_after_writing))
    ff->fail_after_next_write = true;
  return rc;
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) { return real_of(f)->pMethods->xTruncate(real_of(f), size); }
int x_sync(sqlite3_file* f, int flags) {
  // Like fsync returning EIO: the data may or may not have reached the disk; the kernel keeps
  // it in the page cache either way, so the file reads back what was written.
  if (the_faults.syncs_fail.load() || take(the_faults.syncs_to_fail)) {
    ++the_faults.failed;
    return SQLITE_IOERR_FSYNC;
  }
  return real_of(f)->pMethods->xSync(real_of(f), flags);
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) { return real_of(f)->pMethods->xFileSize(real_of(f), size); }
int x_lock(sqlite3_file* f, int l) { return real_of(f)->pMethods->xLock(real_of(f), l); }
int x_unlock(sqlite3_file* f, int l) { return real_of(f)->pMethods->xUnlock(real_of(f), l); }
int x_check_reserved(sqlite3_file* f, int* out) { return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out); }
int x_file_control(sqlite3_file* f, int op, void* arg) { return real_of(f)->pMethods->xFileControl(real_of(f), op, arg); }
int x_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int x_device_characteristics(sqlite3_file* f) { return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f)); }
int x_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return real_of(f)->pMethods->xShmMap(real_of(f), region, size, extend, out);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
int x_shm_unmap(sqlite3_file* f, int del) { return real_of(f)->pMethods->xShmUnmap(real_of(f), del); }
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  return real_of(f)->pMethods->xFetch(real_of(f), off, n, out);
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) { return real_of(f)->pMethods->xUnfetch(real_of(f), off, p); }

// Version 3 (shared memory for WAL, memory-mapped reads), as the unix VFS's own files.
const sqlite3_io_methods faulty_methods = {
    3,           x_close,        x_read,      x_write,       x_truncate,       x_sync,
    x_file_size, x_lock,         x_unlock,    x_check_reserved, x_file_control, x_sector_size,
    x_device_characteristics, x_shm_map, x_shm_lock, x_shm_barrier, x_shm_unmap, x_fetch, x_unfetch};

int x_open(sqlite3_vfs*, const char* name,  // sqlite3_filename, spelled as older SDKs have it
           sqlite3_file* file, int flags, int* out_flags) {
  auto* f = reinterpret_cast<faulty_file*>(file);
  f->base.pMethods = nullptr;  // SQLite closes only a file whose open succeeded
  f->real = reinterpret_cast<sqlite3_file*>(f + 1);
  f->wal = (flags & SQLITE_OPEN_WAL) != 0;
  f->fail_after_next_write = false;
  if ((flags & SQLITE_OPEN_MAIN_DB) != 0 && the_faults.opens_fail.load()) {
    ++the_faults.failed;
    return SQLITE_CANTOPEN;
  }
  const int rc = root->xOpen(root, name, f->real, flags, out_flags);
  if (rc == SQLITE_OK) f->base.pMethods = &faulty_methods;  // on failure the real one has none either
  return rc;
}

}  // namespace

const char* faulty_vfs() {
  // Registered once; thread-safe as a function-local static.
  static const char* name = [] {
    root = sqlite3_vfs_find(nullptr);
    if (root == nullptr || root->iVersion < 1) std::abort();
    faulty = *root;  // every other method forwards as is (they use no per-VFS state of ours)
    faulty.zName = "openclawd-faulty";
    faulty.szOsFile = static_cast<int>(sizeof(faulty_file)) + root->szOsFile;
    faulty.pNext = nullptr;
    faulty.xOpen = x_open;
    if (sqlite3_vfs_register(&faulty, 0) != SQLITE_OK) std::abort();
    return faulty.zName;
  }();
  return name;
}

disk_faults& faults() { return the_faults; }

}  // namespace openclawd::test
