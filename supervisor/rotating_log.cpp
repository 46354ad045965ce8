#include "supervisor/rotating_log.hpp"

#include "supervisor/os.hpp"

#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace openclawd::supervisor {

rotating_log::rotating_log(std::filesystem::path path, std::uint64_t max_bytes, int keep)
    : path_(std::move(path)), max_bytes_(max_bytes), keep_(keep) {
  open();
}

rotating_log::~rotating_log() {
  if (fd_ >= 0) ::close(fd_);
}

void rotating_log::open() {
  fd_ = os::open_cloexec(path_, O_WRONLY | O_CREAT | O_APPEND, 0600);
  size_ = 0;
  struct stat st {};
  if (fd_ >= 0 && ::fstat(fd_, &st) == 0) size_ = static_cast<std::uint64_t>(st.st_size);
}

namespace {

void rotate_files(const std::filesystem::path& path, int keep) {
  std::error_code ec;
  if (keep <= 0) {
    std::filesystem::remove(path, ec);
    return;
  }
  auto numbered = [&](int i) { return std::filesystem::path(path.string() + "." + std::to_string(i)); };
  std::filesystem::remove(numbered(keep), ec);
  for (int i = keep - 1; i >= 1; --i) std::filesystem::rename(numbered(i), numbered(i + 1), ec);
  std::filesystem::rename(path, numbered(1), ec);
}

}  // namespace

void rotating_log::rotate() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  rotate_files(path_, keep_);
  open();
}

void rotating_log::write(std::string_view data) {
  if (size_ > 0 && size_ + data.size() > max_bytes_) rotate();
  if (fd_ < 0) {
    ++failed_writes_;
    open();  // the folder may be back (e.g. recreated); try again next time
    if (fd_ < 0) return;
  }
  while (!data.empty()) {
    const auto n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      ++failed_writes_;
      return;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    size_ += static_cast<std::uint64_t>(n);
  }
}

}  // namespace openclawd::supervisor
