// An append-only log file rotated by size: when a write would grow `node.log` past
// max_bytes, it becomes node.log.1 (node.log.1 → .2, …, up to `keep`) and a fresh
// node.log is started. Owned by one model_process; single-threaded.
// Writes are whole lines where possible so a rotation never splits one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

namespace openclawd::supervisor {

class rotating_log {
 public:
  rotating_log(std::filesystem::path path, std::uint64_t max_bytes, int keep);
  ~rotating_log();
  rotating_log(const rotating_log&) = delete;
  rotating_log& operator=(const rotating_log&) = delete;

  // Appends `data`. A write error (disk full) is counted, never thrown: losing a log
  // line must not take a model server down.
  void write(std::string_view data);

  // New limits (a reload); the next write that passes max_bytes rotates with them.
  void set_limits(std::uint64_t max_bytes, int keep) {
    max_bytes_ = max_bytes;
    keep_ = keep;
  }
  const std::filesystem::path& path() const noexcept { return path_; }
  std::uint64_t failed_writes() const noexcept { return failed_writes_; }

 private:
  void open();
  void rotate();

  std::filesystem::path path_;
  std::uint64_t max_bytes_;
  int keep_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t failed_writes_ = 0;
};

}  // namespace openclawd::supervisor
