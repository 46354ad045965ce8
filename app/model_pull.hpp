// Pulling model references into the cache: resolve each reference (its pinned revision from
// the lock file, or `main` for a new one or with `update`), check the free disk space for
// everything still missing, download the files a few at a time (hub.parallel), resuming
// partial files with HTTP ranges and retrying cut transfers, verify each file's SHA-256
// against what the Hub published (a mismatch is deleted and reported), then pin the
// reference in the lock file. Used by `openclawd pull`, `start` and `reload`.
// A model_puller belongs to one io_context thread; progress() may be read between awaits.
#pragma once

#include "app/hub_client.hpp"
#include "core/config.hpp"
#include "core/model_ref.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace openclawd::app {

// One file of a pull, as the progress display shows it.
struct pull_file {
  enum class state { queued, downloading, verifying, done, failed };
  std::string ref;
  std::string path;                 // inside the repository
  std::filesystem::path dest;       // in the cache
  std::uint64_t size = 0;           // expected
  std::uint64_t have = 0;           // bytes on disk (resumed bytes included)
  std::uint64_t resumed_from = 0;   // bytes already on disk when this run started it
  std::string sha256;               // expected; empty: not verifiable (not an LFS file)
  state st = state::queued;
  std::string error;
  std::chrono::steady_clock::time_point started{}, finished{};
};

struct pull_progress {
  std::vector<pull_file> files;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::uint64_t total() const;        // bytes of every file
  std::uint64_t have() const;         // bytes on disk
  std::uint64_t downloaded() const;   // bytes this run received
};

// What the pull tells its caller as it goes (one line each in a log or a terminal).
struct pull_event {
  enum class kind { note, file_started, file_done, file_failed, ref_done };
  kind what = kind::note;
  std::string text;              // the sentence to show
  const pull_file* file = nullptr;
};

struct pull_settings {
  core::hub_config hub;          // endpoint, cache_dir, parallel
  std::string token;             // may be empty; never logged
  bool update = false;           // ask for the newest revision even if the lock pins one
  bool verify = true;            // SHA-256 check (off only to measure its cost: bench/)
  int retries = 3;               // attempts after a cut transfer, each resuming where it stopped
  std::chrono::milliseconds retry_delay{std::chrono::milliseconds(500)};  // doubles per attempt
  net::download_timeouts timeouts;
  // Free space the pull leaves on the cache's disk (the lock file, and whatever else lives there).
  std::uint64_t disk_reserve = 64ull << 20;
  std::function<void(const pull_event&)> on_event;  // optional
};

struct pulled_model {
  std::string ref;
  std::filesystem::path path;  // what llama-server is given (the first part)
  core::locked_model entry;
  bool downloaded = false;     // false: it was complete in the cache already
};

class model_puller {
 public:
  model_puller(asio::any_io_executor ex, pull_settings settings);

  // Every reference in `refs` pulled and locked, or the first error (the others that could
  // be pulled are pulled and locked all the same).
  asio::awaitable<hub_result<std::vector<pulled_model>>> pull(std::vector<std::string> refs);

  const pull_progress& progress() const { return progress_; }

 private:
  asio::awaitable<void> worker();
  asio::awaitable<hub_result<std::uint64_t>> download_file(pull_file& f, const std::string& repo_id,
                                                           const std::string& revision);
  void emit(pull_event::kind k, std::string text, const pull_file* f = nullptr);

  asio::any_io_executor ex_;
  pull_settings settings_;
  hub_client hub_;
  pull_progress progress_;
  struct job {
    std::size_t file;  // index in progress_.files
    std::string repo_id, revision;
  };
  std::vector<job> jobs_;
  std::size_t next_job_ = 0;
  int running_ = 0;
  std::vector<std::pair<std::size_t, hub_error>> failures_;  // by file index
};

// For the CLI (pull, start, reload): pulls `refs` on an io_context of its own, calling
// `on_event` for each event and `on_tick` (optional) about every `tick` with the progress.
hub_result<std::vector<pulled_model>> pull_blocking(const core::hub_config& hub, const std::vector<std::string>& refs,
                                                    bool update, const std::function<void(const pull_event&)>& on_event,
                                                    const std::function<void(const pull_progress&)>& on_tick = {},
                                                    std::chrono::milliseconds tick = std::chrono::milliseconds(200));

// "1.4 GB", "312 MB" (powers of 1000, as download sizes are shown).
std::string human_bytes(std::uint64_t n);

}  // namespace openclawd::app
