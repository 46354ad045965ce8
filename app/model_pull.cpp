// The pull. Files are written to "<file>.part" and renamed into place only once complete and
// verified, so a file under its final name is always whole; a ".part" is what a resume starts
// from. The SHA-256 is computed as the bytes arrive (after hashing what a resumed ".part"
// already holds), so verifying costs no second read of a 15 GB file.
#include "app/model_pull.hpp"

#include "core/log.hpp"
#include "net/tls.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace openclawd::app {
namespace fs = std::filesystem;
namespace {

hub_error err(hub_error::kind k, std::string m) { return hub_error{k, std::move(m)}; }

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct sha256 {
  sha256() : ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free) { reset(); }
  void reset() { EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr); }
  void update(const void* p, std::size_t n) { EVP_DigestUpdate(ctx.get(), p, n); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &len);
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out += digits[md[i] >> 4];
      out += digits[md[i] & 15];
    }
    return out;
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx;
};

// Closes the descriptor however the download ends.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

std::uint64_t size_of(const std::vector<core::hub_file>& files) {
  std::uint64_t n = 0;
  for (const auto& f : files) n += f.size;
  return n;
}

std::string rate_text(std::uint64_t bytes, std::chrono::steady_clock::duration d) {
  const double s = std::chrono::duration<double>(d).count();
  if (s <= 0) return "";
  return human_bytes(static_cast<std::uint64_t>(static_cast<double>(bytes) / s)) + "/s";
}

std::string disk_error_text(int e, const fs::path& p) {
  if (e == ENOSPC || e == EDQUOT)
    return "the disk is full: writing " + p.string() + " failed (" + std::strerror(e) +
           "); the part written so far is kept, free some space and run `openclawd pull` again to resume";
  return "writing " + p.string() + " failed: " + std::strerror(e);
}

}  // namespace

std::string human_bytes(std::uint64_t n) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::uint64_t pull_progress::total() const {
  std::uint64_t t = 0;
  for (const auto& f : files) t += f.size;
  return t;
}
std::uint64_t pull_progress::have() const {
  std::uint64_t t = 0;
  for (const auto& f : files) t += f.have;
  return t;
}
std::uint64_t pull_progress::downloaded() const {
  std::uint64_t t = 0;
  for (const auto& f : files) t += f.have >= f.resumed_from ? f.have - f.resumed_from : 0;
  return t;
}

model_puller::model_puller(asio::any_io_executor ex, pull_settings settings)
    : ex_(std::move(ex)),
      settings_(std::move(settings)),
      hub_(settings_.hub.endpoint, settings_.token,
           // TLS only when something is https: a loopback mirror (tests) never parses the CA bundle.
           [&]() -> std::shared_ptr<asio::ssl::context> {
             auto ctx = net::make_client_tls_context({}, true);
             return ctx ? *ctx : nullptr;
           }(),
           settings_.timeouts) {}

void model_puller::emit(pull_event::kind k, std::string text, const pull_file* f) {
  if (k == pull_event::kind::file_failed) core::log_warn("pull", text);
  else core::log_info("pull", text);
  if (settings_.on_event) settings_.on_event(pull_event{k, std::move(text), f});
}

asio::awaitable<hub_result<std::vector<pulled_model>>> model_puller::pull(std::vector<std::string> refs) {
  const fs::path cache = settings_.hub.cache_dir;
  const fs::path lock_path = core::lock_file_of(cache);
  auto lock = core::read_model_lock(lock_path);
  if (!lock) co_return err(hub_error::kind::protocol, lock.error());

  struct plan {
    std::string ref;
    core::model_ref parsed;
    std::string revision;
    std::vector<core::hub_file> files;
    std::vector<std::size_t> file_index;  // into progress_.files
    bool was_verified = false;
  };
  std::vector<plan> plans;
  progress_ = pull_progress{};
  jobs_.clear();
  next_job_ = 0;
  failures_.clear();
  for (const auto& text : refs) {
    std::string why;
    auto parsed = core::parse_model_ref(text, &why);
    if (!parsed) co_return err(hub_error::kind::not_found, text + ": " + why);
    plan p{parsed->text(), *parsed, {}, {}, {}, false};
    if (std::any_of(plans.begin(), plans.end(), [&](const plan& q) { return q.ref == p.ref; })) continue;
    const core::locked_model* locked = lock->find(p.ref);
    if (locked && !settings_.update) {
      p.revision = locked->revision;
      p.files = locked->files;
      p.was_verified = locked->verified;
    } else {
      emit(pull_event::kind::note, p.ref + ": asking " + settings_.hub.endpoint + " for " + parsed->repo_id());
      // Locals, not temporaries, in co_await expressions: GCC 12 mishandles those.
      const std::string repo_id = parsed->repo_id();
      auto rev = co_await hub_.main_revision(repo_id);
      if (!rev) co_return rev.error();
      const std::string revision = *rev;
      auto tree = co_await hub_.list_files(repo_id, revision);
      if (!tree) co_return tree.error();
      auto chosen = core::select_files(*parsed, *tree);
      if (!chosen) co_return err(hub_error::kind::not_found, p.ref + ": " + chosen.error());
      p.revision = *rev;
      p.files = std::move(*chosen);
      if (locked && locked->revision == p.revision && locked->files == p.files) p.was_verified = locked->verified;
    }
    plans.push_back(std::move(p));
  }

  // Every file once (two references may name the same file), complete ones marked done.
  std::uint64_t needed = 0;
  for (auto& p : plans) {
    for (const auto& f : p.files) {
      const fs::path dest = core::cached_file_path(cache, p.parsed.repo_id(), p.revision, f.path);
      auto same = std::find_if(progress_.files.begin(), progress_.files.end(), [&](const pull_file& x) { return x.dest == dest; });
      if (same != progress_.files.end()) {
        p.file_index.push_back(static_cast<std::size_t>(same - progress_.files.begin()));
        continue;
      }
      pull_file pf;
      pf.ref = p.ref;
      pf.path = f.path;
      pf.dest = dest;
      pf.size = f.size;
      pf.sha256 = f.sha256;
      std::error_code ec;
      if (fs::file_size(dest, ec) == f.size && !ec) {
        pf.have = pf.resumed_from = f.size;
        pf.st = pull_file::state::done;
      } else {
        const auto part = fs::file_size(fs::path(dest.string() + ".part"), ec);
        const std::uint64_t have = ec || part > f.size ? 0 : part;
        pf.have = pf.resumed_from = have;
        needed += f.size - have;
        jobs_.push_back({progress_.files.size(), p.parsed.repo_id(), p.revision});
      }
      p.file_index.push_back(progress_.files.size());
      progress_.files.push_back(std::move(pf));
    }
  }

  if (!jobs_.empty()) {
    std::error_code ec;
    fs::create_directories(cache, ec);
    if (ec) co_return err(hub_error::kind::disk, "cannot create the model cache " + cache.string() + ": " + ec.message());
    struct ::statvfs vfs {};
    if (::statvfs(cache.c_str(), &vfs) == 0) {
      const std::uint64_t free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
      const std::uint64_t reserve = settings_.disk_reserve;
      if (needed + reserve > free_bytes)
        co_return err(hub_error::kind::disk, "not enough free disk space in " + cache.string() + ": the download needs " +
                                                 human_bytes(needed) + ", " + human_bytes(free_bytes) +
                                                 " are free; free some space or set hub.cache_dir to a larger disk");
    }
    std::size_t queued = 0;
    for (const auto& f : progress_.files) queued += f.st == pull_file::state::queued ? 1 : 0;
    emit(pull_event::kind::note, "downloading " + std::to_string(queued) + (queued == 1 ? " file, " : " files, ") +
                                     human_bytes(needed) + " to " + cache.string());
    asio::steady_timer done(ex_, asio::steady_timer::time_point::max());
    const int workers = std::clamp(settings_.hub.parallel, 1, static_cast<int>(jobs_.size()));
    running_ = workers;
    for (int i = 0; i < workers; ++i) {
      asio::co_spawn(ex_, worker(), [this, &done](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& x) {
            core::log_error("pull", std::string("a download worker failed: ") + x.what());
          }
        }
        if (--running_ == 0) done.cancel();
      });
    }
    // Bounded by the workers' own deadlines (connect, headers, idle per read, retries).
    co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
  }

  std::vector<pulled_model> out;
  std::optional<hub_error> first_error;
  for (const auto& [index, e] : failures_)
    if (!first_error) first_error = e;
  bool lock_changed = false;
  for (auto& p : plans) {
    const bool complete = std::all_of(p.file_index.begin(), p.file_index.end(),
                                      [&](std::size_t i) { return progress_.files[i].st == pull_file::state::done; });
    if (!complete) continue;
    bool downloaded = false, verified = true;
    for (std::size_t i : p.file_index) {
      const auto& f = progress_.files[i];
      const bool fresh = f.resumed_from != f.size;  // fetched (at least partly) in this run
      downloaded = downloaded || fresh;
      // Fresh files were hashed as they came; files already here keep the lock's word.
      verified = verified && !f.sha256.empty() && (fresh ? settings_.verify : p.was_verified);
    }
    core::locked_model entry{p.ref, p.revision, p.files, verified, now_iso()};
    if (const auto* old = lock->find(p.ref); old && !downloaded && old->revision == p.revision && old->files == p.files)
      entry.pulled_at = old->pulled_at;
    if (!lock->find(p.ref) || !(*lock->find(p.ref) == entry)) {
      lock->put(entry);
      lock_changed = true;
    }
    out.push_back({p.ref, progress_.files[p.file_index.front()].dest, entry, downloaded});
    emit(pull_event::kind::ref_done, p.ref + " → " + progress_.files[p.file_index.front()].dest.string() + " (" +
                                         human_bytes(size_of(p.files)) + ", revision " + p.revision.substr(0, 12) +
                                         (verified ? ", sha256 verified" : ", not verified") + ")");
  }
  if (lock_changed) {
    if (auto e = core::write_model_lock(lock_path, *lock); e && !first_error) first_error = err(hub_error::kind::disk, *e);
  }
  if (first_error) co_return *first_error;
  co_return out;
}

asio::awaitable<void> model_puller::worker() {
  while (next_job_ < jobs_.size()) {
    const job j = jobs_[next_job_++];
    pull_file& f = progress_.files[j.file];
    f.st = pull_file::state::downloading;
    f.started = std::chrono::steady_clock::now();
    emit(pull_event::kind::file_started,
         "pulling " + f.path + " (" + human_bytes(f.size) + ")" +
             (f.have > 0 ? ", resuming at " + human_bytes(f.have) : std::string()),
         &f);
    auto r = co_await download_file(f, j.repo_id, j.revision);
    f.finished = std::chrono::steady_clock::now();
    if (!r) {
      f.st = pull_file::state::failed;
      f.error = r.error().message;
      failures_.emplace_back(j.file, r.error());
      emit(pull_event::kind::file_failed, f.path + ": " + r.error().message, &f);
      continue;
    }
    f.st = pull_file::state::done;
    emit(pull_event::kind::file_done,
         "pulled " + f.path + ": " + human_bytes(*r) + " in " +
             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(f.finished - f.started).count() / 1000.0)
                 .substr(0, 5) +
             " s, " + rate_text(*r, f.finished - f.started) +
             (settings_.verify && !f.sha256.empty() ? ", sha256 verified" : f.sha256.empty() ? ", no sha256 published" : ""),
         &f);
  }
}

asio::awaitable<hub_result<std::uint64_t>> model_puller::download_file(pull_file& f, const std::string& repo_id,
                                                                       const std::string& revision) {
  auto loc = co_await hub_.locate(repo_id, revision, f.path);
  for (int attempt = 0; !loc && loc.error().what == hub_error::kind::network && attempt < settings_.retries; ++attempt) {
    asio::steady_timer pause(ex_, settings_.retry_delay * (1 << attempt));
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    loc = co_await hub_.locate(repo_id, revision, f.path);
  }
  if (!loc) co_return loc.error();
  if (loc->size != 0 && f.size != 0 && loc->size != f.size)
    co_return err(hub_error::kind::integrity, f.path + ": the Hub lists " + std::to_string(f.size) +
                                                  " bytes but serves " + std::to_string(loc->size));
  if (f.size == 0) f.size = loc->size;
  if (!loc->sha256.empty() && !f.sha256.empty() && loc->sha256 != f.sha256)
    co_return err(hub_error::kind::integrity, f.path + ": the Hub's listing and its download disagree on the SHA-256 (" +
                                                  f.sha256 + " vs " + loc->sha256 + ")");
  if (f.sha256.empty()) f.sha256 = loc->sha256;

  const fs::path part = f.dest.string() + ".part";
  std::error_code ec;
  fs::create_directories(f.dest.parent_path(), ec);
  if (ec) co_return err(hub_error::kind::disk, "cannot create " + f.dest.parent_path().string() + ": " + ec.message());
  fd_guard fd{::open(part.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644)};
  if (fd.fd < 0) co_return err(hub_error::kind::disk, disk_error_text(errno, part));
  std::uint64_t offset = static_cast<std::uint64_t>(::lseek(fd.fd, 0, SEEK_END));
  if (offset > f.size) {  // not this file's beginning after all
    if (::ftruncate(fd.fd, 0) != 0) co_return err(hub_error::kind::disk, disk_error_text(errno, part));
    offset = 0;
  }
  sha256 hash;
  const bool hashing = settings_.verify && !f.sha256.empty();
  if (hashing && offset > 0) {
    // The resumed part's bytes count too: hash them once, from the disk.
    std::vector<char> buf(1 << 20);
    std::uint64_t at = 0;
    while (at < offset) {
      const auto n = ::pread(fd.fd, buf.data(), std::min<std::uint64_t>(buf.size(), offset - at), static_cast<off_t>(at));
      if (n <= 0) co_return err(hub_error::kind::disk, "cannot read " + part.string());
      hash.update(buf.data(), static_cast<std::size_t>(n));
      at += static_cast<std::uint64_t>(n);
    }
  }
  f.have = offset;
  const std::uint64_t start_offset = offset;
  int write_errno = 0;
  std::optional<hub_error> header_error;

  auto delay = settings_.retry_delay;
  for (int attempt = 0;; ++attempt) {
    if (offset == f.size && f.size > 0) break;
    const std::uint64_t asked = offset;
    // std::function locals, not lambdas converted inside the co_await (GCC 12, see above).
    std::function<boost::system::error_code(const net::download_response&)> on_headers =
        [&](const net::download_response& h) -> boost::system::error_code {
      if (asked > 0 && h.status == 200) {
        // The server ignored the range: start the file over.
        if (::ftruncate(fd.fd, 0) != 0) {
          write_errno = errno;
          return make_error_code(boost::system::errc::io_error);
        }
        offset = 0;
        f.have = 0;
        hash.reset();
      } else if (h.status == 206) {
        const auto range = h.header("Content-Range");
        const std::string expect = "bytes " + std::to_string(asked) + "-";
        if (!range || !range->starts_with(expect)) {
          header_error = err(hub_error::kind::protocol, f.path + ": the server answered a resume from byte " +
                                                            std::to_string(asked) + " with another range (" +
                                                            std::string(range.value_or("none")) + ")");
          return make_error_code(boost::system::errc::protocol_error);
        }
      }
      return {};
    };
    net::download_sink sink = [&](std::string_view piece) -> boost::system::error_code {
      if (offset + piece.size() > f.size) {
        header_error = err(hub_error::kind::integrity, f.path + ": the server sent more than the " +
                                                           std::to_string(f.size) + " bytes the Hub lists");
        return make_error_code(boost::system::errc::file_too_large);
      }
      const char* p = piece.data();
      std::size_t left = piece.size();
      while (left > 0) {
        const auto n = ::write(fd.fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          write_errno = n < 0 ? errno : ENOSPC;
          return make_error_code(boost::system::errc::io_error);
        }
        p += n;
        left -= static_cast<std::size_t>(n);
      }
      if (hashing) hash.update(piece.data(), piece.size());
      offset += piece.size();
      f.have = offset;
      return {};
    };
    auto res = co_await hub_.fetch(loc->url, offset, on_headers, sink);
    if (write_errno != 0) co_return err(hub_error::kind::disk, disk_error_text(write_errno, part));
    if (header_error) {
      // A part that was never this file's is no good for the next try either.
      if (header_error->what == hub_error::kind::integrity) ::unlink(part.c_str());
      co_return *header_error;
    }
    if (res && res->status == 416 && offset == f.size) break;  // complete already
    if (res && res->status / 100 != 2) {
      if (res->status == 429 || res->status >= 500) {
        if (attempt >= settings_.retries)
          co_return err(hub_error::kind::network, f.path + ": HTTP " + std::to_string(res->status));
      } else {
        co_return err(res->status == 404 ? hub_error::kind::not_found
                      : res->status == 401 || res->status == 403 ? hub_error::kind::unauthorized
                                                                   : hub_error::kind::protocol,
                      f.path + ": HTTP " + std::to_string(res->status) + " from the download server");
      }
    } else if (res && offset == f.size) {
      break;
    } else {
      const std::string why = res ? "the transfer ended early" : res.error().message();
      if (attempt >= settings_.retries)
        co_return err(hub_error::kind::network, f.path + ": " + why + " at " + human_bytes(offset) + " of " +
                                                    human_bytes(f.size) + " after " + std::to_string(attempt + 1) +
                                                    " attempts; run `openclawd pull` again to resume");
      emit(pull_event::kind::note, f.path + ": " + why + " at " + human_bytes(offset) + "; resuming", &f);
    }
    asio::steady_timer pause(ex_, delay);
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    delay *= 2;
  }

  if (::fsync(fd.fd) != 0) co_return err(hub_error::kind::disk, disk_error_text(errno, part));
  if (hashing) {
    f.st = pull_file::state::verifying;
    const std::string got = hash.hex();
    if (got != f.sha256) {
      ::unlink(part.c_str());
      f.have = 0;
      co_return err(hub_error::kind::integrity, f.path + ": SHA-256 mismatch (expected " + f.sha256 + ", got " + got +
                                                    "); the download was deleted, run `openclawd pull` to fetch it again");
    }
  }
  if (::rename(part.c_str(), f.dest.c_str()) != 0)
    co_return err(hub_error::kind::disk, disk_error_text(errno, f.dest));
  co_return offset - start_offset;
}

namespace {

// Calls on_tick until the pull is over (*done), every `every`.
asio::awaitable<void> ticker(const model_puller& puller, const std::function<void(const pull_progress&)>& on_tick,
                             const bool& done, std::chrono::milliseconds every) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (!done) {
    t.expires_after(every);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!done) on_tick(puller.progress());
  }
}

}  // namespace

hub_result<std::vector<pulled_model>> pull_blocking(const core::hub_config& hub, const std::vector<std::string>& refs,
                                                    bool update, const std::function<void(const pull_event&)>& on_event,
                                                    const std::function<void(const pull_progress&)>& on_tick,
                                                    std::chrono::milliseconds tick) {
  auto token = read_hub_token(hub.token_file);
  if (!token) return token.error();
  asio::io_context io;
  pull_settings s;
  s.hub = hub;
  s.token = *token;
  s.update = update;
  s.on_event = on_event;
  model_puller puller(io.get_executor(), s);
  std::optional<hub_result<std::vector<pulled_model>>> out;
  bool done = false;
  if (on_tick) asio::co_spawn(io, ticker(puller, on_tick, done, tick), asio::detached);
  asio::co_spawn(io, puller.pull(refs), [&out, &done](std::exception_ptr e, hub_result<std::vector<pulled_model>> r) {
    done = true;
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        out = hub_error{hub_error::kind::protocol, std::string("the pull failed: ") + x.what()};
      }
      return;
    }
    out = std::move(r);
  });
  io.run();
  if (!out) return hub_error{hub_error::kind::protocol, "the pull did not finish"};
  return std::move(*out);
}

}  // namespace openclawd::app
