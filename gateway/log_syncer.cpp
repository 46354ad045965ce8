#include "gateway/log_syncer.hpp"

#include <boost/asio/thread_pool.hpp>

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace openclawd::gateway {
namespace {

boost::system::error_code last_errno() { return {errno, boost::system::system_category()}; }

}  // namespace

// Lives on the pool's one thread once constructed: only that thread touches `fd`.
struct log_syncer::worker {
  std::filesystem::path path;
  int fd = -1;
  asio::thread_pool pool{1};

  ~worker() {
    pool.join();  // a sync under way finishes; nothing new is queued after the owner is gone
    if (fd >= 0) ::close(fd);
  }

  boost::system::error_code open_file() {
    if (fd >= 0) ::close(fd);
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    return fd < 0 ? last_errno() : boost::system::error_code{};
  }

  boost::system::error_code sync_file() {
    // SQLite deletes the -wal file when the last connection to the database closes and makes
    // a new one at the next open; syncing a deleted file would sync nothing of ours.
    struct stat st {};
    if (fd < 0 || (::fstat(fd, &st) == 0 && st.st_nlink == 0)) {
      if (auto ec = open_file()) return ec;
    }
#ifdef __APPLE__
    // As the store itself syncs there (PRAGMA fullfsync): fsync() leaves the drive's cache.
    if (::fcntl(fd, F_FULLFSYNC) == 0) return {};
    if (::fsync(fd) == 0) return {};  // file systems without F_FULLFSYNC
#else
    if (::fdatasync(fd) == 0) return {};
#endif
    return last_errno();
  }
};

log_syncer::log_syncer(std::unique_ptr<worker> w) : w_(std::move(w)) {}
log_syncer::~log_syncer() = default;

result<std::unique_ptr<log_syncer>> log_syncer::open(const std::filesystem::path& wal) {
  auto w = std::make_unique<worker>();
  w->path = wal;
  if (auto ec = w->open_file()) return ec;
  return std::unique_ptr<log_syncer>(new log_syncer(std::move(w)));
}

asio::awaitable<result<void>> log_syncer::sync() {
  auto ex = co_await asio::this_coro::executor;
  worker* w = w_.get();
  auto token = asio::as_tuple(asio::use_awaitable);
  auto [ec] = co_await asio::async_initiate<decltype(token), void(boost::system::error_code)>(
      [w, ex](auto handler) {
        // The work guard keeps the caller's event loop from running out of work while the
        // only thing it waits for is this thread.
        asio::post(w->pool, [w, guard = asio::make_work_guard(ex), h = std::move(handler)]() mutable {
          const auto outcome = w->sync_file();
          asio::post(guard.get_executor(), [h = std::move(h), outcome]() mutable { std::move(h)(outcome); });
          guard.reset();
        });
      },
      token);
  ++syncs_;
  if (ec) co_return ec;
  co_return result<void>{};
}

}  // namespace openclawd::gateway
